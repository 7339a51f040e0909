//! Gateway API v1 CRDs of the sandbox's own writing (GatewayClass, Gateway, HTTPRoute,
//! GRPCRoute): the group, kinds, names, scopes and versions of the standard channel, with
//! structural schemas that type the fields the stand-in and serin read (parents, hostnames,
//! rules, backend references, route status) and keep the rest as written.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};

use super::super::crds::MANAGED_BY;

/// API group of the Gateway API kinds.
pub const GROUP: &str = "gateway.networking.k8s.io";

fn free() -> Value {
    json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}

fn strings(max: u32) -> Value {
    json!({"type": "array", "maxItems": max, "items": {"type": "string"}})
}

fn parent_ref() -> Value {
    json!({
        "type": "object",
        "required": ["name"],
        "properties": {
            "group": {"type": "string", "maxLength": 253},
            "kind": {"type": "string", "maxLength": 63},
            "namespace": {"type": "string", "maxLength": 63},
            "name": {"type": "string", "minLength": 1, "maxLength": 253},
            "sectionName": {"type": "string", "maxLength": 253},
            "port": {"type": "integer", "format": "int32"}
        }
    })
}

fn backend_ref() -> Value {
    json!({
        "type": "object",
        "required": ["name"],
        "x-kubernetes-preserve-unknown-fields": true,
        "properties": {
            "group": {"type": "string"},
            "kind": {"type": "string"},
            "name": {"type": "string", "minLength": 1, "maxLength": 253},
            "namespace": {"type": "string"},
            "port": {"type": "integer", "format": "int32"},
            "weight": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 1000000}
        }
    })
}

fn condition() -> Value {
    json!({
        "type": "object",
        "required": ["type", "status", "reason", "message", "lastTransitionTime"],
        "properties": {
            "type": {"type": "string"},
            "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
            "reason": {"type": "string"},
            "message": {"type": "string", "maxLength": 32768},
            "observedGeneration": {"type": "integer", "format": "int64"},
            "lastTransitionTime": {"type": "string", "format": "date-time"}
        }
    })
}

/// `status.parents` of a route (RouteStatus): one entry per parent and controller.
fn route_status() -> Value {
    json!({
        "type": "object",
        "properties": {
            "parents": {
                "type": "array", "maxItems": 32,
                "items": {
                    "type": "object",
                    "required": ["parentRef", "controllerName"],
                    "properties": {
                        "parentRef": parent_ref(),
                        "controllerName": {"type": "string", "maxLength": 253},
                        "conditions": {"type": "array", "maxItems": 8, "items": condition()}
                    }
                }
            }
        }
    })
}

fn route_spec() -> Value {
    json!({
        "type": "object",
        "properties": {
            "parentRefs": {"type": "array", "maxItems": 32, "items": parent_ref()},
            "hostnames": strings(16),
            "rules": {
                "type": "array", "maxItems": 16,
                "items": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": true,
                    "properties": {
                        "matches": {"type": "array", "maxItems": 64, "items": free()},
                        "filters": {"type": "array", "maxItems": 16, "items": free()},
                        "backendRefs": {"type": "array", "maxItems": 16, "items": backend_ref()},
                        "timeouts": free()
                    }
                }
            }
        }
    })
}

fn gateway_spec() -> Value {
    json!({
        "type": "object",
        "required": ["gatewayClassName"],
        "x-kubernetes-preserve-unknown-fields": true,
        "properties": {
            "gatewayClassName": {"type": "string", "minLength": 1, "maxLength": 253},
            "listeners": {"type": "array", "maxItems": 64, "items": free()}
        }
    })
}

fn gateway_status() -> Value {
    json!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "properties": {"conditions": {"type": "array", "maxItems": 8, "items": condition()}}
    })
}

/// The four CRDs, v1 served and stored (v1beta1 also served for the route and gateway
/// kinds, as the standard channel does).
pub fn gateway_crds() -> Vec<CustomResourceDefinition> {
    let route_columns = json!([
        {"name": "Hostnames", "type": "string", "jsonPath": ".spec.hostnames"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    ]);
    let gateway_columns = json!([
        {"name": "Class", "type": "string", "jsonPath": ".spec.gatewayClassName"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    ]);
    let class_columns = json!([
        {"name": "Controller", "type": "string", "jsonPath": ".spec.controllerName"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    ]);
    let class_spec = json!({
        "type": "object", "required": ["controllerName"],
        "x-kubernetes-preserve-unknown-fields": true,
        "properties": {"controllerName": {"type": "string", "minLength": 1, "maxLength": 253}}
    });
    [
        (
            "GatewayClass",
            "gatewayclasses",
            "gc",
            "Cluster",
            class_spec,
            gateway_status(),
            class_columns,
            false,
        ),
        (
            "Gateway",
            "gateways",
            "gtw",
            "Namespaced",
            gateway_spec(),
            gateway_status(),
            gateway_columns,
            true,
        ),
        (
            "HTTPRoute",
            "httproutes",
            "",
            "Namespaced",
            route_spec(),
            route_status(),
            route_columns.clone(),
            true,
        ),
        (
            "GRPCRoute",
            "grpcroutes",
            "",
            "Namespaced",
            route_spec(),
            route_status(),
            route_columns,
            false,
        ),
    ]
    .into_iter()
    .filter_map(
        |(kind, plural, short, scope, spec, status, columns, beta)| {
            let schema = json!({
                "type": "object",
                "properties": {"spec": spec, "status": status}
            });
            let version = |name: &str, storage: bool| {
                json!({
                    "name": name, "served": true, "storage": storage,
                    "schema": {"openAPIV3Schema": schema},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns
                })
            };
            let mut versions = vec![version("v1", true)];
            if beta {
                versions.push(version("v1beta1", false));
            }
            let short_names: Vec<&str> = [short].into_iter().filter(|s| !s.is_empty()).collect();
            let value = json!({
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {
                    "name": format!("{plural}.{GROUP}"),
                    "labels": {MANAGED_BY.0: MANAGED_BY.1},
                    "annotations": {"gateway.networking.k8s.io/bundle-version": "v1.2.0"}
                },
                "spec": {
                    "group": GROUP,
                    "scope": scope,
                    "names": {
                        "kind": kind, "listKind": format!("{kind}List"), "plural": plural,
                        "singular": kind.to_lowercase(), "shortNames": short_names,
                        "categories": ["gateway-api"]
                    },
                    "versions": versions
                }
            });
            serde_json::from_value(value).ok()
        },
    )
    .collect()
}

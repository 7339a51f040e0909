//! Gateway API: one HTTPRoute (or GRPCRoute, for a gRPC port) named like the apex Service
//! splits traffic between the `-primary` and `-canary` Services by `backendRefs` weights.
//! Its parents are `service.gatewayRefs`: Gateways for north-south traffic, or the apex
//! Service itself (GAMMA: Linkerd, Istio ambient waypoints) for east-west traffic.
//!
//! The spec's Istio-shaped fields (`match`, `headers`, `rewrite`, `corsPolicy`, `timeout`)
//! keep Flagger's meaning and are translated into Gateway API matches and filters in
//! [`filters`], so a Flagger manifest moves over unchanged.

mod filters;

use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

use super::{Restore, Router, RoutingObjects};
use crate::api::Canary;
use crate::build::{self, Desired, Names};
use crate::decide::TrafficSplit;
use crate::decide::verdict::{DURATION, SUCCESS_RATE};
use crate::rbac::Rule;

pub const GROUP: &str = "gateway.networking.k8s.io";
const VERSION: &str = "v1";
pub const HTTP_ROUTE: &str = "HTTPRoute";
pub const GRPC_ROUTE: &str = "GRPCRoute";

/// The builtin success rate, from the `istio_requests_total` family that Istio exports in
/// both sidecar and ambient (waypoint) mode, labelled by the destination workload.
const SUCCESS_RATE_QUERY: &str = r#"sum(rate(istio_requests_total{reporter=~"destination|waypoint",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}",response_code!~"5.*"}[{{ interval }}])) / sum(rate(istio_requests_total{reporter=~"destination|waypoint",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}"}[{{ interval }}])) * 100"#;

/// The builtin P99 latency in milliseconds, from the same family.
const DURATION_QUERY: &str = r#"histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter=~"destination|waypoint",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}"}[{{ interval }}])) by (le))"#;

/// Canary annotation choosing the builtin queries of the Gateway API router: `istio` (the
/// default: Istio sidecar or ambient, and any implementation exporting Istio's metrics) or
/// `envoy` (Envoy-based gateways such as Envoy Gateway and Contour).
pub const METRICS_ANNOTATION: &str = "serin.dev/gateway-api-metrics";

/// The builtin success rate from Envoy's upstream cluster stats. Envoy-based
/// implementations name the cluster of a backend Service after its namespace, name and
/// port (`<namespace>_<service>_<port>` in Contour, `<namespace>/<service>/<port>` style
/// elsewhere), so the canary Service's cluster is matched by those parts.
const ENVOY_SUCCESS_RATE_QUERY: &str = r#"sum(rate(envoy_cluster_upstream_rq{envoy_cluster_name=~".*{{ namespace }}[_/]{{ target }}-canary[_/].*",envoy_response_code!~"5.*"}[{{ interval }}])) / sum(rate(envoy_cluster_upstream_rq{envoy_cluster_name=~".*{{ namespace }}[_/]{{ target }}-canary[_/].*"}[{{ interval }}])) * 100"#;

/// The builtin P99 latency in milliseconds from Envoy's upstream request time histogram.
const ENVOY_DURATION_QUERY: &str = r#"histogram_quantile(0.99, sum(rate(envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=~".*{{ namespace }}[_/]{{ target }}-canary[_/].*"}[{{ interval }}])) by (le))"#;

const RULES: &[Rule] = &[Rule {
    api_groups: &[GROUP],
    resources: &["httproutes", "grpcroutes"],
    verbs: &["get", "list", "watch", "create", "patch"],
}];

fn resource(kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(GROUP, VERSION, kind))
}

/// The Gateway API router.
pub struct GatewayApi;

impl Router for GatewayApi {
    fn kinds(&self) -> Vec<ApiResource> {
        vec![resource(HTTP_ROUTE), resource(GRPC_ROUTE)]
    }

    fn desired(
        &self,
        canary: &Canary,
        split: &TrafficSplit,
        observed: &RoutingObjects,
    ) -> Vec<Desired> {
        let kind = route_kind(canary);
        let names = Names::of(canary);
        let current = observed.get(kind, &names.apex);
        let original = build::original(
            current.map(|o| &o.metadata),
            || current.and_then(|o| o.data.get("spec").cloned()),
            canary,
        );
        vec![route(canary, split, original.as_deref())]
    }

    fn restore(&self, canary: &Canary, observed: &RoutingObjects) -> Vec<Restore> {
        let kind = route_kind(canary);
        let names = Names::of(canary);
        let uid = canary.meta().uid.clone().unwrap_or_default();
        let Some(route) = observed.get(kind, &names.apex) else {
            return Vec::new();
        };
        let Some(spec) = build::saved_spec(route.annotations()) else {
            return Vec::new();
        };
        // A merge patch replaces lists whole, so the saved rules replace serin's.
        vec![Restore {
            resource: resource(kind),
            name: names.apex,
            patch: build::release(route.owner_references(), &uid, spec),
        }]
    }

    fn builtin_query(&self, canary: &Canary, metric: &str) -> Option<&'static str> {
        let envoy = canary
            .annotations()
            .get(METRICS_ANNOTATION)
            .is_some_and(|v| v == "envoy");
        match (metric, envoy) {
            (SUCCESS_RATE, false) => Some(SUCCESS_RATE_QUERY),
            (DURATION, false) => Some(DURATION_QUERY),
            (SUCCESS_RATE, true) => Some(ENVOY_SUCCESS_RATE_QUERY),
            (DURATION, true) => Some(ENVOY_DURATION_QUERY),
            _ => None,
        }
    }

    fn rbac(&self) -> &'static [Rule] {
        RULES
    }

    fn not_accepted(&self, canary: &Canary, observed: &RoutingObjects) -> Option<String> {
        not_accepted(
            canary,
            observed.get(route_kind(canary), &Names::of(canary).apex),
        )
    }
}

/// GRPCRoute when the port speaks gRPC (`appProtocol: grpc` or a port named grpc, as
/// Kubernetes spells it), HTTPRoute otherwise.
pub fn route_kind(canary: &Canary) -> &'static str {
    let s = &canary.spec.service;
    let grpc = |v: Option<&str>| {
        v.is_some_and(|p| {
            let p = p.to_ascii_lowercase();
            p == "grpc" || p.starts_with("grpc-") || p == "kubernetes.io/h2c"
        })
    };
    if grpc(s.app_protocol.as_deref()) || grpc(s.port_name.as_deref()) {
        GRPC_ROUTE
    } else {
        HTTP_ROUTE
    }
}

/// The route carrying `split`. `original` is the saved spec of a pre-existing route serin
/// took over.
pub fn route(canary: &Canary, split: &TrafficSplit, original: Option<&str>) -> Desired {
    let kind = route_kind(canary);
    let names = Names::of(canary);
    let s = &canary.spec.service;
    let canary_weight = split.canary.clamp(0, 100);
    let backend = |name: &str, weight: i32| json!({"group": "", "kind": "Service", "name": name, "port": s.port, "weight": weight});
    let backends = vec![
        backend(&names.apex_primary, 100 - canary_weight),
        backend(&names.apex_canary, canary_weight),
    ];
    let mut rules = Vec::new();
    if kind == HTTP_ROUTE {
        // A/B testing: requests matching the split's matches go to the canary only.
        if let Some(ab) = split.matches.as_ref().and_then(filters::http_matches) {
            let mut rule = filters::http_rule(canary, backends.clone());
            rule["matches"] = filters::merge_matches(&ab, &rule["matches"]);
            rule["backendRefs"] = json!([backend(&names.apex_canary, 100)]);
            rules.push(rule);
        }
        let affinity = split.session_affinity.as_ref();
        if let Some(cookie) = affinity.and_then(|a| a.canary_cookie.as_deref()) {
            // Users holding the run's cookie stay on the canary.
            let mut rule = filters::http_rule(canary, vec![backend(&names.apex_canary, 100)]);
            rule["matches"] = filters::with_cookie(&rule["matches"], cookie);
            rules.push(rule);
        }
        if let Some(cookie) = affinity.and_then(|a| a.expired_cookie.as_deref()) {
            // A finished run's cookie: its holders go to the primary and lose the cookie.
            let mut primary = backend(&names.apex_primary, 100);
            primary["filters"] = json!([filters::set_cookie(&format!("{cookie}; Max-Age=-1"))]);
            let mut rule = filters::http_rule(canary, vec![primary]);
            rule["matches"] = filters::with_cookie(&rule["matches"], cookie);
            rules.push(rule);
        }
        let mut weighted = filters::http_rule(canary, backends);
        if let Some(a) = affinity
            && let Some(cookie) = &a.canary_cookie
        {
            // Responses from the canary hand out the cookie (Flagger's backend filter).
            let value = format!("{cookie}; Max-Age={}", a.max_age_seconds);
            weighted["backendRefs"][1]["filters"] = json!([filters::set_cookie(&value)]);
        }
        if let Some(m) = &split.mirror {
            // Blue/green mirroring: the primary's requests are copied to the canary.
            let mirror =
                json!({"group": "", "kind": "Service", "name": names.apex_canary, "port": s.port});
            if let Some(mut f) = filters::request_mirror(&mirror) {
                // The Gateway API mirrors every request unless `percent` says otherwise.
                if m.percent < 100 {
                    f["requestMirror"]["percent"] = json!(m.percent.clamp(0, 100));
                }
                let mut list = weighted["filters"].as_array().cloned().unwrap_or_default();
                list.push(f);
                weighted["filters"] = json!(list);
            }
        }
        rules.push(weighted);
    } else {
        rules.push(json!({"backendRefs": backends}));
    }
    let mut spec = json!({
        "parentRefs": parent_refs(canary),
        "rules": rules,
    });
    if !s.hosts.is_empty() {
        spec["hostnames"] = json!(s.hosts);
    }
    let mut m = build::meta(canary, &names.apex, s.apex.as_ref());
    if let (Some(orig), Some(ann)) = (original, m.annotations.as_mut()) {
        ann.insert(build::ORIGINAL.into(), orig.to_string());
    }
    let value = json!({
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "kind": kind,
        "metadata": m,
        "spec": spec,
    });
    build::stamp(resource(kind), &m, value)
}

/// `service.gatewayRefs` as `parentRefs`, in the Canary's namespace unless they say
/// otherwise; none given means the apex Service (GAMMA), the one parent every mesh that
/// implements Gateway API for east-west traffic accepts.
fn parent_refs(canary: &Canary) -> Vec<Value> {
    let s = &canary.spec.service;
    if s.gateway_refs.is_empty() {
        let apex = Names::of(canary).apex;
        return vec![json!({"group": "", "kind": "Service", "name": apex, "port": s.port})];
    }
    s.gateway_refs
        .iter()
        .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
        .filter(|v| !v.is_null())
        .collect()
}

/// Why the route is not serving yet: the first parent whose `Accepted` condition is not
/// `True`, with the reason and message that parent gave. `None` when every parent named
/// in the spec accepted the route (or the route has no status for a parent yet, which
/// is read as "not accepted yet").
pub fn not_accepted(canary: &Canary, route: Option<&DynamicObject>) -> Option<String> {
    let route = route?;
    let parents = route
        .data
        .pointer("/status/parents")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for want in parent_refs(canary) {
        let name = want["name"].as_str().unwrap_or_default();
        let status = parents
            .iter()
            .find(|p| p.pointer("/parentRef/name").and_then(Value::as_str) == Some(name));
        let Some(status) = status else {
            return Some(format!("parent {name} has not reported on the route yet"));
        };
        let accepted = status
            .get("conditions")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Accepted"));
        match accepted {
            Some(c) if c["status"] == "True" => {}
            Some(c) => {
                let reason = c["reason"].as_str().unwrap_or("NotAccepted");
                let message = c["message"].as_str().unwrap_or_default();
                return Some(format!(
                    "parent {name} did not accept the route: {reason}: {message}"
                ));
            }
            None => return Some(format!("parent {name} has not accepted the route yet")),
        }
    }
    None
}

#[cfg(test)]
mod tests;

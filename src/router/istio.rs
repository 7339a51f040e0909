//! Istio: a VirtualService splits the apex host between the `-primary` and `-canary`
//! Services, and a DestinationRule per Service carries the spec's traffic policy. The
//! builtin metrics are Flagger's Istio queries.

use kube::api::{ApiResource, GroupVersionKind};
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::{Restore, Router, RoutingObjects};
use crate::api::Canary;
use crate::build::{self, Desired, Names};
use crate::decide::TrafficSplit;
use crate::decide::verdict::{DURATION, SUCCESS_RATE};
use crate::rbac::Rule;

const GROUP: &str = "networking.istio.io";
const VERSION: &str = "v1";
const VIRTUAL_SERVICE: &str = "VirtualService";
const DESTINATION_RULE: &str = "DestinationRule";

/// Flagger's Istio success-rate query (percent of non-5xx responses of the canary).
const SUCCESS_RATE_QUERY: &str = r#"sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}",response_code!~"5.*"}[{{ interval }}])) / sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}"}[{{ interval }}])) * 100"#;

/// Flagger's Istio P99 latency query, in milliseconds.
const DURATION_QUERY: &str = r#"histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}"}[{{ interval }}])) by (le))"#;

const RULES: &[Rule] = &[Rule {
    api_groups: &[GROUP],
    resources: &["virtualservices", "destinationrules"],
    verbs: &["get", "list", "watch", "create", "patch"],
}];

fn resource(kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(GROUP, VERSION, kind))
}

/// The Istio router.
pub struct Istio;

impl Router for Istio {
    fn kinds(&self) -> Vec<ApiResource> {
        vec![resource(VIRTUAL_SERVICE), resource(DESTINATION_RULE)]
    }

    fn desired(
        &self,
        canary: &Canary,
        split: &TrafficSplit,
        observed: &RoutingObjects,
    ) -> Vec<Desired> {
        let names = Names::of(canary);
        let current = observed.get(VIRTUAL_SERVICE, &names.apex);
        let original = build::original(
            current.map(|o| &o.metadata),
            current.and_then(|o| o.data.get("spec").cloned()),
            canary,
        );
        let mut out = destination_rules(canary);
        out.push(virtual_service(canary, split.canary, original.as_deref()));
        out
    }

    fn restore(&self, canary: &Canary, observed: &RoutingObjects) -> Vec<Restore> {
        let names = Names::of(canary);
        let uid = canary.meta().uid.clone().unwrap_or_default();
        let Some(vs) = observed.get(VIRTUAL_SERVICE, &names.apex) else {
            return Vec::new();
        };
        let Some(spec) = build::saved_spec(vs.annotations()) else {
            return Vec::new();
        };
        // A merge patch replaces lists whole, so the saved routes replace serin's.
        vec![Restore {
            resource: resource(VIRTUAL_SERVICE),
            name: names.apex,
            patch: build::release(vs.owner_references(), &uid, spec),
        }]
    }

    fn builtin_query(&self, _canary: &Canary, metric: &str) -> Option<&'static str> {
        match metric {
            SUCCESS_RATE => Some(SUCCESS_RATE_QUERY),
            DURATION => Some(DURATION_QUERY),
            _ => None,
        }
    }

    fn rbac(&self) -> &'static [Rule] {
        RULES
    }
}

/// The two DestinationRules, each with the spec's traffic policy.
pub fn destination_rules(canary: &Canary) -> Vec<Desired> {
    let names = Names::of(canary);
    [names.apex_primary, names.apex_canary]
        .into_iter()
        .map(|name| {
            let mut spec = json!({ "host": name });
            if let Some(tp) = &canary.spec.service.traffic_policy {
                spec["trafficPolicy"] = tp.clone();
            }
            let meta = build::meta(canary, &name, None);
            let value = json!({
                "apiVersion": format!("{GROUP}/{VERSION}"),
                "kind": DESTINATION_RULE,
                "metadata": meta,
                "spec": spec,
            });
            build::stamp(resource(DESTINATION_RULE), &meta, value)
        })
        .collect()
}

/// The VirtualService routing `100 - canary_weight`/`canary_weight` percent to the two
/// Services. `original` is the saved spec of a pre-existing VirtualService serin took over.
pub fn virtual_service(canary: &Canary, canary_weight: i32, original: Option<&str>) -> Desired {
    let names = Names::of(canary);
    let s = &canary.spec.service;
    let mut hosts: Vec<String> = s.hosts.clone();
    if !hosts.iter().any(|h| h == &names.apex || h == "*") {
        hosts.push(names.apex.clone());
    }
    let gateways = if s.gateways.is_empty() {
        vec!["mesh".to_string()]
    } else {
        s.gateways.clone()
    };
    let canary_weight = canary_weight.clamp(0, 100);
    let mut route = json!({
        "route": [
            { "destination": { "host": names.apex_primary }, "weight": 100 - canary_weight },
            { "destination": { "host": names.apex_canary }, "weight": canary_weight },
        ]
    });
    for (key, field) in [
        ("match", &s.match_),
        ("retries", &s.retries),
        ("headers", &s.headers),
        ("corsPolicy", &s.cors_policy),
    ] {
        if let Some(v) = field {
            route[key] = v.clone();
        }
    }
    if let Some(t) = &s.timeout {
        route["timeout"] = json!(t);
    }
    let mut m = build::meta(canary, &names.apex, s.apex.as_ref());
    if let (Some(orig), Some(ann)) = (original, m.annotations.as_mut()) {
        ann.insert(build::ORIGINAL.into(), orig.to_string());
    }
    let value = json!({
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "kind": VIRTUAL_SERVICE,
        "metadata": m,
        "spec": { "hosts": hosts, "gateways": gateways, "http": [route] },
    });
    build::stamp(resource(VIRTUAL_SERVICE), &m, value)
}

#[cfg(test)]
mod tests;

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
use crate::decide::verdict::{
    DURATION, ERRORS_TOTAL, REQUESTS_TOTAL, SLOW_TOTAL, SUCCESS_RATE, WINDOW_REQUESTS,
};
use crate::rbac::Rule;

const GROUP: &str = "networking.istio.io";
const VERSION: &str = "v1";
const VIRTUAL_SERVICE: &str = "VirtualService";
const DESTINATION_RULE: &str = "DestinationRule";

/// Flagger's Istio success-rate query (percent of non-5xx responses of the canary).
const SUCCESS_RATE_QUERY: &str = r#"sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}",response_code!~"5.*"}[{{ interval }}])) / sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}"}[{{ interval }}])) * 100"#;

/// Flagger's Istio P99 latency query, in milliseconds.
const DURATION_QUERY: &str = r#"histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}"}[{{ interval }}])) by (le))"#;

/// Canary requests in a check's window: the minimum of requests a check needs.
const WINDOW_REQUESTS_QUERY: &str = r#"sum(increase(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}"}[{{ interval }}])) or vector(0)"#;

/// The judge's cumulative counters of one version (`{{ workload }}`): not rates over
/// windows, so that consecutive looks never share a request.
const REQUESTS_TOTAL_QUERY: &str = r#"sum(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload="{{ workload }}"}) or vector(0)"#;
const ERRORS_TOTAL_QUERY: &str = r#"sum(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload="{{ workload }}",response_code=~"5.*"}) or vector(0)"#;
/// Requests above the bound: all of the histogram's requests minus those in the bound's
/// bucket. No `or vector(0)`: a bound that is not a bucket must not read as "none slow".
const SLOW_TOTAL_QUERY: &str = r#"sum(istio_request_duration_milliseconds_count{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload="{{ workload }}"}) - sum(istio_request_duration_milliseconds_bucket{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload="{{ workload }}",le="{{ bound }}"})"#;

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
            || current.and_then(|o| o.data.get("spec").cloned()),
            canary,
        );
        let mut out = destination_rules(canary);
        out.push(virtual_service(canary, split, original.as_deref()));
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
            WINDOW_REQUESTS => Some(WINDOW_REQUESTS_QUERY),
            REQUESTS_TOTAL => Some(REQUESTS_TOTAL_QUERY),
            ERRORS_TOTAL => Some(ERRORS_TOTAL_QUERY),
            SLOW_TOTAL => Some(SLOW_TOTAL_QUERY),
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

/// The VirtualService for a split: the A/B match routes first (matched requests to the
/// canary), then the weighted default route, with the mirror when the split has one.
/// `original` is the saved spec of a pre-existing VirtualService serin took over.
pub fn virtual_service(canary: &Canary, split: &TrafficSplit, original: Option<&str>) -> Desired {
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
    let canary_weight = split.canary.clamp(0, 100);
    let mut http = Vec::new();
    if let Some(matches) = &split.matches {
        let mut ab = route_of(
            canary,
            json!([
                { "destination": { "host": names.apex_primary }, "weight": 0 },
                { "destination": { "host": names.apex_canary }, "weight": 100 },
            ]),
        );
        ab["match"] = merge_matches(matches, s.match_.as_ref());
        http.push(ab);
    }
    let affinity = split.session_affinity.as_ref();
    if let Some(cookie) = affinity.and_then(|a| a.canary_cookie.as_ref()) {
        // Users holding the run's cookie stay on the canary.
        let mut sticky = route_of(
            canary,
            json!([
                { "destination": { "host": names.apex_primary }, "weight": 0 },
                { "destination": { "host": names.apex_canary }, "weight": 100 },
            ]),
        );
        sticky["match"] = merge_matches(&cookie_match(cookie), s.match_.as_ref());
        http.push(sticky);
    }
    if let Some(cookie) = affinity.and_then(|a| a.expired_cookie.as_ref()) {
        // A finished run's cookie: its holders go to the primary and lose the cookie.
        let mut expire = route_of(
            canary,
            json!([{
                "destination": { "host": names.apex_primary },
                "weight": 100,
                "headers": set_cookie(&format!("{cookie}; Max-Age=-1")),
            }]),
        );
        expire["match"] = merge_matches(&cookie_match(cookie), s.match_.as_ref());
        http.push(expire);
    }
    let mut route = route_of(
        canary,
        json!([
            { "destination": { "host": names.apex_primary }, "weight": 100 - canary_weight },
            { "destination": { "host": names.apex_canary }, "weight": canary_weight },
        ]),
    );
    if let Some(a) = affinity
        && let Some(cookie) = &a.canary_cookie
    {
        route["route"][1]["headers"] =
            set_cookie(&format!("{cookie}; Max-Age={}", a.max_age_seconds));
    }
    if let Some(m) = &split.mirror {
        route["mirror"] = json!({ "host": names.apex_canary });
        route["mirrorPercentage"] = json!({ "value": f64::from(m.percent.clamp(0, 100)) });
    }
    http.push(route);
    let mut m = build::meta(canary, &names.apex, s.apex.as_ref());
    if let (Some(orig), Some(ann)) = (original, m.annotations.as_mut()) {
        ann.insert(build::ORIGINAL.into(), orig.to_string());
    }
    let value = json!({
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "kind": VIRTUAL_SERVICE,
        "metadata": m,
        "spec": { "hosts": hosts, "gateways": gateways, "http": http },
    });
    build::stamp(resource(VIRTUAL_SERVICE), &m, value)
}

/// A response header operation that sets `cookie` (with its attributes) on the client.
fn set_cookie(cookie: &str) -> serde_json::Value {
    json!({ "response": { "add": { "Set-Cookie": cookie } } })
}

/// The match of requests carrying `cookie` (`name=value`) in their `cookie` header.
fn cookie_match(cookie: &str) -> serde_json::Value {
    let mut escaped = String::with_capacity(cookie.len());
    for c in cookie.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    json!([{ "headers": { "cookie": { "regex": format!("^(.*?;)?({escaped})(;.*)?$") } } }])
}

/// One http route with the spec's route settings (match, retries, headers, CORS, timeout).
fn route_of(canary: &Canary, destinations: serde_json::Value) -> serde_json::Value {
    let s = &canary.spec.service;
    let mut route = json!({ "route": destinations });
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
    route
}

/// The A/B matches, each narrowed by every match of `service.match` (as Flagger merges
/// them): a request reaches the canary only if the Service's route would take it at all.
/// An A/B condition wins over a Service condition on the same key.
fn merge_matches(ab: &serde_json::Value, service: Option<&serde_json::Value>) -> serde_json::Value {
    let ab: Vec<&serde_json::Value> = ab
        .as_array()
        .map(|l| l.iter().collect())
        .unwrap_or_default();
    let Some(service) = service.and_then(|v| v.as_array()).filter(|l| !l.is_empty()) else {
        return json!(ab);
    };
    let mut out = Vec::new();
    for a in &ab {
        for s in service {
            let mut merged = s.clone();
            if let (Some(into), Some(from)) = (merged.as_object_mut(), a.as_object()) {
                for (k, v) in from {
                    into.insert(k.clone(), v.clone());
                }
            }
            out.push(merged);
        }
    }
    json!(out)
}

#[cfg(test)]
mod tests;

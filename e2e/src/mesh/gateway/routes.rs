//! How the stand-in reads an HTTPRoute or GRPCRoute: which of its parents accept it
//! (as a conformant implementation decides and reports in `status.parents`), and the
//! equivalent VirtualService the traffic generator serves, so Gateway API traffic goes
//! through the same matching, weights and Istio metrics as the Istio router's.

use std::collections::{BTreeMap, HashSet};

use kube::ResourceExt;
use kube::api::DynamicObject;
use serde_json::{Map, Value, json};

use super::super::catalog::RPS_ANNOTATION;

/// Gateway annotation: the Gateway refuses every route with this reason (e.g.
/// `NotAllowedByListeners`), as a real Gateway does whose listeners do not admit the
/// route's namespace. Removing it admits them again.
pub const REFUSE_ANNOTATION: &str = "mesh.sandbox.serin.dev/refuse-routes";

/// The `controllerName` the stand-in reports route status under.
pub const CONTROLLER_NAME: &str = "sandbox.serin.dev/mesh";

/// One parent's verdict on a route.
#[derive(Clone, Debug, PartialEq)]
pub struct ParentVerdict {
    /// The parentRef as the route spells it.
    pub parent_ref: Value,
    pub accepted: Result<(), (String, String)>,
    /// Hosts this parent serves the route under: the hostnames for a Gateway, the
    /// Service's name for a Service parent (east-west).
    pub hosts: Vec<String>,
}

/// What the cluster holds that acceptance depends on.
pub struct World<'a> {
    /// Gateways by (namespace, name), with their annotations.
    pub gateways: &'a BTreeMap<(String, String), BTreeMap<String, String>>,
    /// Services by (namespace, name).
    pub services: &'a HashSet<(String, String)>,
}

/// Each parent's verdict on `route`.
pub fn verdicts(route: &DynamicObject, world: &World<'_>) -> Vec<ParentVerdict> {
    let ns = route.namespace().unwrap_or_default();
    let spec = route.data.get("spec").cloned().unwrap_or_default();
    let hostnames: Vec<String> = spec["hostnames"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h.as_str().map(str::to_string))
        .collect();
    spec["parentRefs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let name = p["name"].as_str().unwrap_or_default().to_string();
            let pns = p["namespace"].as_str().unwrap_or(&ns).to_string();
            let kind = p["kind"].as_str().unwrap_or("Gateway");
            let group = p["group"].as_str().unwrap_or(super::crds::GROUP);
            let key = (pns, name.clone());
            let (accepted, hosts) = if kind == "Service" && group.is_empty() {
                if world.services.contains(&key) {
                    (Ok(()), vec![name])
                } else {
                    let msg = format!("Service {}/{} not found", key.0, key.1);
                    (Err(("NoMatchingParent".to_string(), msg)), Vec::new())
                }
            } else if kind == "Gateway" && group == super::crds::GROUP {
                match world.gateways.get(&key) {
                    None => {
                        let msg = format!("Gateway {}/{} not found", key.0, key.1);
                        (Err(("NoMatchingParent".to_string(), msg)), Vec::new())
                    }
                    Some(ann) => match ann.get(REFUSE_ANNOTATION) {
                        Some(reason) => {
                            let msg = format!("Gateway {}/{} refuses the route", key.0, key.1);
                            (Err((reason.clone(), msg)), Vec::new())
                        }
                        None => (Ok(()), hostnames.clone()),
                    },
                }
            } else {
                let msg = format!("parent kind {group}/{kind} is not supported");
                (Err(("NotAllowedByListeners".to_string(), msg)), Vec::new())
            };
            ParentVerdict {
                parent_ref: p.clone(),
                accepted,
                hosts,
            }
        })
        .collect()
}

/// Backends of `route` that are not Services in the cluster (ResolvedRefs=False).
pub fn unresolved(route: &DynamicObject, world: &World<'_>) -> Vec<String> {
    let ns = route.namespace().unwrap_or_default();
    let spec = route.data.get("spec").cloned().unwrap_or_default();
    let mut out = Vec::new();
    for rule in spec["rules"].as_array().into_iter().flatten() {
        for b in rule["backendRefs"].as_array().into_iter().flatten() {
            let name = b["name"].as_str().unwrap_or_default().to_string();
            let bns = b["namespace"].as_str().unwrap_or(&ns).to_string();
            let kind_ok = b["kind"].as_str().is_none_or(|k| k == "Service");
            if !kind_ok || !world.services.contains(&(bns, name.clone())) {
                out.push(name);
            }
        }
    }
    out
}

/// The VirtualService the route amounts to: the hosts of every accepting parent, one
/// http route per rule (its matches, its weighted backends). None when no parent
/// accepts it: an unaccepted route carries no traffic.
pub fn as_virtual_service(
    route: &DynamicObject,
    verdicts: &[ParentVerdict],
) -> Option<DynamicObject> {
    let mut hosts: Vec<String> = Vec::new();
    for v in verdicts.iter().filter(|v| v.accepted.is_ok()) {
        for h in &v.hosts {
            if !hosts.contains(h) {
                hosts.push(h.clone());
            }
        }
    }
    if hosts.is_empty() {
        return None;
    }
    let spec = route.data.get("spec").cloned().unwrap_or_default();
    let http: Vec<Value> = spec["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|rule| {
            let destinations: Vec<Value> = rule["backendRefs"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|b| {
                    let mut d = json!({"destination": {"host": b["name"]}, "weight": b["weight"].as_i64().unwrap_or(1)});
                    if let Some(h) = response_headers(&b["filters"]) {
                        d["headers"] = h;
                    }
                    d
                })
                .collect();
            let mut out = json!({ "route": destinations });
            if let Some(h) = response_headers(&rule["filters"]) {
                out["headers"] = h;
            }
            let mirrors = mirrors(&rule["filters"]);
            if !mirrors.is_empty() {
                out["mirrors"] = json!(mirrors);
            }
            let matches: Vec<Value> = rule["matches"]
                .as_array()
                .into_iter()
                .flatten()
                .map(istio_match)
                .collect();
            if !matches.is_empty() {
                out["match"] = json!(matches);
            }
            out
        })
        .collect();
    let kind = route
        .types
        .as_ref()
        .map(|t| t.kind.as_str())
        .unwrap_or("Route");
    let mut meta = route.metadata.clone();
    // Keyed apart from a VirtualService of the same name in the catalog.
    meta.name = Some(format!("{}:{}", kind.to_lowercase(), route.name_any()));
    let mut annotations = BTreeMap::new();
    if let Some(rps) = route.annotations().get(RPS_ANNOTATION) {
        annotations.insert(RPS_ANNOTATION.to_string(), rps.clone());
    }
    meta.annotations = Some(annotations);
    // Acceptance is part of what the generator serves, so a verdict change must
    // recompile even when the route's own revision did not change.
    let accepted: Vec<String> = verdicts
        .iter()
        .map(|v| format!("{}", v.accepted.is_ok()))
        .collect();
    meta.resource_version = meta
        .resource_version
        .map(|rv| format!("{rv}/{}", accepted.join(",")));
    Some(DynamicObject {
        types: None,
        metadata: meta,
        data: json!({ "spec": {"hosts": hosts, "http": http} }),
    })
}

/// The RequestMirror filters of a rule as Istio `mirrors`: the backend Service, and the
/// share copied (`percent`, or `fraction` numerator/denominator; all when neither).
fn mirrors(filters: &Value) -> Vec<Value> {
    filters
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["type"] == "RequestMirror")
        .filter_map(|f| {
            let m = &f["requestMirror"];
            let host = m["backendRef"]["name"].as_str()?;
            let percent = match (m["percent"].as_f64(), &m["fraction"]) {
                (Some(p), _) => p,
                (None, fr) if fr.is_object() => {
                    let num = fr["numerator"].as_f64().unwrap_or(0.0);
                    let den = fr["denominator"].as_f64().unwrap_or(100.0);
                    if den > 0.0 { 100.0 * num / den } else { 0.0 }
                }
                _ => 100.0,
            };
            Some(json!({"destination": {"host": host}, "percentage": {"value": percent}}))
        })
        .collect()
}

/// The ResponseHeaderModifier filters of a rule or backend as Istio header operations
/// (the stand-in reads the `Set-Cookie` they add, for session affinity).
fn response_headers(filters: &Value) -> Option<Value> {
    let mut ops = Map::new();
    for f in filters.as_array().into_iter().flatten() {
        if f["type"] != "ResponseHeaderModifier" {
            continue;
        }
        for key in ["set", "add"] {
            for h in f["responseHeaderModifier"][key]
                .as_array()
                .into_iter()
                .flatten()
            {
                if let (Some(name), Some(value)) = (h["name"].as_str(), h["value"].as_str()) {
                    let entry = ops.entry(key).or_insert_with(|| json!({}));
                    entry[name] = json!(value);
                }
            }
        }
    }
    (!ops.is_empty()).then(|| json!({"response": ops}))
}

/// An HTTPRouteMatch (or GRPCRouteMatch) as an Istio HTTPMatchRequest.
fn istio_match(m: &Value) -> Value {
    let mut out = Map::new();
    let kind_of = |t: &Value| match t.as_str() {
        Some("RegularExpression") => "regex",
        Some("PathPrefix") => "prefix",
        _ => "exact",
    };
    if let Some(path) = m.get("path") {
        let value = path["value"].as_str().unwrap_or("/");
        let kind = if path.get("type").is_none() {
            "prefix"
        } else {
            kind_of(&path["type"])
        };
        out.insert("uri".into(), json!({ kind: value }));
    }
    if let Some(method) = m.get("method") {
        if let Some(s) = method.as_str() {
            out.insert("method".into(), json!({"exact": s}));
        } else if let Some(service) = method["service"].as_str() {
            // gRPC: `/package.Service/Method` over HTTP/2.
            let path = match method["method"].as_str() {
                Some(name) => json!({"exact": format!("/{service}/{name}")}),
                None => json!({"prefix": format!("/{service}/")}),
            };
            out.insert("uri".into(), path);
        }
    }
    for key in ["headers", "queryParams"] {
        let map: Map<String, Value> = m[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|h| {
                let name = h["name"].as_str()?;
                let value = h["value"].as_str()?;
                let kind = if h["type"] == "RegularExpression" {
                    "regex"
                } else {
                    "exact"
                };
                Some((name.to_string(), json!({ kind: value })))
            })
            .collect();
        if !map.is_empty() {
            out.insert(key.into(), Value::Object(map));
        }
    }
    Value::Object(out)
}

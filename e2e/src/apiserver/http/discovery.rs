//! Discovery documents: `/version`, `/api`, `/apis`, `/apis/{group}` and the
//! `APIResourceList` of each group-version.
//!
//! Only the legacy (non-aggregated) forms are served: kubectl and client-go ask for the
//! aggregated `APIGroupDiscoveryList` first and fall back when the answer is plain JSON.

use std::net::SocketAddr;

use serde_json::{Value, json};

use crate::apiserver::reviews;
use crate::apiserver::storage::registry::{Registry, ResourceDef, group_rank};

pub const SERVER_VERSION: (&str, &str) = ("1", "33");

pub fn version() -> Value {
    let (major, minor) = SERVER_VERSION;
    json!({
        "major": major, "minor": minor, "gitVersion": format!("v{major}.{minor}.0"),
        "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24.0", "compiler": "gc",
        "platform": "linux/amd64",
    })
}

pub fn core_versions(addr: SocketAddr) -> Value {
    json!({
        "kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr.to_string()}],
    })
}

fn group_json(name: &str, versions: &[String]) -> Value {
    let gv = |v: &String| json!({"groupVersion": format!("{name}/{v}"), "version": v});
    json!({
        "name": name,
        "versions": versions.iter().map(gv).collect::<Vec<_>>(),
        "preferredVersion": versions.first().map(gv).unwrap_or(Value::Null),
    })
}

/// The registry's groups plus those of resources served without storage (reviews).
fn served_groups(registry: &Registry) -> Vec<(String, Vec<String>)> {
    let mut groups = registry.groups();
    if !groups.iter().any(|(g, _)| g == reviews::GROUP) {
        groups.push((reviews::GROUP.into(), vec![reviews::VERSION.into()]));
        groups.sort_by_key(|(g, _)| (group_rank(g), g.clone()));
    }
    groups
}

pub fn groups(registry: &Registry) -> Value {
    let groups: Vec<Value> = served_groups(registry)
        .iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, versions)| group_json(g, versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn group(registry: &Registry, name: &str) -> Option<Value> {
    let groups = served_groups(registry);
    let (g, versions) = groups.iter().find(|(g, _)| g == name && !g.is_empty())?;
    let mut out = group_json(g, versions);
    out["kind"] = json!("APIGroup");
    out["apiVersion"] = json!("v1");
    Some(out)
}

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const SUB_VERBS: &[&str] = &["get", "patch", "update"];

fn resource_entries(def: &ResourceDef) -> Vec<Value> {
    let mut main = json!({
        "name": def.plural, "singularName": def.singular, "namespaced": def.namespaced,
        "kind": def.kind, "verbs": VERBS,
    });
    if !def.short_names.is_empty() {
        main["shortNames"] = json!(def.short_names);
    }
    if !def.categories.is_empty() {
        main["categories"] = json!(def.categories);
    }
    let mut out = vec![main];
    if def.status {
        out.push(json!({"name": format!("{}/status", def.plural), "singularName": "", "namespaced": def.namespaced, "kind": def.kind, "verbs": SUB_VERBS}));
    }
    if def.scale.is_some() {
        out.push(json!({"name": format!("{}/scale", def.plural), "singularName": "", "namespaced": def.namespaced,
            "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": SUB_VERBS}));
    }
    out
}

pub fn resources(registry: &Registry, group: &str, version: &str) -> Value {
    let mut resources: Vec<Value> = registry
        .all()
        .filter(|d| d.group == group && d.version(version).is_some())
        .flat_map(|d| resource_entries(d))
        .collect();
    if group == reviews::GROUP && version == reviews::VERSION {
        resources.push(reviews::discovery_entry());
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
}

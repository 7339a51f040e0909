//! The router seam: everything that depends on the mesh or ingress that shifts traffic.
//!
//! A router says which kinds it manages (the controller watches them), builds the routing
//! objects for a [`TrafficSplit`], says what to write back on deletion for objects it took
//! over, names the queries of the builtin metrics, and lists its RBAC rules. Adding a
//! router is one new module here, one arm in [`for_provider`], one variant of
//! [`Provider`], and its stand-in in the sandbox.
//!
//! Why a trait object and not an enum or an async trait: every method is pure and
//! synchronous (the IO stays in `controller`, generic over `DynamicObject`), so the trait is
//! object safe without boxing futures, and the watch wiring needs no type per router: each
//! router's kinds are plain [`ApiResource`]s watched as dynamic objects. A router is chosen
//! per Canary (`spec.provider`), so a `&'static dyn Router` is all a reconcile carries.

pub mod gatewayapi;
pub mod istio;

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::api::{ApiResource, DynamicObject};
use serde_json::Value;

use crate::api::Canary;
use crate::build::Desired;
use crate::decide::{Provider, TrafficSplit};
use crate::rbac::Rule;

/// The routing objects observed for one Canary, by (kind, name).
#[derive(Debug, Clone, Default)]
pub struct RoutingObjects {
    objects: BTreeMap<(String, String), Arc<DynamicObject>>,
}

impl RoutingObjects {
    pub fn insert(&mut self, kind: &str, name: &str, object: Arc<DynamicObject>) {
        self.objects
            .insert((kind.to_string(), name.to_string()), object);
    }

    /// The objects, in a fixed order (by kind, then name).
    pub fn iter(&self) -> impl Iterator<Item = &DynamicObject> {
        self.objects.values().map(Arc::as_ref)
    }

    pub fn get(&self, kind: &str, name: &str) -> Option<&DynamicObject> {
        self.objects
            .get(&(kind.to_string(), name.to_string()))
            .map(Arc::as_ref)
    }
}

/// A merge patch that gives an object serin took over back to its owner.
#[derive(Debug, Clone, PartialEq)]
pub struct Restore {
    pub resource: ApiResource,
    pub name: String,
    pub patch: Value,
}

/// What a router does; see the module doc.
pub trait Router: Send + Sync {
    /// The kinds of the routing objects, watched by the controller and owned by Canaries.
    fn kinds(&self) -> Vec<ApiResource>;

    /// The routing objects that carry out `split`. `observed` holds the current objects,
    /// so that one serin takes over keeps its original spec for the revert.
    fn desired(
        &self,
        canary: &Canary,
        split: &TrafficSplit,
        observed: &RoutingObjects,
    ) -> Vec<Desired>;

    /// On deletion (with `revertOnDeletion`): what to write back to objects serin took over.
    fn restore(&self, canary: &Canary, observed: &RoutingObjects) -> Vec<Restore>;

    /// The query template of a builtin metric (`request-success-rate`, `request-duration`)
    /// for `canary` (a router may offer one set of queries per implementation).
    fn builtin_query(&self, canary: &Canary, metric: &str) -> Option<&'static str>;

    /// The RBAC rules its kinds need.
    fn rbac(&self) -> &'static [Rule];

    /// Why the routing objects do not carry traffic yet (e.g. a Gateway refused the
    /// route), or None when they do or the router cannot tell.
    fn not_accepted(&self, _canary: &Canary, _observed: &RoutingObjects) -> Option<String> {
        None
    }
}

/// The router of a provider.
pub fn for_provider(provider: Provider) -> &'static dyn Router {
    match provider {
        Provider::Istio => &istio::Istio,
        Provider::GatewayApi => &gatewayapi::GatewayApi,
    }
}

/// The providers named in `--routers` (`istio`, `gatewayapi`; Flagger's provider names
/// are accepted too), each once; an unknown name is an error that lists the known ones.
pub fn parse_routers(names: &[String]) -> Result<Vec<Provider>, String> {
    let mut out = Vec::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let p = match name {
            "gatewayapi" => Provider::GatewayApi,
            other => Provider::parse(other)
                .map_err(|_| format!("unknown router {other:?}: serin has istio and gatewayapi"))?,
        };
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

/// The routing kinds of every provider serin implements, each once.
pub fn all_kinds() -> Vec<ApiResource> {
    kinds_of(Provider::ALL)
}

/// The routing kinds of `providers`, each once.
pub fn kinds_of(providers: &[Provider]) -> Vec<ApiResource> {
    let mut out: Vec<ApiResource> = Vec::new();
    for p in providers {
        for k in for_provider(*p).kinds() {
            if !out
                .iter()
                .any(|o| o.api_version == k.api_version && o.kind == k.kind)
            {
                out.push(k);
            }
        }
    }
    out
}

/// The RBAC rules of every provider's routing kinds.
pub fn rbac_rules() -> Vec<Rule> {
    rbac_rules_of(Provider::ALL)
}

/// The RBAC rules of the routing kinds of `providers`.
pub fn rbac_rules_of(providers: &[Provider]) -> Vec<Rule> {
    providers
        .iter()
        .flat_map(|p| for_provider(*p).rbac().iter().cloned())
        .collect()
}

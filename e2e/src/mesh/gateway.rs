//! Gateway API for the mesh stand-in: it installs the GatewayClass, Gateway, HTTPRoute
//! and GRPCRoute CRDs ([`crds`]), decides which parents accept each route and serves
//! accepted routes as the generator's VirtualServices ([`routes`]), and reports each
//! route's `status.parents` (Accepted, ResolvedRefs) as a conformant implementation does.
//!
//! A Gateway parent serves the route's `hostnames` (north-south); a Service parent
//! (GAMMA) serves the Service's own name (east-west). The knob for a refusing parent is
//! the [`routes::REFUSE_ANNOTATION`] on a Gateway.

pub mod crds;
pub mod routes;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::runtime::reflector::Store;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use routes::{CONTROLLER_NAME, ParentVerdict, World};

pub use crds::gateway_crds;

/// How often route status is brought up to date.
const STATUS_PERIOD: Duration = Duration::from_millis(300);

/// The resource of a Gateway API kind at v1.
pub fn resource(kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(crds::GROUP, "v1", kind))
}

/// Gateways by (namespace, name), with their annotations.
type Gateways = BTreeMap<(String, String), BTreeMap<String, String>>;
/// Services by (namespace, name).
type Services = HashSet<(String, String)>;

/// The reflector stores of the Gateway API kinds.
#[derive(Clone)]
pub struct GatewayStores {
    pub http_routes: Store<DynamicObject>,
    pub grpc_routes: Store<DynamicObject>,
    pub gateways: Store<DynamicObject>,
}

impl GatewayStores {
    fn world_parts(&self, services: &Store<Service>) -> (Gateways, Services) {
        let gateways = self
            .gateways
            .state()
            .iter()
            .map(|g| {
                let key = (g.namespace().unwrap_or_default(), g.name_any());
                (key, g.annotations().clone())
            })
            .collect();
        let services = services
            .state()
            .iter()
            .map(|s| (s.namespace().unwrap_or_default(), s.name_any()))
            .collect();
        (gateways, services)
    }

    fn routes(&self) -> Vec<Arc<DynamicObject>> {
        let mut out = self.http_routes.state();
        out.extend(self.grpc_routes.state());
        out
    }

    /// Every accepted route as the VirtualService the generator serves.
    pub fn virtual_services(&self, services: &Store<Service>) -> Vec<Arc<DynamicObject>> {
        let (gateways, services) = self.world_parts(services);
        let world = World {
            gateways: &gateways,
            services: &services,
        };
        self.routes()
            .iter()
            .filter_map(|r| routes::as_virtual_service(r, &routes::verdicts(r, &world)))
            .map(Arc::new)
            .collect()
    }
}

/// The `status.parents` the stand-in reports for a route.
pub fn route_status(
    route: &DynamicObject,
    verdicts: &[ParentVerdict],
    unresolved: &[String],
    now: &str,
) -> Value {
    let generation = route.metadata.generation.unwrap_or(0);
    let condition = |type_: &str, ok: Result<(), (String, String)>, ok_reason: &str| {
        let (status, reason, message) = match ok {
            Ok(()) => ("True", ok_reason.to_string(), String::new()),
            Err((reason, message)) => ("False", reason, message),
        };
        json!({"type": type_, "status": status, "reason": reason, "message": message,
               "observedGeneration": generation, "lastTransitionTime": now})
    };
    let resolved = if unresolved.is_empty() {
        Ok(())
    } else {
        let message = format!("backend Services not found: {}", unresolved.join(", "));
        Err(("BackendNotFound".to_string(), message))
    };
    let parents: Vec<Value> = verdicts
        .iter()
        .map(|v| {
            json!({
                "parentRef": v.parent_ref,
                "controllerName": CONTROLLER_NAME,
                "conditions": [
                    condition("Accepted", v.accepted.clone(), "Accepted"),
                    condition("ResolvedRefs", resolved.clone(), "ResolvedRefs"),
                ]
            })
        })
        .collect();
    json!({ "parents": parents })
}

/// The status without transition times, to tell whether a write is needed.
fn comparable(status: &Value) -> Value {
    let mut s = status.clone();
    for p in s["parents"].as_array_mut().into_iter().flatten() {
        for c in p["conditions"].as_array_mut().into_iter().flatten() {
            if let Some(o) = c.as_object_mut() {
                o.remove("lastTransitionTime");
            }
        }
    }
    s
}

/// Keeps every route's status up to date; writes only when it changed.
pub async fn report_status(client: Client, stores: GatewayStores, services: Store<Service>) {
    let mut tick = tokio::time::interval(STATUS_PERIOD);
    loop {
        tick.tick().await;
        let (gateways, known) = stores.world_parts(&services);
        let world = World {
            gateways: &gateways,
            services: &known,
        };
        for route in stores.routes() {
            let verdicts = routes::verdicts(&route, &world);
            let unresolved = routes::unresolved(&route, &world);
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let want = route_status(&route, &verdicts, &unresolved, &now);
            let have = route.data.get("status").cloned().unwrap_or_default();
            if comparable(&have) == comparable(&want) {
                continue;
            }
            let kind = route
                .types
                .as_ref()
                .map(|t| t.kind.clone())
                .unwrap_or_default();
            let ns = route.namespace().unwrap_or_default();
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), &ns, &resource(&kind));
            let patch = Patch::Merge(json!({ "status": want }));
            if let Err(error) = api
                .patch_status(&route.name_any(), &PatchParams::default(), &patch)
                .await
            {
                tracing::debug!(%error, route = route.name_any(), "route status not written");
            }
        }
    }
}

#[cfg(test)]
mod tests;

//! Observe once: one read of the watch caches per reconcile, of everything the decision,
//! converge and finalize look at (target, primary, the three Services, the router's
//! objects). Nothing after this reads the caches again, so the steps of one reconcile
//! agree on what they saw.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

use super::{Ctx, autoscaling, observe};
use crate::api::Canary;
use crate::build::Names;
use crate::decide::Observation;
use crate::router::{Router, RoutingObjects};

/// What the caches held for one Canary at the start of a reconcile.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub target: Option<Arc<Deployment>>,
    pub primary: Option<Arc<Deployment>>,
    /// The apex, `-primary` and `-canary` Services that exist, by name.
    pub services: BTreeMap<String, Arc<Service>>,
    /// The router's objects named like the apex, `-primary` and `-canary` Services.
    pub routing: RoutingObjects,
    /// The target's autoscaler and the primary's copy, with `autoscalerRef`.
    pub autoscalers: autoscaling::Observed,
    /// The router's word on whether its objects carry traffic yet.
    pub route_not_accepted: Option<String>,
}

impl Snapshot {
    /// Reads the caches; `router` is None when the spec names no router serin has.
    pub fn take(canary: &Canary, ctx: &Ctx, router: Option<&dyn Router>) -> Snapshot {
        let ns = canary.namespace().unwrap_or_default();
        let names = Names::of(canary);
        let deployment = |name: &str| ctx.deployments.get(&ObjectRef::new(name).within(&ns));
        let mut services = BTreeMap::new();
        let mut routing = RoutingObjects::default();
        for name in [&names.apex, &names.apex_primary, &names.apex_canary] {
            if let Some(s) = ctx.services.get(&ObjectRef::new(name).within(&ns)) {
                services.insert(name.clone(), s);
            }
            for kind in router.map(|r| r.kinds()).unwrap_or_default() {
                let Some((_, store)) = ctx.routing.iter().find(|(ar, _)| ar.kind == kind.kind)
                else {
                    continue;
                };
                if let Some(o) = store.get(&ObjectRef::new_with(name, kind.clone()).within(&ns)) {
                    routing.insert(&kind.kind, name, o);
                }
            }
        }
        let route_not_accepted = router.and_then(|r| r.not_accepted(canary, &routing));
        Snapshot {
            target: deployment(&names.target),
            primary: deployment(&names.primary),
            services,
            routing,
            autoscalers: autoscaling::observe(canary, ctx),
            route_not_accepted,
        }
    }

    /// What the decision needs to know of the workloads.
    pub fn observation(&self, ready: observe::ReadyThresholds) -> Observation {
        Observation {
            target: self
                .target
                .as_deref()
                .map(|d| observe::target(d, ready.canary)),
            primary: self
                .primary
                .as_deref()
                .map(|d| observe::primary(d, ready.primary)),
            inputs: Default::default(),
            autoscaler_problem: self.autoscalers.problem.clone(),
            route_not_accepted: self.route_not_accepted.clone(),
            target_problem: self
                .target
                .as_deref()
                .and_then(crate::build::selector_problem),
            actions: Vec::new(),
        }
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.get(name).map(Arc::as_ref)
    }
}

//! Observe once: one read of the watch caches per reconcile, of everything the decision,
//! converge and finalize look at (target, primary, the three Services, the router's
//! objects). Nothing after this reads the caches again, so the steps of one reconcile
//! agree on what they saw.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

use super::{Ctx, autoscaling, observe};
use crate::api::Canary;
use crate::build::Names;
use crate::decide::Observation;
use crate::router::{Router, RoutingObjects};

/// How long after a Canary's creation a missing target is taken for one the Deployment
/// cache has not seen yet rather than for a missing one. GitOps tools (and `kubectl apply
/// -f` of one file) create a Deployment and its Canary together, and the Canary's watch
/// may deliver it first: without this, such a Canary would get a `TargetNotFound`
/// Warning it does not deserve. The Deployment's arrival wakes the Canary (through the
/// target index) long before; a target that really is missing is reported when this ends.
pub const TARGET_GRACE: Duration = Duration::from_secs(10);

/// What the caches held for one Canary at the start of a reconcile.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub target: Option<Arc<Deployment>>,
    /// The target's revision hash ([`observe::target_revision`], remembered by
    /// generation), empty without a target.
    pub target_revision: String,
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
        // The router's kinds, each with its cache (a kind the API server does not serve
        // has none).
        let kinds: Vec<_> = router
            .map(|r| r.kinds())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|kind| {
                let (_, store) = ctx.routing.iter().find(|(ar, _)| ar.kind == kind.kind)?;
                Some((kind, store))
            })
            .collect();
        for name in [&names.apex, &names.apex_primary, &names.apex_canary] {
            if let Some(s) = ctx.services.get(&ObjectRef::new(name).within(&ns)) {
                services.insert(name.clone(), s);
            }
            for (kind, store) in &kinds {
                if let Some(o) = store.get(&ObjectRef::new_with(name, kind.clone()).within(&ns)) {
                    routing.insert(&kind.kind, name, o);
                }
            }
        }
        let route_not_accepted = router.and_then(|r| r.not_accepted(canary, &routing));
        let target = deployment(&names.target);
        let target_revision = target
            .as_deref()
            .map(|t| {
                let uid = canary.uid().unwrap_or_default();
                ctx.memo.revision(&uid, t, observe::target_revision)
            })
            .unwrap_or_default();
        Snapshot {
            target,
            target_revision,
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
                .map(|d| observe::target(d, &self.target_revision, ready.canary)),
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

    /// How long to wait for a target the cache does not hold, or None to decide now: only
    /// a Canary never decided on (no phase yet) within [`TARGET_GRACE`] of its creation.
    pub fn target_unseen(&self, canary: &Canary) -> Option<Duration> {
        if self.target.is_some() || canary.status.as_ref().is_some_and(|s| s.phase.is_some()) {
            return None;
        }
        let created = canary.metadata.creation_timestamp.as_ref()?;
        let age = k8s_openapi::jiff::Timestamp::now().duration_since(created.0);
        // A creation time ahead of this clock (skew) gives no grace: never wait forever.
        let age = Duration::try_from(age).ok()?;
        TARGET_GRACE.checked_sub(age).filter(|d| !d.is_zero())
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.get(name).map(Arc::as_ref)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::{SignedDuration, Timestamp};

    fn canary(age_secs: i64, phase: Option<crate::api::Phase>) -> Canary {
        let mut c: Canary = serde_json::from_value(serde_json::json!({
            "apiVersion": "serin.dev/v1beta1", "kind": "Canary",
            "metadata": {"name": "podinfo", "namespace": "test"},
            "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
                     "service": {"port": 80}}
        }))
        .expect("canary");
        let created = Timestamp::now() - SignedDuration::from_secs(age_secs);
        c.metadata.creation_timestamp = Some(Time(created));
        c.status = phase.map(|p| crate::api::CanaryStatus {
            phase: Some(p),
            ..Default::default()
        });
        c
    }

    #[test]
    fn a_new_canary_waits_a_little_for_its_target() {
        let snap = Snapshot::default();
        let wait = snap
            .target_unseen(&canary(2, None))
            .expect("within the grace");
        assert!(wait <= TARGET_GRACE - Duration::from_secs(1), "{wait:?}");
        assert_eq!(snap.target_unseen(&canary(11, None)), None, "grace over");
        assert_eq!(snap.target_unseen(&canary(-60, None)), None, "clock skew");
        let decided = canary(2, Some(crate::api::Phase::Initialized));
        assert_eq!(snap.target_unseen(&decided), None, "decided before");
        let with_target = Snapshot {
            target: Some(Arc::new(Deployment::default())),
            ..Default::default()
        };
        assert_eq!(with_target.target_unseen(&canary(2, None)), None);
    }
}

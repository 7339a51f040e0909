//! The plan: what the managed objects should look like after a decision, derived from the
//! new status and the observed workloads. Converge carries it out without judging
//! anything; the router turns its [`TrafficSplit`] into routing objects.

use super::promotion::keeps_canary;
use super::{Strategy, TrafficSplit, Workload};
use crate::api::{CanaryStatus, Phase};

/// The desired shape of the managed objects.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Copy the target's template to the primary, running this many replicas.
    pub copy_to_primary: Option<i32>,
    /// Whether the apex Service selects the primary (else the target).
    pub apex_on_primary: bool,
    /// Whether the apex Service and the routing objects are created when missing; see
    /// [`creates_routing`]. Existing ones follow the plan either way.
    pub create_routing: bool,
    /// The traffic split the router carries out.
    pub split: TrafficSplit,
    /// The replicas the target (the canary) should run; None leaves it alone.
    pub canary_replicas: Option<i32>,
    /// Whether the target's own autoscaler may scale it (a KEDA ScaledObject of the
    /// target is paused at 0 otherwise); see [`canary_in_use`].
    pub canary_in_use: bool,
}

/// Plans the objects for `status` (the decision's new status).
pub fn plan(
    status: &CanaryStatus,
    strategy: &Strategy<'_>,
    target: &Workload,
    primary: Option<&Workload>,
) -> Plan {
    let copy = copy_to_primary(status, &target.revision, primary).then(|| {
        Some(target.replicas)
            .filter(|r| *r > 0)
            .or(primary.map(|p| p.replicas))
            .unwrap_or(1)
    });
    Plan {
        copy_to_primary: copy,
        apex_on_primary: apex_on_primary(status),
        create_routing: creates_routing(status),
        split: strategy.split(
            status,
            routed_weight(status, target, primary),
            target.serving,
        ),
        canary_replicas: canary_replicas(status, target, primary),
        canary_in_use: canary_in_use(status),
    }
}

/// Whether the target serves: while initialising (it is production until the primary is
/// ready), during a run, or after a failed promotion left all traffic on it. Otherwise it
/// stays at 0, and so must its autoscaler.
pub fn canary_in_use(status: &CanaryStatus) -> bool {
    matches!(
        status.phase(),
        Phase::Initializing | Phase::Progressing | Phase::WaitingPromotion | Phase::Promoting
    ) || keeps_canary(status)
}

/// The canary weight actually routed: the recorded one, except that a workload with no
/// available replica never gets traffic.
pub fn routed_weight(status: &CanaryStatus, target: &Workload, primary: Option<&Workload>) -> i32 {
    let primary_up = primary.is_some_and(|p| p.serving);
    match (target.serving, primary_up) {
        (false, _) => 0,
        (true, false) => 100,
        (true, true) => status.canary_weight,
    }
}

/// The replicas the target (the canary) should run, or None to leave it alone.
pub fn canary_replicas(
    status: &CanaryStatus,
    target: &Workload,
    primary: Option<&Workload>,
) -> Option<i32> {
    let current = target.replicas;
    match status.phase() {
        Phase::Progressing | Phase::WaitingPromotion | Phase::Promoting if current == 0 => {
            Some(primary.map(|p| p.replicas).filter(|r| *r > 0).unwrap_or(1))
        }
        // Never scale down a canary that still gets traffic (a failed promotion keeps it),
        // nor one that is the only workload serving (the primary deleted or down): that
        // would leave nothing to route to.
        Phase::Initialized | Phase::Finalising | Phase::Succeeded | Phase::Failed
            if current != 0
                && status.canary_weight == 0
                && !keeps_canary(status)
                && primary.is_some_and(|p| p.serving) =>
        {
            Some(0)
        }
        _ => None,
    }
}

/// Whether the target's template goes to the primary now: to create it during
/// initialisation (again when the target changes before it is ready), to promote, or to
/// recreate a deleted primary from the target only when the target holds the promoted
/// template (never an unanalysed revision).
pub fn copy_to_primary(
    status: &CanaryStatus,
    target_rev: &str,
    primary: Option<&Workload>,
) -> bool {
    let applied = status.last_applied_spec.as_deref();
    let promoted = status.last_promoted_spec.as_deref();
    match (status.phase(), primary.map(|p| p.revision.as_str())) {
        (Phase::Initializing, None) => true,
        (Phase::Initializing, Some(rev)) => rev != target_rev,
        (Phase::Promoting, Some(rev)) => Some(rev) != applied && Some(target_rev) == applied,
        (_, None) => Some(target_rev) == promoted,
        _ => false,
    }
}

/// Whether a missing apex Service or routing object is created: not while initialising.
/// Until the primary is ready the target serves alone, and a new apex or route would only
/// send traffic to it (then change when the primary is ready): they are created once, on
/// the primary, when initialisation ends. An existing apex or route (taken over) is
/// still applied at once, so its clients keep being served by the target meanwhile.
pub fn creates_routing(status: &CanaryStatus) -> bool {
    status.phase() != Phase::Initializing
}

/// Whether the apex Service selects the primary: not before the primary is initialised,
/// and not after a failed promotion that left all traffic on the canary.
pub fn apex_on_primary(status: &CanaryStatus) -> bool {
    match status.phase() {
        Phase::Initializing => false,
        _ => !keeps_canary(status),
    }
}

#[cfg(test)]
mod tests;

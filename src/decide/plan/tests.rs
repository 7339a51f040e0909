//! The plan's rules, on observed workloads.

use super::*;
use crate::api::{CanaryStatus, Phase};

fn status(phase: Phase, weight: i32) -> CanaryStatus {
    CanaryStatus {
        phase: Some(phase),
        canary_weight: weight,
        last_applied_spec: Some("v2".into()),
        last_promoted_spec: Some("v1".into()),
        ..Default::default()
    }
}

fn primary_on(rev: &str) -> Workload {
    Workload {
        revision: rev.into(),
        replicas: 1,
        rollout: crate::decide::Rollout::Complete,
        serving: true,
    }
}

#[test]
fn the_primary_is_copied_only_when_it_must_be() {
    // Initialisation creates it, and follows the target until it is ready.
    assert!(copy_to_primary(&status(Phase::Initializing, 0), "v1", None));
    assert!(copy_to_primary(
        &status(Phase::Initializing, 0),
        "v2",
        Some(&primary_on("v1"))
    ));
    assert!(!copy_to_primary(
        &status(Phase::Initializing, 0),
        "v1",
        Some(&primary_on("v1"))
    ));
    // Promotion copies the analysed revision, and only that one.
    assert!(copy_to_primary(
        &status(Phase::Promoting, 50),
        "v2",
        Some(&primary_on("v1"))
    ));
    assert!(!copy_to_primary(
        &status(Phase::Promoting, 50),
        "v3",
        Some(&primary_on("v1"))
    ));
    // A deleted primary comes back only from the promoted template.
    assert!(!copy_to_primary(&status(Phase::Failed, 0), "v2", None));
    assert!(copy_to_primary(&status(Phase::Failed, 0), "v1", None));
    assert!(!copy_to_primary(
        &status(Phase::Progressing, 10),
        "v2",
        Some(&primary_on("v1"))
    ));
}

#[test]
fn the_apex_follows_the_serving_workload() {
    assert!(!apex_on_primary(&status(Phase::Initializing, 0)));
    assert!(apex_on_primary(&status(Phase::Progressing, 30)));
    assert!(apex_on_primary(&status(Phase::Failed, 0)));
    assert!(
        !apex_on_primary(&status(Phase::Failed, 100)),
        "a failed promotion keeps the canary"
    );
}

#[test]
fn the_targets_autoscaler_runs_only_while_the_target_serves() {
    for phase in [
        Phase::Initializing,
        Phase::Progressing,
        Phase::WaitingPromotion,
        Phase::Promoting,
    ] {
        assert!(canary_in_use(&status(phase, 20)), "{phase:?}");
    }
    for phase in [Phase::Initialized, Phase::Finalising, Phase::Succeeded] {
        assert!(!canary_in_use(&status(phase, 0)), "{phase:?}");
    }
    assert!(!canary_in_use(&status(Phase::Failed, 0)));
    // A failed promotion that left all traffic on the canary keeps it autoscaled.
    assert!(canary_in_use(&status(Phase::Failed, 100)));
}

#[test]
fn the_canary_is_never_scaled_down_while_it_is_the_only_workload_serving() {
    let canary = Workload {
        revision: "v2".into(),
        replicas: 2,
        rollout: crate::decide::Rollout::Complete,
        serving: true,
    };
    let failed = status(Phase::Failed, 0);
    assert_eq!(
        canary_replicas(&failed, &canary, Some(&primary_on("v1"))),
        Some(0)
    );
    assert_eq!(canary_replicas(&failed, &canary, None), None);
    let down = Workload {
        serving: false,
        ..primary_on("v1")
    };
    assert_eq!(canary_replicas(&failed, &canary, Some(&down)), None);
    assert_eq!(routed_weight(&failed, &canary, None), 100);
}

#[test]
fn routing_is_created_once_initialisation_ends() {
    assert!(!creates_routing(&status(Phase::Initializing, 0)));
    assert!(creates_routing(&status(Phase::Initialized, 0)));
    assert!(creates_routing(&status(Phase::Progressing, 30)));
    assert!(creates_routing(&status(Phase::Failed, 100)));
}

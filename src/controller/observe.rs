//! Observe: what the decision needs to know of a Deployment (revision, replicas, how far
//! its rollout got, whether it serves). Pure functions of the cached object; the one read
//! of the caches per reconcile is [`super::snapshot`].

use k8s_openapi::api::apps::v1::Deployment;

use crate::api::CanarySpec;
use crate::build::REVISION;
use crate::decide::{Rollout, Workload};
use crate::revision::revision_hash;

/// The percent of updated replicas that must be available for the primary and for the
/// canary to count as ready (`analysis.primaryReadyThreshold`, `canaryReadyThreshold`;
/// Flagger's default 100).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadyThresholds {
    pub primary: i32,
    pub canary: i32,
}

impl ReadyThresholds {
    pub fn of(spec: &CanarySpec) -> ReadyThresholds {
        let a = spec.analysis.as_ref();
        let pick = |v: Option<i32>| v.unwrap_or(100).clamp(0, 100);
        ReadyThresholds {
            primary: pick(a.and_then(|a| a.primary_ready_threshold)),
            canary: pick(a.and_then(|a| a.canary_ready_threshold)),
        }
    }
}

impl Default for ReadyThresholds {
    fn default() -> Self {
        ReadyThresholds {
            primary: 100,
            canary: 100,
        }
    }
}

/// How far a Deployment's rollout has got, the way `kubectl rollout status` and Flagger
/// judge it. A Deployment scaled to zero serves nothing, so it is not ready.
pub fn rollout(d: &Deployment) -> Rollout {
    rollout_with(d, 100)
}

/// [`rollout`] with a ready threshold: complete once `threshold` percent of the updated
/// replicas are available (rounded down, as Flagger does), the others may still start.
pub fn rollout_with(d: &Deployment, threshold: i32) -> Rollout {
    let name = d.metadata.name.as_deref().unwrap_or("");
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let Some(st) = &d.status else {
        return Rollout::InProgress("waiting for rollout to start".into());
    };
    let progressing = st
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Progressing");
    // Generation first, as `kubectl rollout status` does: a ProgressDeadlineExceeded left
    // over from an earlier revision says nothing about the rollout that just started.
    if d.metadata.generation > st.observed_generation {
        return Rollout::InProgress(
            "waiting for rollout to finish: observed deployment generation less than desired generation".into(),
        );
    }
    if progressing.is_some_and(|c| c.reason.as_deref() == Some("ProgressDeadlineExceeded")) {
        return Rollout::Failed(format!(
            "deployment {name:?} exceeded its progress deadline"
        ));
    }
    if want == 0 {
        return Rollout::InProgress("scaled to zero".into());
    }
    let updated = st.updated_replicas.unwrap_or(0);
    let replicas = st.replicas.unwrap_or(0);
    let available = st.available_replicas.unwrap_or(0);
    if updated < want {
        return Rollout::InProgress(format!(
            "waiting for rollout to finish: {updated} out of {want} new replicas have been updated"
        ));
    }
    if replicas > updated {
        return Rollout::InProgress(format!(
            "waiting for rollout to finish: {} old replicas are pending termination",
            replicas - updated
        ));
    }
    let needed = (i64::from(updated) * i64::from(threshold.clamp(0, 100)) / 100) as i32;
    if available < needed {
        let message = if threshold >= 100 {
            format!(
                "waiting for rollout to finish: {available} of {updated} updated replicas are available"
            )
        } else {
            format!(
                "waiting for rollout to finish: {available} of {updated} (readyThreshold {threshold}%) updated replicas are available"
            )
        };
        return Rollout::InProgress(message);
    }
    Rollout::Complete
}

/// Whether a Deployment has available replicas to send traffic to.
pub fn serving(d: &Deployment) -> bool {
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    want > 0
        && d.status
            .as_ref()
            .and_then(|s| s.available_replicas)
            .unwrap_or(0)
            > 0
}

/// The revision of the target: the hash of its pod template.
pub fn target_revision(d: &Deployment) -> String {
    revision_hash(&d.spec.as_ref().map(|s| &s.template))
}

/// The target as a workload; `revision` is its [`target_revision`].
pub fn target(d: &Deployment, revision: &str, threshold: i32) -> Workload {
    Workload {
        revision: revision.to_string(),
        replicas: replicas(d),
        rollout: rollout_with(d, threshold),
        serving: serving(d),
    }
}

/// The primary's revision is the one it was copied from, kept in an annotation.
pub fn primary(d: &Deployment, threshold: i32) -> Workload {
    let revision = d
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
        .cloned()
        .unwrap_or_default();
    Workload {
        revision,
        replicas: replicas(d),
        rollout: rollout_with(d, threshold),
        serving: serving(d),
    }
}

pub fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(spec_replicas: i32, status: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "podinfo", "generation": 2},
            "spec": {"replicas": spec_replicas, "selector": {}, "template": {}},
            "status": status
        }))
        .unwrap()
    }

    #[test]
    fn complete_when_every_replica_is_updated_and_available() {
        let d = deployment(
            2,
            json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}),
        );
        assert_eq!(rollout(&d), Rollout::Complete);
        assert!(serving(&d));
    }

    #[test]
    fn waits_for_the_new_generation_and_for_updates() {
        let d = deployment(
            2,
            json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}),
        );
        assert!(matches!(rollout(&d), Rollout::InProgress(_)));
        let d = deployment(
            2,
            json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 2}),
        );
        assert_eq!(
            rollout(&d),
            Rollout::InProgress(
                "waiting for rollout to finish: 1 out of 2 new replicas have been updated".into()
            )
        );
    }

    #[test]
    fn zero_replicas_is_not_ready_and_serves_nothing() {
        let d = deployment(0, json!({"observedGeneration": 2}));
        assert!(matches!(rollout(&d), Rollout::InProgress(_)));
        assert!(!serving(&d));
    }

    #[test]
    fn an_old_progress_deadline_does_not_fail_a_new_generation() {
        let d = deployment(
            1,
            json!({"observedGeneration": 1, "conditions": [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}),
        );
        assert!(matches!(rollout(&d), Rollout::InProgress(_)));
    }

    #[test]
    fn kubernetes_progress_deadline_is_a_failure() {
        let d = deployment(
            1,
            json!({"observedGeneration": 2, "conditions": [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}),
        );
        assert!(matches!(rollout(&d), Rollout::Failed(_)));
    }

    #[test]
    fn a_ready_threshold_counts_part_of_the_updated_replicas() {
        let half = deployment(
            4,
            json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 4, "availableReplicas": 2}),
        );
        assert_eq!(rollout_with(&half, 50), Rollout::Complete);
        assert_eq!(
            rollout_with(&half, 75),
            Rollout::InProgress(
                "waiting for rollout to finish: 2 of 4 (readyThreshold 75%) updated replicas are available".into()
            )
        );
        assert!(
            matches!(rollout(&half), Rollout::InProgress(_)),
            "default 100"
        );
        let spec: CanarySpec = serde_json::from_value(json!({
            "targetRef": {"kind": "Deployment", "name": "podinfo"},
            "service": {"port": 80},
            "analysis": {"stepWeight": 10, "canaryReadyThreshold": 50},
        }))
        .unwrap();
        assert_eq!(
            ReadyThresholds::of(&spec),
            ReadyThresholds {
                primary: 100,
                canary: 50
            }
        );
    }
}

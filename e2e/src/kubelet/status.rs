//! Translation between Deployment objects and the rollout model: what the
//! model needs from a Deployment, what its status currently says, and the
//! merge patch that writes a new status.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::rollout::{self, Condition, Spec, Status};
use super::{NEVER_READY_ENV, READY_REPLICAS_ANNOTATION};

/// Kubernetes' default `progressDeadlineSeconds`.
const DEFAULT_PROGRESS_DEADLINE_SECONDS: i32 = 600;

/// What the model needs to know about a Deployment.
pub fn spec_of(deployment: &Deployment) -> Spec {
    let spec = deployment.spec.as_ref();
    let replicas = spec.and_then(|s| s.replicas).unwrap_or(1).max(0);
    let template = spec.map(|s| &s.template);
    let strategy = spec.and_then(|s| s.strategy.as_ref());
    let rolling = strategy
        .and_then(|s| s.type_.as_deref())
        .is_none_or(|t| t != "Recreate");
    let rolling_update = strategy.and_then(|s| s.rolling_update.as_ref());
    let unavailable = rolling_update
        .and_then(|r| r.max_unavailable.as_ref())
        .map(int_or_string);
    let surge = rolling_update
        .and_then(|r| r.max_surge.as_ref())
        .map(int_or_string);
    let deadline = spec
        .and_then(|s| s.progress_deadline_seconds)
        .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECONDS);
    Spec {
        name: deployment.metadata.name.clone().unwrap_or_default(),
        generation: deployment.metadata.generation.unwrap_or(0),
        replicas,
        revision: template.map(template_hash).unwrap_or_default(),
        never_ready: template.is_some_and(never_ready),
        ready_cap: deployment
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(READY_REPLICAS_ANNOTATION))
            .and_then(|v| v.trim().parse::<i32>().ok()),
        progress_deadline: Duration::from_secs(u64::try_from(deadline).unwrap_or(0)),
        max_unavailable: rollout::max_unavailable(
            rolling,
            replicas,
            unavailable.as_deref(),
            surge.as_deref(),
        ),
    }
}

fn int_or_string(value: &IntOrString) -> String {
    match value {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

/// Whether any container of the template sets `SANDBOX_NEVER_READY=true`.
fn never_ready(template: &k8s_openapi::api::core::v1::PodTemplateSpec) -> bool {
    let Some(pod) = template.spec.as_ref() else {
        return false;
    };
    let init = pod.init_containers.iter().flatten();
    init.chain(&pod.containers)
        .flat_map(|c| c.env.iter().flatten())
        .any(|e| {
            e.name == NEVER_READY_ENV
                && e.value
                    .as_deref()
                    .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        })
}

/// A `pod-template-hash`-like name for the template: FNV-1a over its JSON,
/// encoded with the alphabet Kubernetes uses for generated names.
fn template_hash(template: &k8s_openapi::api::core::v1::PodTemplateSpec) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    // serde_json keeps object keys sorted, so equal templates hash equally.
    let json = serde_json::to_vec(template).unwrap_or_default();
    let hash = json.iter().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    });
    hash.to_string()
        .bytes()
        .map(|b| char::from(ALPHANUMS[usize::from(b) % ALPHANUMS.len()]))
        .collect()
}

/// Whether the Deployment's status already shows `spec` fully rolled out, so
/// that a restarted stand-in does not roll it out again.
pub fn shows_complete(deployment: &Deployment, spec: &Spec) -> bool {
    let observed = observed(deployment);
    let progressed = observed.conditions.iter().any(|c| {
        c.reason == "NewReplicaSetAvailable"
            && c.message
                .contains(&format!("\"{}\"", spec.replica_set_name()))
    });
    progressed
        && observed.observed_generation == spec.generation
        && observed.ready_replicas == spec.replicas
}

/// The Deployment's current status, in the model's terms.
pub fn observed(deployment: &Deployment) -> Status {
    let Some(status) = deployment.status.as_ref() else {
        return Status::default();
    };
    Status {
        observed_generation: status.observed_generation.unwrap_or(0),
        replicas: status.replicas.unwrap_or(0),
        updated_replicas: status.updated_replicas.unwrap_or(0),
        ready_replicas: status.ready_replicas.unwrap_or(0),
        available_replicas: status.available_replicas.unwrap_or(0),
        unavailable_replicas: status.unavailable_replicas.unwrap_or(0),
        conditions: status
            .conditions
            .iter()
            .flatten()
            .filter_map(model_condition)
            .collect(),
    }
}

/// Conditions the model does not produce are dropped, so that they count as
/// a difference and get replaced.
fn model_condition(c: &DeploymentCondition) -> Option<Condition> {
    let known = |s: &str, set: &[&'static str]| set.iter().copied().find(|k| *k == s);
    Some(Condition {
        type_: known(&c.type_, &["Available", "Progressing"])?,
        status: known(&c.status, &["True", "False"])?,
        reason: known(
            c.reason.as_deref()?,
            &[
                "MinimumReplicasAvailable",
                "MinimumReplicasUnavailable",
                "NewReplicaSetAvailable",
                "ProgressDeadlineExceeded",
                "ReplicaSetUpdated",
            ],
        )?,
        message: c.message.clone().unwrap_or_default(),
    })
}

/// The merge patch writing `desired`. Zero counts are removed, as Go's
/// `omitempty` leaves them out on a real server. Condition timestamps are
/// kept while the condition's status (transition) or reason (update) stays.
pub fn merge_patch(desired: &Status, current: Option<&DeploymentStatus>) -> Value {
    let count = |n: i32| if n == 0 { Value::Null } else { json!(n) };
    let now = Time(Timestamp::now());
    let conditions: Vec<DeploymentCondition> = desired
        .conditions
        .iter()
        .map(|c| {
            let old = current
                .and_then(|s| s.conditions.as_ref())
                .and_then(|cs| cs.iter().find(|o| o.type_ == c.type_));
            let same_status = old.is_some_and(|o| o.status == c.status);
            let same_reason =
                same_status && old.is_some_and(|o| o.reason.as_deref() == Some(c.reason));
            DeploymentCondition {
                type_: c.type_.to_owned(),
                status: c.status.to_owned(),
                reason: Some(c.reason.to_owned()),
                message: Some(c.message.clone()),
                last_transition_time: if same_status {
                    old.and_then(|o| o.last_transition_time.clone())
                } else {
                    None
                }
                .or_else(|| Some(now.clone())),
                last_update_time: if same_reason {
                    old.and_then(|o| o.last_update_time.clone())
                } else {
                    None
                }
                .or_else(|| Some(now.clone())),
            }
        })
        .collect();
    json!({
        "status": {
            "observedGeneration": desired.observed_generation,
            "replicas": count(desired.replicas),
            "updatedReplicas": count(desired.updated_replicas),
            "readyReplicas": count(desired.ready_replicas),
            "availableReplicas": count(desired.available_replicas),
            "unavailableReplicas": count(desired.unavailable_replicas),
            "conditions": conditions,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(yaml: &str) -> Deployment {
        serde_saphyr::from_str(yaml).expect("deployment yaml")
    }

    const APP: &str = r#"
metadata: {name: app, namespace: ns, generation: 3}
spec:
  replicas: 2
  progressDeadlineSeconds: 60
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers:
        - name: app
          image: app:1
          env: [{name: SANDBOX_NEVER_READY, value: "true"}]
"#;

    #[test]
    fn spec_reads_replicas_deadline_and_never_ready() {
        let spec = spec_of(&deployment(APP));
        assert_eq!(
            (spec.name.as_str(), spec.generation, spec.replicas),
            ("app", 3, 2)
        );
        assert_eq!(spec.progress_deadline, Duration::from_secs(60));
        assert!(spec.never_ready);
        assert_eq!(spec.max_unavailable, 0);
        assert!(!spec.revision.is_empty());
    }

    #[test]
    fn template_hash_changes_with_the_template_only() {
        let a = spec_of(&deployment(APP));
        let scaled = spec_of(&deployment(&APP.replace("replicas: 2", "replicas: 5")));
        let changed = spec_of(&deployment(&APP.replace("app:1", "app:2")));
        assert_eq!(a.revision, scaled.revision);
        assert_ne!(a.revision, changed.revision);
    }

    #[test]
    fn merge_patch_removes_zero_counts_and_keeps_timestamps() {
        let desired = Status {
            observed_generation: 3,
            replicas: 1,
            updated_replicas: 1,
            conditions: vec![Condition {
                type_: "Available",
                status: "False",
                reason: "MinimumReplicasUnavailable",
                message: "m".into(),
            }],
            ..Status::default()
        };
        let first = merge_patch(&desired, None);
        assert_eq!(first["status"]["readyReplicas"], Value::Null);
        assert_eq!(first["status"]["replicas"], json!(1));
        let written: DeploymentStatus =
            serde_json::from_value(first["status"].clone()).expect("status");
        let again = merge_patch(&desired, Some(&written));
        assert_eq!(again["status"]["conditions"], first["status"]["conditions"]);
    }

    #[test]
    fn observed_round_trips_a_written_status() {
        let desired = rollout::Track::new(
            &spec_of(&deployment(APP)),
            false,
            tokio::time::Instant::now(),
        )
        .status(&spec_of(&deployment(APP)), tokio::time::Instant::now());
        let mut d = deployment(APP);
        let patch = merge_patch(&desired, None);
        d.status = Some(serde_json::from_value(patch["status"].clone()).expect("status"));
        assert_eq!(observed(&d), desired);
    }
}

//! Autoscalers (`spec.autoscalerRef`): the primary gets its own copy of the target's
//! HorizontalPodAutoscaler or KEDA ScaledObject, so production stays autoscaled while the
//! target's autoscaler scales the canary.
//!
//! Pure: builders of the primary's autoscaler ([`build`]) and the small rules of who sizes
//! what ([`canary_replicas`], [`primary_replicas`]). The IO is in
//! `controller/autoscaling.rs`; the watches read [`resource`] and the RBAC [`rbac_rules`].

pub mod build;
#[cfg(test)]
mod tests;

use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::Value;

use crate::api::{AutoscalerKind, AutoscalerRef};
use crate::build::PRIMARY_SUFFIX;
use crate::rbac::Rule;

pub use build::primary_autoscaler;

/// KEDA's annotation that holds a ScaledObject's target at a fixed replica count.
pub const PAUSED_REPLICAS: &str = "autoscaling.keda.sh/paused-replicas";
/// KEDA's annotation that stops a ScaledObject where it is.
pub const PAUSED: &str = "autoscaling.keda.sh/paused";

/// How serin reads and writes each kind: the versions Flagger's `autoscalerRef` names.
pub fn resource(kind: AutoscalerKind) -> ApiResource {
    let gvk = match kind {
        AutoscalerKind::HorizontalPodAutoscaler => {
            GroupVersionKind::gvk("autoscaling", "v2", "HorizontalPodAutoscaler")
        }
        AutoscalerKind::ScaledObject => {
            GroupVersionKind::gvk("keda.sh", "v1alpha1", "ScaledObject")
        }
    };
    ApiResource::from_gvk(&gvk)
}

/// Name of the primary's autoscaler: the target's autoscaler's, suffixed `-primary`.
pub fn primary_name(aref: &AutoscalerRef) -> String {
    format!("{}{PRIMARY_SUFFIX}", aref.name)
}

/// The minimum replica count of an observed HPA (`minReplicas`, default 1) or ScaledObject
/// (`minReplicaCount`, default 0).
pub fn min_replicas(kind: AutoscalerKind, obj: &DynamicObject) -> i32 {
    let (field, default) = match kind {
        AutoscalerKind::HorizontalPodAutoscaler => ("minReplicas", 1),
        AutoscalerKind::ScaledObject => ("minReplicaCount", 0),
    };
    obj.data
        .pointer(&format!("/spec/{field}"))
        .and_then(Value::as_i64)
        .and_then(|n| i32::try_from(n).ok())
        .unwrap_or(default)
}

/// The replicas a canary starts a run with, as Flagger sizes it: its own if it has any,
/// else the minimum of its autoscaler (at least 1), so the analysis sees at least the
/// capacity production is guaranteed. `planned` is what the plan asked for without an
/// autoscaler (None or 0 leave the choice as it is).
pub fn canary_replicas(
    planned: Option<i32>,
    current: i32,
    autoscaler_min: Option<i32>,
) -> Option<i32> {
    match (planned, autoscaler_min) {
        (Some(n), Some(min)) if n > 0 && current == 0 => Some(min.max(1)),
        _ => planned,
    }
}

/// The replicas the primary's Deployment is applied with. While an autoscaler manages the
/// primary, serin writes back what the primary runs now, so copying a template at
/// promotion never resets the count the autoscaler chose to the target's.
pub fn primary_replicas(planned: i32, autoscaled: bool, primary_now: Option<i32>) -> i32 {
    match (autoscaled, primary_now) {
        (true, Some(n)) if n > 0 => n,
        _ => planned,
    }
}

/// Whether a ScaledObject named by the Canary is paused now, per its annotations.
pub fn paused_at(obj: &DynamicObject) -> Option<&str> {
    obj.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(PAUSED_REPLICAS))
        .map(String::as_str)
}

/// The merge patch that pauses a target's ScaledObject at 0 replicas (between runs) or
/// lifts the pause (during a run); None when it already is as wanted.
pub fn pause_patch(obj: &DynamicObject, paused: bool) -> Option<Value> {
    let now = paused_at(obj);
    let value = match (paused, now) {
        (true, Some("0")) | (false, None) => return None,
        (true, _) => Value::String("0".into()),
        (false, Some(_)) => Value::Null,
    };
    Some(serde_json::json!({ "metadata": { "annotations": { PAUSED_REPLICAS: value } } }))
}

/// The RBAC rules of the autoscaler kinds: watched, the primary's copy applied and deleted
/// at revert, a target's ScaledObject paused with merge patches.
pub const RULES: &[Rule] = &[
    Rule {
        api_groups: &["autoscaling"],
        resources: &["horizontalpodautoscalers"],
        verbs: &["list", "watch", "create", "patch", "delete"],
    },
    Rule {
        api_groups: &["keda.sh"],
        resources: &["scaledobjects"],
        verbs: &["list", "watch", "create", "patch", "delete"],
    },
];

/// See [`RULES`].
pub fn rbac_rules() -> &'static [Rule] {
    RULES
}

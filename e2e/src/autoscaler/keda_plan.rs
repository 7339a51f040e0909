//! What the KEDA stand-in does for one ScaledObject in one pass, and the
//! status it writes: pure functions of the spec, the pause annotations, the
//! target's replicas, the simulated activity and the time since the
//! ScaledObject was last active.

use std::time::Duration;

use serde_json::{Value, json};

use super::keda::{DEFAULT_COOLDOWN, Pause, ScaledObjectSpec};

/// The intent of one pass.
#[derive(Clone, Debug, PartialEq)]
pub struct KedaPlan {
    /// Whether the managed HPA must exist (false: delete it).
    pub keep_hpa: bool,
    /// Replicas to write through the target's scale subresource.
    pub scale_to: Option<i32>,
    /// `status.pausedReplicaCount`.
    pub paused_replicas: Option<i32>,
    /// New `Active` condition, when the pass evaluated the triggers.
    pub active: Option<bool>,
}

/// Decides one pass. `target` is the target's `spec.replicas` (none: the
/// target does not exist); `idle_for` is how long the triggers have been
/// inactive (zero while active).
pub fn decide(
    spec: &ScaledObjectSpec,
    pause: Pause,
    target: Option<i32>,
    active: bool,
    idle_for: Duration,
) -> KedaPlan {
    match pause {
        Pause::At(n) => {
            return KedaPlan {
                keep_hpa: false,
                scale_to: target.filter(|r| *r != n).map(|_| n),
                paused_replicas: Some(n),
                active: None,
            };
        }
        Pause::Here => {
            return KedaPlan {
                keep_hpa: false,
                scale_to: None,
                paused_replicas: None,
                active: None,
            };
        }
        Pause::None => {}
    }
    let scale_to = target.and_then(|current| activation(spec, current, active, idle_for));
    KedaPlan {
        keep_hpa: true,
        scale_to,
        paused_replicas: None,
        active: Some(active),
    }
}

/// KEDA's own scaling around the HPA: an active ScaledObject lifts a target
/// at zero (or at the idle count) to `max(minReplicaCount, 1)`; with
/// `minReplicaCount: 0`, an inactive one drops the target to the idle count
/// (or zero) once inactive for `cooldownPeriod`.
fn activation(
    spec: &ScaledObjectSpec,
    current: i32,
    active: bool,
    idle_for: Duration,
) -> Option<i32> {
    let idle = spec.idle_replica_count.unwrap_or(0);
    let floor = spec.min().max(1);
    if active {
        return (current < floor && (current == 0 || current == idle)).then_some(floor);
    }
    let cooldown = spec.cooldown_period.unwrap_or(DEFAULT_COOLDOWN).max(0) as u64;
    let cooled = idle_for >= Duration::from_secs(cooldown);
    (spec.min() == 0 && cooled && current > idle).then_some(idle)
}

/// The status after a pass: the previous one with KEDA's conditions, the
/// HPA name, the target's original replicas and the paused count.
pub fn status(
    previous: &Value,
    plan: &KedaPlan,
    invalid: Option<&str>,
    hpa_name: &str,
    target: Option<i32>,
) -> Value {
    let mut status = if previous.is_object() {
        previous.clone()
    } else {
        json!({})
    };
    let was_paused = condition(previous, "Paused").is_some_and(|c| c["status"] == "True");
    let mut set = |t: &str, s: &str, reason: &str, message: &str| {
        set_condition(&mut status, t, s, reason, message)
    };
    if let Some(error) = invalid {
        set("Ready", "False", "ScaledObjectCheckFailed", error);
        set(
            "Active",
            "Unknown",
            "UnknownState",
            "ScaledObject check failed",
        );
        return status;
    }
    set(
        "Ready",
        "True",
        "ScaledObjectReady",
        "ScaledObject is defined correctly and is ready for scaling",
    );
    match plan.active {
        Some(true) => set(
            "Active",
            "True",
            "ScalerActive",
            "Scaling is performed because triggers are active",
        ),
        Some(false) => set(
            "Active",
            "False",
            "ScalerNotActive",
            "Scaling is not performed because triggers are not active",
        ),
        None => {}
    }
    set(
        "Fallback",
        "False",
        "NoFallbackFound",
        "No fallbacks are active on this scaled object",
    );
    if !plan.keep_hpa {
        set(
            "Paused",
            "True",
            "ScaledObjectPaused",
            "ScaledObject is paused",
        );
    } else if was_paused {
        set(
            "Paused",
            "False",
            "ScaledObjectUnpaused",
            "pause annotation removed for ScaledObject",
        );
    }
    status["scaleTargetKind"] = json!("apps/v1.Deployment");
    if status
        .get("originalReplicaCount")
        .is_none_or(Value::is_null)
        && let Some(replicas) = target
    {
        status["originalReplicaCount"] = json!(replicas);
    }
    match plan.paused_replicas {
        Some(n) => status["pausedReplicaCount"] = json!(n),
        None => {
            if let Some(map) = status.as_object_mut() {
                map.remove("pausedReplicaCount");
            }
        }
    }
    if plan.keep_hpa {
        status["hpaName"] = json!(hpa_name);
    }
    status
}

fn condition<'a>(status: &'a Value, type_: &str) -> Option<&'a Value> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

fn set_condition(status: &mut Value, type_: &str, s: &str, reason: &str, message: &str) {
    let fresh = json!({"type": type_, "status": s, "reason": reason, "message": message});
    if !status["conditions"].is_array() {
        status["conditions"] = json!([]);
    }
    let Some(list) = status["conditions"].as_array_mut() else {
        return;
    };
    match list.iter_mut().find(|c| c["type"] == type_) {
        Some(existing) => *existing = fresh,
        None => list.push(fresh),
    }
}

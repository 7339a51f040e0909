//! HPA condition types, reasons and messages as the real controller writes
//! them, and the pure merge of a pass's conditions into the previous status.

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscalerCondition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

pub const ABLE_TO_SCALE: &str = "AbleToScale";
pub const SCALING_ACTIVE: &str = "ScalingActive";
pub const SCALING_LIMITED: &str = "ScalingLimited";

pub const SUCCEEDED_GET_SCALE: &str = "SucceededGetScale";
pub const FAILED_GET_SCALE: &str = "FailedGetScale";
pub const SUCCEEDED_RESCALE: &str = "SucceededRescale";
pub const FAILED_UPDATE_SCALE: &str = "FailedUpdateScale";
pub const READY_FOR_NEW_SCALE: &str = "ReadyForNewScale";
pub const SCALE_UP_STABILIZED: &str = "ScaleUpStabilized";
pub const SCALE_DOWN_STABILIZED: &str = "ScaleDownStabilized";
pub const SCALING_DISABLED: &str = "ScalingDisabled";
pub const VALID_METRIC_FOUND: &str = "ValidMetricFound";
pub const DESIRED_WITHIN_RANGE: &str = "DesiredWithinRange";
pub const TOO_MANY_REPLICAS: &str = "TooManyReplicas";
pub const TOO_FEW_REPLICAS: &str = "TooFewReplicas";
pub const SCALE_UP_LIMIT: &str = "ScaleUpLimit";

/// One condition to set: type, status, reason, message.
#[derive(Clone, Debug, PartialEq)]
pub struct Cond {
    pub type_: &'static str,
    pub status: &'static str,
    pub reason: &'static str,
    pub message: String,
}

fn cond(type_: &'static str, ok: bool, reason: &'static str, message: String) -> Cond {
    let status = if ok { "True" } else { "False" };
    Cond {
        type_,
        status,
        reason,
        message,
    }
}

/// `AbleToScale=True` with one of the reasons that need no argument.
pub fn able(reason: &'static str) -> Cond {
    let message = match reason {
        SUCCEEDED_GET_SCALE => "the HPA controller was able to get the target's current scale",
        SCALE_UP_STABILIZED => {
            "recent recommendations were lower than current one, applying the lowest recent recommendation"
        }
        SCALE_DOWN_STABILIZED => {
            "recent recommendations were higher than current one, applying the highest recent recommendation"
        }
        _ => "recommended size matches current size",
    };
    cond(ABLE_TO_SCALE, true, reason, message.to_owned())
}

pub fn failed_get_scale(error: &str) -> Cond {
    let message =
        format!("the HPA controller was unable to get the target's current scale: {error}");
    cond(ABLE_TO_SCALE, false, FAILED_GET_SCALE, message)
}

pub fn rescaled(replicas: i32) -> Cond {
    let message = format!("the HPA controller was able to update the target scale to {replicas}");
    cond(ABLE_TO_SCALE, true, SUCCEEDED_RESCALE, message)
}

pub fn failed_rescale(error: &str) -> Cond {
    let message = format!("the HPA controller was unable to update the target scale: {error}");
    cond(ABLE_TO_SCALE, false, FAILED_UPDATE_SCALE, message)
}

pub fn scaling_disabled() -> Cond {
    let message = "scaling is disabled since the replica count of the target is zero";
    cond(SCALING_ACTIVE, false, SCALING_DISABLED, message.to_owned())
}

pub fn valid_metric(metric: &str) -> Cond {
    let message =
        format!("the HPA was able to successfully calculate a replica count from {metric}");
    cond(SCALING_ACTIVE, true, VALID_METRIC_FOUND, message)
}

/// `ScalingLimited`, true when the limit changed the recommendation.
pub fn limited(limited: bool, reason: &'static str) -> Cond {
    let message = match reason {
        TOO_MANY_REPLICAS => "the desired replica count is more than the maximum replica count",
        TOO_FEW_REPLICAS => "the desired replica count is less than the minimum replica count",
        SCALE_UP_LIMIT => {
            "the desired replica count is increasing faster than the maximum scale rate"
        }
        _ => "the desired count is within the acceptable range",
    };
    cond(SCALING_LIMITED, limited, reason, message.to_owned())
}

/// The previous conditions with `set` applied in order, as the controller's
/// `setCondition` does: an existing type keeps its place and keeps its
/// `lastTransitionTime` unless its status flips; a new type is appended.
pub fn merge(
    previous: &[HorizontalPodAutoscalerCondition],
    set: &[Cond],
    now: &Time,
) -> Vec<HorizontalPodAutoscalerCondition> {
    let mut out = previous.to_vec();
    for c in set {
        let fresh = HorizontalPodAutoscalerCondition {
            type_: c.type_.to_owned(),
            status: c.status.to_owned(),
            reason: Some(c.reason.to_owned()),
            message: Some(c.message.clone()),
            last_transition_time: Some(now.clone()),
        };
        match out.iter_mut().find(|o| o.type_ == c.type_) {
            Some(existing) => {
                if existing.status == c.status {
                    let since = existing.last_transition_time.clone();
                    *existing = HorizontalPodAutoscalerCondition {
                        last_transition_time: since,
                        ..fresh
                    };
                } else {
                    *existing = fresh;
                }
            }
            None => out.push(fresh),
        }
    }
    out
}

//! The HPA controller's decision for one HorizontalPodAutoscaler, as a pure
//! function of its spec, the target's replicas, the simulated utilisation and
//! the recent recommendations: no client, no clock of its own.
//!
//! It follows the order of the real controller's `reconcileAutoscaler`: a
//! target at zero replicas disables scaling; a target outside min/max is
//! brought to the bound without looking at metrics; otherwise the metrics
//! propose `ceil(current × ratio)` (no change within the 10 % tolerance), the
//! proposal is stabilised over the recent recommendations, limited to
//! `max(2 × current, 4)` per step and clamped to min/max.

use std::time::Duration;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscalerSpec;
use tokio::time::Instant;

use super::conditions::{self as cond, Cond};

/// The real controller's default `--horizontal-pod-autoscaler-tolerance`.
pub const TOLERANCE: f64 = 0.1;

/// What one pass decided: the scale to write, the status numbers and the
/// conditions to set (in this order, over the previous ones).
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Replicas to write through the scale subresource, if they change.
    pub scale_to: Option<i32>,
    /// The target's `spec.replicas` when the pass began.
    pub current: i32,
    /// `status.desiredReplicas`.
    pub desired: i32,
    pub conditions: Vec<Cond>,
    /// Whether the metrics were read (then `currentMetrics` is written).
    pub metrics_read: bool,
}

/// Recommendations of recent passes, for the stabilisation windows.
#[derive(Clone, Debug, Default)]
pub struct Recommendations(Vec<(Instant, i32)>);

/// Stabilisation windows of one HPA.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Windows {
    pub up: Duration,
    pub down: Duration,
}

/// The windows the spec asks for; `default_down` stands for the controller's
/// `--horizontal-pod-autoscaler-downscale-stabilization` (300 s in a real
/// cluster), which also applies when `behavior` leaves scale-down unset.
pub fn windows(spec: &HorizontalPodAutoscalerSpec, default_down: Duration) -> Windows {
    let seconds = |s: Option<i32>| Duration::from_secs(s.unwrap_or(0).max(0) as u64);
    let behavior = spec.behavior.as_ref();
    let up = behavior
        .and_then(|b| b.scale_up.as_ref())
        .and_then(|r| r.stabilization_window_seconds);
    let down = behavior
        .and_then(|b| b.scale_down.as_ref())
        .and_then(|r| r.stabilization_window_seconds);
    Windows {
        up: seconds(up),
        down: down.map_or(default_down, |d| seconds(Some(d))),
    }
}

/// Decides one pass. `current` is the target's `spec.replicas`; `ratio` is
/// the simulated utilisation over the target (1.0 = at target).
pub fn decide(
    spec: &HorizontalPodAutoscalerSpec,
    current: i32,
    ratio: f64,
    windows: Windows,
    recommendations: &mut Recommendations,
    now: Instant,
) -> Plan {
    let min = spec.min_replicas.unwrap_or(1);
    let max = spec.max_replicas;
    if recommendations.0.is_empty() {
        recommendations.0.push((now, current));
    }
    let mut conditions = vec![cond::able(cond::SUCCEEDED_GET_SCALE)];
    if current == 0 && min != 0 {
        conditions.push(cond::scaling_disabled());
        return Plan {
            scale_to: None,
            current,
            desired: 0,
            conditions,
            metrics_read: false,
        };
    }
    let bound = if current > max {
        Some(max)
    } else if current < min {
        Some(min)
    } else {
        None
    };
    if let Some(bound) = bound {
        return Plan {
            scale_to: Some(bound),
            current,
            desired: bound,
            conditions,
            metrics_read: false,
        };
    }
    conditions.push(cond::valid_metric(&metric_name(spec)));
    let proposal = proposal(current, ratio);
    let stabilised = recommendations.stabilise(proposal, current, windows, now);
    conditions.push(if stabilised == proposal {
        cond::able(cond::READY_FOR_NEW_SCALE)
    } else if proposal > current {
        cond::able(cond::SCALE_UP_STABILIZED)
    } else {
        cond::able(cond::SCALE_DOWN_STABILIZED)
    });
    let (desired, limit) = limit(current, stabilised, min, max);
    conditions.push(cond::limited(desired != stabilised, limit));
    Plan {
        scale_to: (desired != current).then_some(desired),
        current,
        desired,
        conditions,
        metrics_read: true,
    }
}

/// `ceil(current × ratio)`, or `current` within the tolerance.
pub fn proposal(current: i32, ratio: f64) -> i32 {
    if !ratio.is_finite() || ratio < 0.0 || (ratio - 1.0).abs() <= TOLERANCE {
        return current;
    }
    let wanted = (f64::from(current) * ratio).ceil();
    wanted.min(f64::from(i32::MAX)) as i32
}

/// The replicas a proposal may reach this step, and the reason of the limit
/// (the real controller's `convertDesiredReplicasWithRules`).
pub fn limit(current: i32, proposal: i32, min: i32, max: i32) -> (i32, &'static str) {
    let scale_up_limit = current.saturating_mul(2).max(4);
    let (ceiling, reason) = if max > scale_up_limit {
        (scale_up_limit, cond::SCALE_UP_LIMIT)
    } else {
        (max, cond::TOO_MANY_REPLICAS)
    };
    if proposal < min {
        (min, cond::TOO_FEW_REPLICAS)
    } else if proposal > ceiling {
        (ceiling, reason)
    } else {
        (proposal, cond::DESIRED_WITHIN_RANGE)
    }
}

impl Recommendations {
    /// Records `proposal` and returns the stabilised recommendation: the
    /// lowest of the scale-up window when going up, the highest of the
    /// scale-down window when going down.
    fn stabilise(&mut self, proposal: i32, current: i32, windows: Windows, now: Instant) -> i32 {
        let within = |window: Duration| {
            let cutoff = now.checked_sub(window);
            self.0
                .iter()
                .filter(move |(at, _)| cutoff.is_none_or(|c| *at > c))
                .map(|(_, r)| *r)
        };
        let stabilised = if proposal >= current {
            within(windows.up).fold(proposal, i32::min)
        } else {
            within(windows.down).fold(proposal, i32::max)
        };
        let keep = windows.up.max(windows.down);
        self.0
            .retain(|(at, _)| now.checked_sub(keep).is_none_or(|c| *at > c));
        self.0.push((now, proposal));
        stabilised
    }
}

/// How the real controller names the metric that decided, e.g.
/// `cpu resource utilization (percentage of request)`.
fn metric_name(spec: &HorizontalPodAutoscalerSpec) -> String {
    let Some(metric) = spec.metrics.as_ref().and_then(|m| m.first()) else {
        return "cpu resource utilization (percentage of request)".to_owned();
    };
    match metric.type_.as_str() {
        "Resource" => {
            let resource = metric.resource.as_ref();
            let name = resource.map_or("cpu", |r| r.name.as_str());
            let utilisation = resource.is_some_and(|r| r.target.type_ == "Utilization");
            if utilisation {
                format!("{name} resource utilization (percentage of request)")
            } else {
                format!("{name} resource")
            }
        }
        "External" => {
            let name = metric.external.as_ref().map(|e| e.metric.name.as_str());
            format!("external metric {}", name.unwrap_or_default())
        }
        "Pods" => {
            let name = metric.pods.as_ref().map(|p| p.metric.name.as_str());
            format!("pods metric {}", name.unwrap_or_default())
        }
        other => format!("{} metric", other.to_lowercase()),
    }
}

//! The HPA status a pass writes, built from its [`Plan`] and the outcome of
//! the scale write: `currentReplicas`, `desiredReplicas`, `lastScaleTime`,
//! `currentMetrics` and the merged conditions. Pure.

use k8s_openapi::api::autoscaling::v2::{
    ExternalMetricStatus, HorizontalPodAutoscalerSpec, HorizontalPodAutoscalerStatus, MetricStatus,
    MetricValueStatus, PodsMetricStatus, ResourceMetricStatus,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::conditions::{self as cond, Cond};
use super::hpa::Plan;

/// How the scale write went; `None` when there was none to make.
pub type Rescale = Option<Result<(), String>>;

/// The status after one pass.
pub fn build(
    spec: &HorizontalPodAutoscalerSpec,
    previous: Option<&HorizontalPodAutoscalerStatus>,
    plan: &Plan,
    rescale: &Rescale,
    ratio: f64,
    now: &Time,
) -> HorizontalPodAutoscalerStatus {
    let previous = previous.cloned().unwrap_or_default();
    let mut set: Vec<Cond> = plan.conditions.clone();
    let (desired, scaled) = match rescale {
        Some(Ok(())) => {
            set.push(cond::rescaled(plan.desired));
            (plan.desired, true)
        }
        Some(Err(error)) => {
            set.push(cond::failed_rescale(error));
            // The controller keeps the previous desired count after a failed write.
            (previous.desired_replicas, false)
        }
        None => (plan.current, false),
    };
    let conditions = cond::merge(
        previous.conditions.as_deref().unwrap_or_default(),
        &set,
        now,
    );
    let current_metrics = if plan.metrics_read {
        Some(current_metrics(spec, ratio)).filter(|m| !m.is_empty())
    } else {
        None
    };
    HorizontalPodAutoscalerStatus {
        current_replicas: Some(plan.current),
        desired_replicas: desired,
        last_scale_time: if scaled {
            Some(now.clone())
        } else {
            previous.last_scale_time
        },
        current_metrics,
        conditions: Some(conditions),
        observed_generation: previous.observed_generation,
    }
}

/// The status after a pass that could not read the target's scale: only the
/// `AbleToScale` condition changes.
pub fn failed_get_scale(
    previous: Option<&HorizontalPodAutoscalerStatus>,
    error: &str,
    now: &Time,
) -> HorizontalPodAutoscalerStatus {
    let previous = previous.cloned().unwrap_or_default();
    let conditions = cond::merge(
        previous.conditions.as_deref().unwrap_or_default(),
        &[cond::failed_get_scale(error)],
        now,
    );
    HorizontalPodAutoscalerStatus {
        conditions: Some(conditions),
        ..previous
    }
}

/// Every metric's current value, `ratio` times its target. Utilisation
/// targets give `averageUtilization`; plain-number value targets give a
/// milli-quantity; targets in other units are left out (the sandbox has no
/// unit arithmetic for them).
pub fn current_metrics(spec: &HorizontalPodAutoscalerSpec, ratio: f64) -> Vec<MetricStatus> {
    let metrics = spec.metrics.as_deref().unwrap_or_default();
    metrics
        .iter()
        .filter_map(|m| match m.type_.as_str() {
            "Resource" => {
                let r = m.resource.as_ref()?;
                let current = scaled_value(&r.target, ratio)?;
                Some(MetricStatus {
                    type_: m.type_.clone(),
                    resource: Some(ResourceMetricStatus {
                        name: r.name.clone(),
                        current,
                    }),
                    ..MetricStatus::default()
                })
            }
            "External" => {
                let e = m.external.as_ref()?;
                let current = scaled_value(&e.target, ratio)?;
                Some(MetricStatus {
                    type_: m.type_.clone(),
                    external: Some(ExternalMetricStatus {
                        metric: e.metric.clone(),
                        current,
                    }),
                    ..MetricStatus::default()
                })
            }
            "Pods" => {
                let p = m.pods.as_ref()?;
                let current = scaled_value(&p.target, ratio)?;
                Some(MetricStatus {
                    type_: m.type_.clone(),
                    pods: Some(PodsMetricStatus {
                        metric: p.metric.clone(),
                        current,
                    }),
                    ..MetricStatus::default()
                })
            }
            _ => None,
        })
        .collect()
}

fn scaled_value(
    target: &k8s_openapi::api::autoscaling::v2::MetricTarget,
    ratio: f64,
) -> Option<MetricValueStatus> {
    if let Some(utilisation) = target.average_utilization {
        let current = (f64::from(utilisation) * ratio).round();
        return Some(MetricValueStatus {
            average_utilization: Some(current.clamp(0.0, f64::from(i32::MAX)) as i32),
            ..MetricValueStatus::default()
        });
    }
    if let Some(value) = target.average_value.as_ref().and_then(|q| milli(q, ratio)) {
        return Some(MetricValueStatus {
            average_value: Some(value),
            ..MetricValueStatus::default()
        });
    }
    let value = target.value.as_ref().and_then(|q| milli(q, ratio))?;
    Some(MetricValueStatus {
        value: Some(value),
        ..MetricValueStatus::default()
    })
}

/// `q × ratio` as a milli-quantity, for `q` a plain number or milli-number.
pub fn milli(q: &Quantity, ratio: f64) -> Option<Quantity> {
    let text = q.0.trim();
    let (number, scale) = match text.strip_suffix('m') {
        Some(n) => (n, 1.0),
        None => (text, 1000.0),
    };
    let value: f64 = number.parse().ok()?;
    let millis = (value * scale * ratio).round();
    (millis.is_finite() && millis >= 0.0).then(|| Quantity(format!("{}m", millis as i64)))
}

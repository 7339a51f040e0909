//! The HPA decision and status, without a cluster or a runtime.

use std::time::Duration;

use k8s_openapi::api::autoscaling::v2::{
    HorizontalPodAutoscalerSpec, HorizontalPodAutoscalerStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::json;
use tokio::time::Instant;

use super::conditions::{self as cond};
use super::hpa::{Recommendations, Windows, decide, limit, proposal, windows};
use super::hpa_status::{build, current_metrics, failed_get_scale};

fn spec(min: i32, max: i32) -> HorizontalPodAutoscalerSpec {
    serde_json::from_value(json!({
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": min, "maxReplicas": max,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": 80}}}]
    }))
    .expect("spec")
}

const NO_WINDOWS: Windows = Windows {
    up: Duration::ZERO,
    down: Duration::ZERO,
};

fn time(second: i64) -> Time {
    Time(Timestamp::from_second(second).expect("time"))
}

fn reasons(conditions: &[cond::Cond]) -> Vec<(&str, &str, &str)> {
    conditions
        .iter()
        .map(|c| (c.type_, c.status, c.reason))
        .collect()
}

#[test]
fn proposal_is_ceil_of_ratio_outside_tolerance() {
    assert_eq!(proposal(2, 1.5), 3);
    assert_eq!(proposal(3, 1.5), 5);
    assert_eq!(proposal(4, 1.05), 4, "within the 10 % tolerance");
    // As in the real controller, 110 % is a hair outside it in floating point.
    assert_eq!(proposal(4, 88.0 / 80.0), 5);
    assert_eq!(proposal(4, 0.95), 4);
    assert_eq!(proposal(4, 0.5), 2);
    assert_eq!(proposal(4, 0.0), 0);
    assert_eq!(proposal(4, f64::NAN), 4);
    assert_eq!(proposal(4, -1.0), 4);
    assert_eq!(proposal(i32::MAX, 10.0), i32::MAX, "no overflow");
}

#[test]
fn limits_follow_the_real_controller() {
    assert_eq!(limit(2, 3, 1, 10), (3, cond::DESIRED_WITHIN_RANGE));
    assert_eq!(limit(2, 9, 1, 4), (4, cond::TOO_MANY_REPLICAS));
    assert_eq!(limit(2, 9, 1, 5), (4, cond::SCALE_UP_LIMIT));
    assert_eq!(limit(2, 9, 1, 10), (4, cond::SCALE_UP_LIMIT));
    assert_eq!(limit(5, 12, 1, 20), (10, cond::SCALE_UP_LIMIT));
    assert_eq!(limit(4, 1, 2, 10), (2, cond::TOO_FEW_REPLICAS));
}

#[test]
fn zero_replicas_disable_scaling() {
    let mut recs = Recommendations::default();
    let plan = decide(&spec(1, 5), 0, 3.0, NO_WINDOWS, &mut recs, Instant::now());
    assert_eq!((plan.scale_to, plan.current, plan.desired), (None, 0, 0));
    assert_eq!(
        reasons(&plan.conditions),
        [
            ("AbleToScale", "True", "SucceededGetScale"),
            ("ScalingActive", "False", "ScalingDisabled")
        ]
    );
    let status = build(&spec(1, 5), None, &plan, &None, 3.0, &time(10));
    assert_eq!(
        (status.current_replicas, status.desired_replicas),
        (Some(0), 0)
    );
    assert!(status.last_scale_time.is_none() && status.current_metrics.is_none());
}

#[test]
fn min_zero_still_scales_from_zero() {
    let mut recs = Recommendations::default();
    let plan = decide(&spec(0, 5), 0, 1.0, NO_WINDOWS, &mut recs, Instant::now());
    assert_eq!(plan.scale_to, None, "at min already, at target");
    assert!(plan.metrics_read);
}

#[test]
fn outside_bounds_goes_to_the_bound_without_metrics() {
    let mut recs = Recommendations::default();
    let now = Instant::now();
    let below = decide(&spec(2, 5), 1, 1.0, NO_WINDOWS, &mut recs, now);
    assert_eq!(
        (below.scale_to, below.desired, below.metrics_read),
        (Some(2), 2, false)
    );
    let above = decide(&spec(2, 5), 8, 0.1, NO_WINDOWS, &mut recs, now);
    assert_eq!((above.scale_to, above.desired), (Some(5), 5));
    let status = build(&spec(2, 5), None, &above, &Some(Ok(())), 0.1, &time(10));
    assert_eq!(
        (status.current_replicas, status.desired_replicas),
        (Some(8), 5)
    );
    assert_eq!(status.last_scale_time, Some(time(10)));
    let last = status.conditions.as_deref().unwrap_or_default();
    assert_eq!(last[0].reason.as_deref(), Some(cond::SUCCEEDED_RESCALE));
}

#[test]
fn raised_utilisation_scales_up_within_max() {
    let mut recs = Recommendations::default();
    let now = Instant::now();
    let plan = decide(&spec(1, 4), 2, 2.5, NO_WINDOWS, &mut recs, now);
    assert_eq!((plan.scale_to, plan.desired), (Some(4), 4));
    assert_eq!(
        reasons(&plan.conditions),
        [
            ("AbleToScale", "True", "SucceededGetScale"),
            ("ScalingActive", "True", "ValidMetricFound"),
            ("AbleToScale", "True", "ReadyForNewScale"),
            ("ScalingLimited", "True", "TooManyReplicas"),
        ]
    );
    let status = build(&spec(1, 4), None, &plan, &Some(Ok(())), 2.5, &time(5));
    let metrics = serde_json::to_value(&status.current_metrics).expect("json");
    assert_eq!(metrics[0]["resource"]["current"]["averageUtilization"], 200);
    let conditions = status.conditions.unwrap_or_default();
    let types: Vec<&str> = conditions.iter().map(|c| c.type_.as_str()).collect();
    assert_eq!(types, ["AbleToScale", "ScalingActive", "ScalingLimited"]);
}

#[test]
fn scale_down_waits_for_the_window() {
    let windows = Windows {
        up: Duration::ZERO,
        down: Duration::from_secs(60),
    };
    let mut recs = Recommendations::default();
    let start = Instant::now();
    let plan = decide(&spec(1, 10), 4, 0.5, windows, &mut recs, start);
    assert_eq!(plan.scale_to, None, "the first sight of 4 replicas holds");
    assert_eq!(plan.conditions[2].reason, cond::SCALE_DOWN_STABILIZED);
    let later = start + Duration::from_secs(61);
    let plan = decide(&spec(1, 10), 4, 0.5, windows, &mut recs, later);
    assert_eq!(plan.scale_to, Some(2));
}

#[test]
fn scale_up_is_immediate_and_never_below_min() {
    let mut recs = Recommendations::default();
    let now = Instant::now();
    let plan = decide(&spec(2, 10), 2, 0.1, NO_WINDOWS, &mut recs, now);
    assert_eq!(
        (plan.scale_to, plan.desired),
        (None, 2),
        "TooFewReplicas holds min"
    );
    assert_eq!(plan.conditions[3].reason, cond::TOO_FEW_REPLICAS);
    let plan = decide(&spec(2, 10), 2, 3.0, NO_WINDOWS, &mut recs, now);
    assert_eq!(plan.scale_to, Some(4), "scale-up limit of max(2 × 2, 4)");
}

#[test]
fn behaviour_windows_override_the_default() {
    let mut s = spec(1, 5);
    s.behavior = serde_json::from_value(json!({
        "scaleUp": {"stabilizationWindowSeconds": 30},
        "scaleDown": {"stabilizationWindowSeconds": 0}
    }))
    .expect("behavior");
    let w = windows(&s, Duration::from_secs(300));
    assert_eq!((w.up, w.down), (Duration::from_secs(30), Duration::ZERO));
    let w = windows(&spec(1, 5), Duration::from_secs(7));
    assert_eq!((w.up, w.down), (Duration::ZERO, Duration::from_secs(7)));
}

#[test]
fn conditions_keep_their_transition_time_until_they_flip() {
    let mut recs = Recommendations::default();
    let now = Instant::now();
    let plan = decide(&spec(1, 5), 2, 1.0, NO_WINDOWS, &mut recs, now);
    let first = build(&spec(1, 5), None, &plan, &None, 1.0, &time(10));
    let again = build(&spec(1, 5), Some(&first), &plan, &None, 1.0, &time(20));
    assert_eq!(first, again, "no change, nothing to write");
    let zero = decide(&spec(1, 5), 0, 1.0, NO_WINDOWS, &mut recs, now);
    let flipped = build(&spec(1, 5), Some(&again), &zero, &None, 1.0, &time(30));
    let active = flipped.conditions.unwrap_or_default();
    let active = active
        .iter()
        .find(|c| c.type_ == "ScalingActive")
        .expect("active");
    assert_eq!(active.last_transition_time, Some(time(30)));
}

#[test]
fn failed_writes_and_missing_targets_are_conditions() {
    let mut recs = Recommendations::default();
    let plan = decide(&spec(1, 5), 2, 2.0, NO_WINDOWS, &mut recs, Instant::now());
    let previous = HorizontalPodAutoscalerStatus {
        desired_replicas: 2,
        ..Default::default()
    };
    let failed = Some(Err("conflict".to_owned()));
    let status = build(&spec(1, 5), Some(&previous), &plan, &failed, 2.0, &time(1));
    assert_eq!(status.desired_replicas, 2);
    let able = &status.conditions.unwrap_or_default()[0];
    assert_eq!(
        (able.status.as_str(), able.reason.as_deref()),
        ("False", Some(cond::FAILED_UPDATE_SCALE))
    );
    let missing = failed_get_scale(None, "deployments.apps \"web\" not found", &time(1));
    let able = &missing.conditions.unwrap_or_default()[0];
    assert_eq!(able.reason.as_deref(), Some(cond::FAILED_GET_SCALE));
}

#[test]
fn value_targets_scale_in_milli_units() {
    let s: HorizontalPodAutoscalerSpec = serde_json::from_value(json!({
        "scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3,
        "metrics": [
            {"type": "External", "external": {"metric": {"name": "s0-prometheus"},
                "target": {"type": "AverageValue", "averageValue": "10"}}},
            {"type": "Pods", "pods": {"metric": {"name": "rps"},
                "target": {"type": "AverageValue", "averageValue": "500m"}}},
            {"type": "Resource", "resource": {"name": "memory",
                "target": {"type": "AverageValue", "averageValue": "1Gi"}}}
        ]
    }))
    .expect("spec");
    let metrics = serde_json::to_value(current_metrics(&s, 1.5)).expect("json");
    assert_eq!(metrics[0]["external"]["current"]["averageValue"], "15000m");
    assert_eq!(metrics[1]["pods"]["current"]["averageValue"], "750m");
    assert_eq!(
        metrics.as_array().map(Vec::len),
        Some(2),
        "no unit arithmetic for Gi"
    );
}

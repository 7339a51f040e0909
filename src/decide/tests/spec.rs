//! Spec problems, suspension and verdicts.

use super::*;

#[test]
fn a_missing_target_is_reported_once_not_on_every_reconcile() {
    let obs = Observation::default();
    let d = decide(
        &who(),
        &Ok(settings()),
        &[],
        false,
        &CanaryStatus::default(),
        &obs,
        t(0),
    );
    let again = decide(&who(), &Ok(settings()), &[], false, &d.status, &obs, t(1));
    assert_eq!(again.status, d.status, "no status write");
    assert!(again.events.is_empty(), "no second Warning");
}

#[test]
fn a_suspended_canary_is_frozen() {
    let mut c = Canary::progressing();
    c.suspended = true;
    let before = c.status.clone();
    let d = c.step(Some(ready("v3")), Some(ready("v1")), None, t(500));
    assert_eq!(d.status, before);
    assert_eq!(d.next, Next::Idle);
}

#[test]
fn an_invalid_spec_is_reported_once_and_waits_for_a_change() {
    let status = CanaryStatus::default();
    let err: Result<Settings, SpecError> = Err(SpecError::Provider("linkerd".into()));
    let obs = Observation {
        target: Some(ready("v1")),
        ..Default::default()
    };
    let d = decide(&who(), &err, &[], false, &status, &obs, t(0));
    assert_eq!(d.events.len(), 1);
    assert_eq!(d.next, Next::Idle);
    let again = decide(&who(), &err, &[], false, &d.status, &obs, t(1));
    assert!(again.events.is_empty());
    assert_eq!(again.status, d.status);
}

#[test]
fn unsupported_fields_are_reported_once() {
    let obs = Observation {
        target: Some(ready("v1")),
        primary: Some(ready("v1")),
        inputs: Inputs::default(),
        ..Default::default()
    };
    let d = decide(
        &who(),
        &Ok(settings()),
        &["analysis.webhooks"],
        false,
        &CanaryStatus::default(),
        &obs,
        t(0),
    );
    assert!(
        d.events
            .iter()
            .any(|e| e.warning && e.message.contains("analysis.webhooks"))
    );
    let again = decide(
        &who(),
        &Ok(settings()),
        &["analysis.webhooks"],
        false,
        &d.status,
        &obs,
        t(1),
    );
    assert!(again.events.iter().all(|e| !e.message.contains("webhooks")));
    assert_eq!(
        again
            .status
            .condition(conditions::SUPPORTED)
            .unwrap()
            .status,
        "False"
    );
}

#[test]
fn a_missing_target_is_reported() {
    let obs = Observation::default();
    let d = decide(
        &who(),
        &Ok(settings()),
        &[],
        false,
        &CanaryStatus::default(),
        &obs,
        t(0),
    );
    assert_eq!(
        d.status.condition(conditions::VALID).unwrap().reason,
        "TargetNotFound"
    );
}

#[test]
fn metric_thresholds_feed_verdicts() {
    let m = CanaryMetric {
        name: "latency".into(),
        threshold_range: Some(ThresholdRange {
            min: None,
            max: Some(500.0),
        }),
        ..Default::default()
    };
    let c = verdict::judge(&m, "q", &verdict::Outcome::Value(501.0), t(0));
    assert_eq!(c.verdict, Verdict::Fail);
}

#[test]
fn objects_are_left_alone_when_suspended_or_without_a_target() {
    let mut c = Canary::progressing();
    c.suspended = true;
    let d = c.step(Some(ready("v2")), Some(ready("v1")), None, t(30));
    assert_eq!(d.plan, None, "suspended: nothing to converge");
    // Outside a run (mid-run, see the next test) a missing target leaves all alone.
    let mut c = Canary::initialized();
    let d = c.step(None, Some(ready("v1")), None, t(30));
    assert_eq!(d.plan, None, "no target: nothing to converge");
}

#[test]
fn the_plan_routes_the_recorded_weight_to_serving_workloads() {
    let mut c = Canary::progressing();
    let d = c.step(Some(ready("v2")), Some(ready("v1")), None, t(30));
    let plan = d.plan.expect("a plan");
    assert_eq!((plan.split.primary, plan.split.canary), (90, 10));
    assert!(plan.apex_on_primary);
    assert_eq!(plan.copy_to_primary, None);
    // A canary with no available replica gets no traffic, whatever the status says.
    let d = c.step(Some(rolling("v2")), Some(ready("v1")), None, t(31));
    let plan = d.plan.expect("a plan");
    assert_eq!((plan.split.primary, plan.split.canary), (100, 0));
}

#[test]
fn a_missing_autoscaler_is_reported_once_and_the_canary_still_initialises() {
    let obs = Observation {
        target: Some(ready("v1")),
        autoscaler_problem: Some("HorizontalPodAutoscaler podinfo.test not found".into()),
        ..Default::default()
    };
    let d = decide(
        &who(),
        &Ok(settings()),
        &[],
        false,
        &CanaryStatus::default(),
        &obs,
        t(0),
    );
    let valid = d
        .status
        .condition(conditions::VALID)
        .expect("Valid condition");
    assert_eq!(valid.status, conditions::FALSE);
    assert_eq!(valid.reason, reasons::AUTOSCALER_NOT_FOUND);
    assert!(
        d.events
            .iter()
            .any(|e| e.reason == reasons::AUTOSCALER_NOT_FOUND)
    );
    assert!(d.plan.as_ref().is_some_and(|p| p.copy_to_primary.is_some()));
    let again = decide(&who(), &Ok(settings()), &[], false, &d.status, &obs, t(1));
    assert!(
        !again
            .events
            .iter()
            .any(|e| e.reason == reasons::AUTOSCALER_NOT_FOUND)
    );
    let fixed = Observation {
        autoscaler_problem: None,
        ..obs
    };
    let gone = decide(
        &who(),
        &Ok(settings()),
        &[],
        false,
        &again.status,
        &fixed,
        t(2),
    );
    assert!(gone.status.condition(conditions::VALID).is_none());
}

#[test]
fn an_unusable_target_is_refused_once_and_left_alone() {
    let obs = Observation {
        target: Some(ready("v1")),
        target_problem: Some("the target's selector has only matchExpressions".into()),
        ..Default::default()
    };
    let d = decide(
        &who(),
        &Ok(settings()),
        &[],
        false,
        &CanaryStatus::default(),
        &obs,
        t(0),
    );
    assert_eq!(d.plan, None, "nothing is written for an unusable target");
    assert_eq!(d.next, Next::Idle);
    let valid = d
        .status
        .condition(conditions::VALID)
        .expect("Valid condition");
    assert_eq!(
        (valid.status.as_str(), valid.reason.as_str()),
        ("False", "InvalidTarget")
    );
    assert!(
        valid.message.contains("only matchExpressions"),
        "{}",
        valid.message
    );
    assert_eq!(d.events.len(), 1);
    let again = decide(&who(), &Ok(settings()), &[], false, &d.status, &obs, t(1));
    assert!(again.events.is_empty(), "reported once");
}

#[test]
fn a_target_deleted_mid_run_sends_everything_to_the_primary_and_ends_the_run() {
    let mut c = Canary::progressing();
    let d = c.step(None, Some(ready("v1")), None, t(20));
    assert_eq!(d.status.phase(), Phase::Failed);
    assert_eq!(d.status.canary_weight, 0);
    let plan = d.plan.expect("a plan that routes to the primary");
    assert_eq!(plan.split, TrafficSplit::weighted(0));
    assert_eq!((plan.copy_to_primary, plan.canary_replicas), (None, None));
    assert!(plan.apex_on_primary);
    assert_eq!(d.events.len(), 1);
    assert!(
        d.events[0].message.contains("was deleted during the run"),
        "{}",
        d.events[0].message
    );
    // Afterwards it is an ordinary missing target: reported, nothing touched.
    let d = c.step(None, Some(ready("v1")), None, t(30));
    assert_eq!(d.plan, None);
    assert!(d.events.iter().all(|e| !e.message.contains("Rolling back")));
}

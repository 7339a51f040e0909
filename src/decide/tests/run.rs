//! Initialisation and the analysis run: new revisions, steps, halts, rollbacks, deadlines.

use super::*;

#[test]
fn initialisation_waits_for_the_primary_then_is_done() {
    let mut c = Canary::new();
    let d = c.step(Some(ready("v1")), None, None, t(0));
    assert_eq!(d.status.phase(), Phase::Initializing);
    assert_eq!(d.next, Next::Idle);
    let d = c.step(Some(ready("v1")), Some(rolling("v1")), None, t(1));
    assert_eq!(d.status.phase(), Phase::Initializing);
    assert_eq!(
        d.next,
        Next::At(t(0) + Duration::from_secs(600)),
        "deadline from the start of the wait"
    );
    let d = c.step(Some(ready("v1")), Some(ready("v1")), None, t(2));
    assert_eq!(d.status.phase(), Phase::Initialized);
    assert_eq!(
        Canary::messages(&d),
        vec!["Initialization done! podinfo.test"]
    );
    assert_eq!(d.status.last_promoted_spec.as_deref(), Some("v1"));
    let promoted = d.status.condition(conditions::PROMOTED).unwrap();
    assert_eq!(
        (promoted.status.as_str(), promoted.reason.as_str()),
        ("True", "Initialized")
    );
}

#[test]
fn a_primary_that_never_gets_ready_is_reported_once() {
    let mut c = Canary::new();
    c.step(Some(ready("v1")), Some(rolling("v1")), None, t(0));
    let d = c.step(Some(ready("v1")), Some(rolling("v1")), None, t(601));
    assert_eq!(d.events.len(), 1);
    assert!(
        d.events[0].warning
            && d.events[0]
                .message
                .contains("podinfo-primary.test not ready")
    );
    let d = c.step(Some(ready("v1")), Some(rolling("v1")), None, t(700));
    assert!(
        d.events.is_empty(),
        "once per transition, not once per reconcile"
    );
}

#[test]
fn nothing_changes_when_nothing_is_due() {
    let mut c = Canary::initialized();
    let before = c.status.clone();
    let d = c.step(Some(scaled_down("v1")), Some(ready("v1")), None, t(100));
    assert_eq!(d.status, before, "no status write");
    assert!(d.events.is_empty());
    assert_eq!(d.next, Next::Idle);
}

#[test]
fn a_new_revision_starts_a_run() {
    let mut c = Canary::initialized();
    let d = c.step(Some(scaled_down("v2")), Some(ready("v1")), None, t(5));
    assert_eq!(d.status.phase(), Phase::Progressing);
    assert_eq!(d.status.last_applied_spec.as_deref(), Some("v2"));
    assert_eq!(
        Canary::messages(&d),
        vec!["New revision detected! Scaling up podinfo.test"]
    );
    assert_eq!(
        d.status.condition(conditions::PROMOTED).unwrap().status,
        "Unknown"
    );
}

#[test]
fn setting_the_target_back_to_the_promoted_template_starts_nothing() {
    let mut c = Canary::progressing();
    c.step(
        Some(ready("v2")),
        Some(ready("v1")),
        Some(vec![check(Verdict::Fail, Some(50.0))]),
        t(70),
    );
    c.step(
        Some(ready("v2")),
        Some(ready("v1")),
        Some(vec![check(Verdict::Fail, Some(50.0))]),
        t(130),
    );
    assert_eq!(c.status.phase(), Phase::Failed);
    let before = c.status.clone();
    let d = c.step(Some(scaled_down("v1")), Some(ready("v1")), None, t(200));
    assert_eq!(d.status, before);
    assert!(d.events.is_empty());
}

#[test]
fn the_analysis_starts_once_the_canary_is_ready() {
    let mut c = Canary::initialized();
    c.step(Some(scaled_down("v2")), Some(ready("v1")), None, t(5));
    let d = c.step(Some(rolling("v2")), Some(ready("v1")), None, t(6));
    assert_eq!(
        d.status.canary_weight, 0,
        "no traffic to a canary that is not ready"
    );
    // The wait began with the run: its deadline counts from there.
    assert_eq!(d.next, Next::At(t(5) + Duration::from_secs(600)));
    let d = c.step(Some(ready("v2")), Some(ready("v1")), None, t(10));
    assert_eq!(d.status.canary_weight, 10);
    assert_eq!(d.status.step_started_at, Some(t(10)));
    assert_eq!(d.status.waiting_since, None);
    assert_eq!(
        Canary::messages(&d),
        vec![
            "Starting canary analysis for podinfo.test",
            "Advance podinfo.test canary weight 10"
        ]
    );
    assert_eq!(d.next, Next::At(t(70)));
}

#[test]
fn a_step_is_not_rushed_after_a_restart() {
    let mut c = Canary::progressing();
    let before = c.status.clone();
    // A restarted serin reconciles at once: the step began at t(10), so nothing is due before t(70).
    let d = c.step(Some(ready("v2")), Some(ready("v1")), None, t(30));
    assert_eq!(d.next, Next::At(t(70)));
    assert_eq!(d.status, before);
}

#[test]
fn a_due_step_asks_for_the_checks_then_advances() {
    let mut c = Canary::progressing();
    let d = c.step(Some(ready("v2")), Some(ready("v1")), None, t(70));
    assert_eq!(d.next, Next::Gather(Request::METRICS));
    let d = c.step(
        Some(ready("v2")),
        Some(ready("v1")),
        Some(vec![check(Verdict::Pass, Some(100.0))]),
        t(70),
    );
    assert_eq!(d.status.canary_weight, 20);
    assert_eq!(d.status.metrics.len(), 1);
    assert_eq!(
        Canary::messages(&d),
        vec!["Advance podinfo.test canary weight 20"]
    );
    assert_eq!(d.next, Next::At(t(130)));
}

#[test]
fn failed_checks_halt_then_roll_back_at_the_threshold() {
    let mut c = Canary::progressing();
    let fail = || Some(vec![check(Verdict::Fail, Some(72.4))]);
    let d = c.step(Some(ready("v2")), Some(ready("v1")), fail(), t(70));
    assert_eq!(d.status.failed_checks, 1);
    assert_eq!(d.status.canary_weight, 10, "no advance on a failed check");
    assert_eq!(d.events.len(), 1);
    assert!(d.events[0].warning);
    assert!(
        d.events[0]
            .message
            .starts_with("Halt podinfo.test advancement success rate 72.40% < 99%")
    );
    assert!(
        d.status
            .last_failed_check
            .as_deref()
            .unwrap()
            .contains("72.40%")
    );
    let d = c.step(Some(ready("v2")), Some(ready("v1")), fail(), t(130));
    assert_eq!(d.status.phase(), Phase::Failed);
    assert_eq!(d.status.canary_weight, 0);
    assert_eq!(
        Canary::messages(&d)[1..],
        [
            "Rolling back podinfo.test failed checks threshold reached 2",
            "Canary failed! Scaling down podinfo.test"
        ]
    );
    assert_eq!(
        d.status.condition(conditions::PROMOTED).unwrap().status,
        "False"
    );
}

#[test]
fn no_data_and_query_errors_are_failed_checks_with_their_own_words() {
    // Query errors fail checks only in Flagger's mode; see `errored.rs` for serin's.
    let mut c = Canary::progressing().with(|s| s.metric_errors.as_failures = true);
    let d = c.step(
        Some(ready("v2")),
        Some(ready("v1")),
        Some(vec![check(Verdict::NoData, None)]),
        t(70),
    );
    assert_eq!(d.status.failed_checks, 1);
    assert!(
        d.events[0].message.contains("no values found"),
        "{}",
        d.events[0].message
    );
    let d = c.step(
        Some(ready("v2")),
        Some(ready("v1")),
        Some(vec![check(Verdict::Error, None)]),
        t(130),
    );
    assert!(
        d.events[0]
            .message
            .starts_with("Metric query failed for request-success-rate")
    );
    assert_eq!(d.status.phase(), Phase::Failed);
}

#[test]
fn a_new_revision_mid_run_restarts_the_analysis() {
    let mut c = Canary::progressing();
    c.step(
        Some(ready("v2")),
        Some(ready("v1")),
        Some(vec![check(Verdict::Fail, Some(1.0))]),
        t(70),
    );
    let d = c.step(Some(rolling("v3")), Some(ready("v1")), None, t(80));
    assert_eq!(d.status.phase(), Phase::Progressing);
    assert_eq!((d.status.canary_weight, d.status.failed_checks), (0, 0));
    assert_eq!(d.status.last_applied_spec.as_deref(), Some("v3"));
    assert_eq!(
        Canary::messages(&d),
        vec!["New revision detected! Restarting analysis for podinfo.test"]
    );
}

#[test]
fn a_canary_that_never_gets_ready_fails_at_the_deadline_counted_from_the_start_of_its_wait() {
    let mut c = Canary::initialized().with(|s| s.progress_deadline = Duration::from_secs(30));
    // The run starts by waiting for the canary to scale up: the wait starts with it.
    let d = c.step(Some(scaled_down("v2")), Some(ready("v1")), None, t(5));
    assert_eq!(d.status.waiting_since, Some(t(5)));
    let d = c.step(Some(rolling("v2")), Some(ready("v1")), None, t(10));
    assert_eq!(d.next, Next::At(t(35)));
    let d = c.step(Some(rolling("v2")), Some(ready("v1")), None, t(34));
    assert_eq!(d.status.phase(), Phase::Progressing);
    let d = c.step(Some(rolling("v2")), Some(ready("v1")), None, t(35));
    assert_eq!(d.status.phase(), Phase::Failed);
    assert!(
        d.events[0].message.contains("progress deadline exceeded"),
        "{}",
        d.events[0].message
    );
}

#[test]
fn kubernetes_giving_up_on_the_canary_rolls_back_at_once() {
    let mut c = Canary::initialized();
    c.step(Some(scaled_down("v2")), Some(ready("v1")), None, t(5));
    let failed = Workload {
        rollout: Rollout::Failed("ProgressDeadlineExceeded".into()),
        ..rolling("v2")
    };
    let d = c.step(Some(failed), Some(ready("v1")), None, t(6));
    assert_eq!(d.status.phase(), Phase::Failed);
}

#[test]
fn step_weights_are_followed() {
    let mut c = Canary::initialized().with(|s| s.steps = vec![5, 25, 50]);
    c.step(Some(scaled_down("v2")), Some(ready("v1")), None, t(5));
    c.step(Some(ready("v2")), Some(ready("v1")), None, t(10));
    let pass = || Some(vec![check(Verdict::Pass, Some(100.0))]);
    let mut weights = vec![c.status.canary_weight];
    for i in 1..=2 {
        c.step(Some(ready("v2")), Some(ready("v1")), pass(), t(10 + 60 * i));
        weights.push(c.status.canary_weight);
    }
    assert_eq!(weights, vec![5, 25, 50]);
}

#[test]
fn a_step_after_a_readiness_gap_waits_a_whole_interval() {
    let mut c = Canary::progressing();
    c.step(Some(rolling("v2")), Some(ready("v1")), None, t(30));
    // Ready again at t(100): the overdue step is not judged on metrics from the gap.
    let d = c.step(Some(ready("v2")), Some(ready("v1")), None, t(100));
    assert_eq!(d.next, Next::At(t(160)));
    assert_eq!(d.status.canary_weight, 10);
}

#[test]
fn going_back_to_the_promoted_template_mid_run_ends_the_run() {
    let mut c = Canary::progressing();
    let d = c.step(Some(ready("v1")), Some(ready("v1")), None, t(20));
    assert_eq!(
        (d.status.phase(), d.status.canary_weight),
        (Phase::Succeeded, 0)
    );
    assert_eq!(d.status.last_applied_spec.as_deref(), Some("v1"));
    assert!(Canary::messages(&d)[0].contains("back on the promoted revision"));
}

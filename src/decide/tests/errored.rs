//! Errored checks (the metrics backend did not answer) hold the step; they roll back
//! only after their own limit or the progress deadline, unless Flagger's behaviour is
//! asked for.

use super::*;

fn errored() -> Option<Vec<Measurement>> {
    Some(vec![check(Verdict::Error, None)])
}

fn passed() -> Option<Vec<Measurement>> {
    Some(vec![check(Verdict::Pass, Some(100.0))])
}

#[test]
fn an_errored_check_holds_the_step_without_failing_it() {
    let mut c = Canary::progressing();
    let d = c.step(Some(ready("v2")), Some(ready("v1")), errored(), t(70));
    assert_eq!(d.status.canary_weight, 10, "no advance");
    assert_eq!(d.status.failed_checks, 0, "not a failed check");
    assert_eq!(d.status.phase(), Phase::Progressing);
    let errors = d.status.metric_errors.clone().expect("counted");
    assert_eq!((errors.count, errors.since), (1, t(70)));
    assert_eq!(d.events.len(), 1);
    assert!(d.events[0].warning);
    assert_eq!(
        d.events[0].message,
        "Halt podinfo.test advancement: metric query failed (1 of 5 errored checks in a row), step held: request-success-rate: empty result"
    );
    assert_eq!(d.next, Next::At(t(130)));
}

#[test]
fn answers_again_resume_the_run() {
    let mut c = Canary::progressing();
    c.step(Some(ready("v2")), Some(ready("v1")), errored(), t(70));
    let d = c.step(Some(ready("v2")), Some(ready("v1")), passed(), t(130));
    assert_eq!(d.status.canary_weight, 20);
    assert_eq!(d.status.metric_errors, None);
}

#[test]
fn errored_checks_roll_back_at_their_own_limit() {
    let mut c = Canary::progressing().with(|s| s.metric_errors.limit = 2);
    c.step(Some(ready("v2")), Some(ready("v1")), errored(), t(70));
    let d = c.step(Some(ready("v2")), Some(ready("v1")), errored(), t(130));
    assert_eq!(d.status.phase(), Phase::Failed);
    assert_eq!(d.status.canary_weight, 0);
    assert!(
        Canary::messages(&d).contains(
            &"Rolling back podinfo.test metrics unavailable: 2 errored checks in a row, last: request-success-rate: empty result"
        ),
        "{:?}",
        Canary::messages(&d)
    );
}

#[test]
fn errored_checks_roll_back_at_the_progress_deadline_from_the_first_error() {
    let mut c = Canary::progressing().with(|s| {
        s.metric_errors.limit = 1000;
        s.progress_deadline = Duration::from_secs(100);
    });
    let d = c.step(Some(ready("v2")), Some(ready("v1")), errored(), t(70));
    assert_eq!(d.next, Next::At(t(130)));
    let d = c.step(Some(ready("v2")), Some(ready("v1")), errored(), t(130));
    assert_eq!(d.status.phase(), Phase::Progressing, "130 < 70 + 100");
    let d = c.step(Some(ready("v2")), Some(ready("v1")), errored(), t(190));
    assert_eq!(d.status.phase(), Phase::Failed);
    assert!(Canary::messages(&d).iter().any(|m| {
        m.contains("metrics unavailable: metrics unavailable for progressDeadlineSeconds 100")
    }));
}

#[test]
fn flaggers_behaviour_counts_errors_as_failed_checks() {
    let mut c = Canary::progressing().with(|s| s.metric_errors.as_failures = true);
    let d = c.step(Some(ready("v2")), Some(ready("v1")), errored(), t(70));
    assert_eq!(d.status.failed_checks, 1);
    assert_eq!(d.status.metric_errors, None);
}

#[test]
fn a_check_failed_on_its_value_wins_over_an_errored_one() {
    let mut c = Canary::progressing();
    let mixed = Some(vec![
        check(Verdict::Error, None),
        check(Verdict::Fail, Some(50.0)),
    ]);
    let d = c.step(Some(ready("v2")), Some(ready("v1")), mixed, t(70));
    assert_eq!(d.status.failed_checks, 1);
}

#[test]
fn a_new_run_forgets_the_errors_of_the_last() {
    let mut c = Canary::progressing();
    c.step(Some(ready("v2")), Some(ready("v1")), errored(), t(70));
    let d = c.step(Some(scaled_down("v3")), Some(ready("v1")), None, t(80));
    assert_eq!(d.status.metric_errors, None);
}

#[test]
fn the_policy_is_read_from_the_spec_with_a_default() {
    let mut a = crate::api::CanaryAnalysis::default();
    assert_eq!(
        MetricErrorPolicy::from_spec(&a),
        MetricErrorPolicy {
            limit: 5,
            as_failures: false
        }
    );
    a.metric_error_limit = Some(3);
    a.metric_errors_as_failures = true;
    assert_eq!(
        MetricErrorPolicy::from_spec(&a),
        MetricErrorPolicy {
            limit: 3,
            as_failures: true
        }
    );
}

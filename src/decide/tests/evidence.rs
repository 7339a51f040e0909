//! Evidence before verdicts: minimum requests, modes, and the judge in the decision.

use super::*;
use crate::api::{JudgeCompare, MetricJudge, MetricMode};
use crate::judge::{Counters, Sample};

fn threshold_check(pass: bool, seen: f64, needed: i64, mode: Option<MetricMode>) -> Measurement {
    let mut m = check(
        if pass { Verdict::Pass } else { Verdict::Fail },
        Some(if pass { 100.0 } else { 50.0 }),
    );
    m.metric.min_requests = Some(needed);
    m.metric.mode = mode;
    m.requests = Some(Outcome::Value(seen));
    m
}

fn judge_metric(early_promotion: bool, early_abort: bool) -> CanaryMetric {
    CanaryMetric {
        name: "errors".into(),
        min_requests: Some(100),
        judge: Some(MetricJudge {
            compare: Some(JudgeCompare::ErrorRate),
            early_promotion,
            early_abort,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A judge's look: cumulative counters of canary and primary.
fn look(metric: &CanaryMetric, canary: (f64, f64), primary: (f64, f64)) -> Measurement {
    Measurement {
        metric: metric.clone(),
        query: "q".into(),
        outcome: Outcome::NoData("read by the judge".into()),
        at: t(0),
        requests: None,
        counters: Some(Ok(Sample::new(
            Counters::new(canary.0, canary.1),
            Counters::new(primary.0, primary.1),
        ))),
    }
}

fn run(c: &mut Canary, now: i64, checks: Vec<Measurement>) -> Decision {
    c.step(Some(ready("v2")), Some(ready("v1")), Some(checks), t(now))
}

#[test]
fn too_few_requests_hold_the_step_say_so_once_and_fail_nothing() {
    let mut c = Canary::progressing();
    let d = run(&mut c, 70, vec![threshold_check(false, 3.0, 50, None)]);
    assert_eq!(d.status.canary_weight, 10, "no weight increase");
    assert_eq!(d.status.failed_checks, 0, "not a failed check");
    assert_eq!(d.status.metrics[0].verdict, Verdict::Insufficient);
    assert_eq!(d.status.metrics[0].requests_seen, Some(3.0));
    assert_eq!(d.status.metrics[0].requests_needed, Some(50.0));
    assert_eq!(
        Canary::messages(&d),
        vec![
            "Hold podinfo.test advancement: request-success-rate: insufficient traffic: 3 \
             canary requests in the 1m window, 50 needed"
        ]
    );
    assert_eq!(d.next, Next::At(t(130)));
    let d = run(&mut c, 130, vec![threshold_check(false, 4.0, 50, None)]);
    assert!(d.events.is_empty(), "said once: {:?}", d.events);
    // Enough traffic: the check decides again.
    let d = run(&mut c, 190, vec![threshold_check(true, 80.0, 50, None)]);
    assert_eq!(d.status.canary_weight, 20);
    assert_eq!(d.status.evidence, None, "nothing left to remember");
}

#[test]
fn a_hold_for_want_of_traffic_ends_at_the_progress_deadline() {
    let mut c = Canary::progressing().with(|s| s.progress_deadline = Duration::from_secs(120));
    run(&mut c, 70, vec![threshold_check(true, 0.0, 10, None)]);
    run(&mut c, 130, vec![threshold_check(true, 0.0, 10, None)]);
    let d = run(&mut c, 190, vec![threshold_check(true, 0.0, 10, None)]);
    assert_eq!(d.status.phase(), Phase::Failed);
    assert!(
        Canary::messages(&d)[0].starts_with(
            "Rolling back podinfo.test: no verdict for progressDeadlineSeconds 120: \
             request-success-rate: insufficient traffic: 0 canary requests"
        ),
        "{:?}",
        d.events
    );
}

#[test]
fn an_observed_failure_is_reported_and_decides_nothing() {
    let mut c = Canary::progressing();
    let d = run(
        &mut c,
        70,
        vec![threshold_check(false, 500.0, 0, Some(MetricMode::Observe))],
    );
    assert_eq!(d.status.canary_weight, 20, "the step advances");
    assert_eq!(d.status.failed_checks, 0);
    assert_eq!(d.status.metrics[0].mode, Some(MetricMode::Observe));
    let messages = Canary::messages(&d);
    assert!(
        messages[0].starts_with("request-success-rate (observe mode, not deciding): Halt"),
        "{messages:?}"
    );
}

#[test]
fn a_failing_hold_check_holds_without_counting() {
    let mut c = Canary::progressing();
    let d = run(
        &mut c,
        70,
        vec![threshold_check(false, 500.0, 0, Some(MetricMode::Hold))],
    );
    assert_eq!(d.status.canary_weight, 10);
    assert_eq!(d.status.failed_checks, 0);
    assert!(d.events[0].warning);
    assert!(d.events[0].message.starts_with(
        "Hold podinfo.test advancement: Halt podinfo.test advancement success rate 50.00%"
    ));
}

#[test]
fn the_judge_aborts_early_with_its_numbers() {
    let metric = judge_metric(false, true);
    let mut c = Canary::progressing();
    // The first look is the baseline: nothing to judge yet.
    let d = run(&mut c, 70, vec![look(&metric, (0.0, 0.0), (0.0, 0.0))]);
    assert_eq!(d.status.metrics[0].verdict, Verdict::Insufficient);
    assert_eq!(d.status.canary_weight, 10);
    // Canary: 10% errors; primary: 1%.
    let d = run(
        &mut c,
        130,
        vec![look(&metric, (1000.0, 100.0), (9000.0, 90.0))],
    );
    assert_eq!(d.status.phase(), Phase::Failed, "{:?}", d.events);
    let m = Canary::messages(&d);
    assert!(
        m[0].starts_with("Rolling back podinfo.test: errors: canary error rate"),
        "{m:?}"
    );
    assert!(m[0].contains("(abort at 100)"), "{m:?}");
    let judge = &d.status.evidence.as_ref().unwrap().judges[0];
    assert_eq!(judge.verdict, "Abort");
    assert_eq!(judge.state.canary, Counters::new(1000.0, 100.0));
    assert!(judge.abort_evidence >= 100.0);
}

#[test]
fn without_early_abort_the_judge_fails_the_check() {
    let metric = judge_metric(false, false);
    let mut c = Canary::progressing();
    run(&mut c, 70, vec![look(&metric, (0.0, 0.0), (0.0, 0.0))]);
    let d = run(
        &mut c,
        130,
        vec![look(&metric, (1000.0, 100.0), (9000.0, 90.0))],
    );
    assert_eq!(d.status.failed_checks, 1);
    assert!(
        Canary::messages(&d)[0]
            .starts_with("Halt podinfo.test advancement: errors: canary error rate"),
        "{:?}",
        d.events
    );
}

#[test]
fn the_judge_promotes_early_when_asked_and_resumes_from_status() {
    let metric = judge_metric(true, true);
    let mut c = Canary::progressing();
    run(&mut c, 70, vec![look(&metric, (0.0, 0.0), (0.0, 0.0))]);
    // Healthy and busy: 1% errors on both.
    let d = run(
        &mut c,
        130,
        vec![look(&metric, (20_000.0, 200.0), (180_000.0, 1800.0))],
    );
    assert_eq!(d.status.canary_weight, 20, "evidence not yet conclusive");
    let judge = d.status.evidence.as_ref().unwrap().judges[0].clone();
    assert_eq!(judge.verdict, "Continue");
    // The state lives in status: the next look continues the same test.
    let d = run(
        &mut c,
        190,
        vec![look(&metric, (200_000.0, 2000.0), (1_000_000.0, 10_000.0))],
    );
    let m = Canary::messages(&d);
    assert!(
        m[0].starts_with("Promote podinfo.test early: errors: canary error rate"),
        "{m:?}"
    );
    assert_eq!(d.status.phase(), Phase::Promoting, "{m:?}");
}

use chrono::{DateTime, Utc};

use super::*;
use crate::api::{CanaryMetric, MetricMode};
use crate::backtest::rollouts::{End, Rollout, Step};
use crate::decide::Outcome;
use crate::decide::verdict::judge;
use crate::judge::Counters;

fn t(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
}

fn rollout(steps: usize) -> Rollout {
    Rollout {
        start: t(0),
        end: t(10 * steps as i64),
        ended: End::Finished,
        steps: (0..steps)
            .map(|i| Step {
                weight: Some(20.0 * (i + 1) as f64),
                start: t(10 * i as i64),
                end: t(10 * (i + 1) as i64),
            })
            .collect(),
    }
}

fn success_rate(outcome: Outcome, at: DateTime<Utc>) -> MetricStatus {
    let metric = CanaryMetric {
        name: "request-success-rate".into(),
        threshold: Some(99.0),
        ..Default::default()
    };
    judge(&metric, "q", &outcome, at)
}

fn look(at: i64, outcome: Outcome, sample: Option<Sample>) -> Vec<Look> {
    vec![Look {
        at: t(at),
        checks: vec![success_rate(outcome, t(at))],
        samples: vec![sample],
    }]
}

fn policy(threshold: i32) -> Policy {
    Policy {
        threshold,
        errors_as_failures: false,
        judges: vec![JudgeSpec {
            metric: "errors".into(),
            config: JudgeConfig::default(),
        }],
    }
}

fn sample(canary: (f64, f64), primary: (f64, f64)) -> Option<Sample> {
    Some(Sample::new(
        Counters::new(canary.0, canary.1),
        Counters::new(primary.0, primary.1),
    ))
}

#[test]
fn failed_checks_accumulate_and_the_threshold_names_the_rollback_step() {
    let looks = vec![
        look(10, Outcome::Value(99.5), None),
        look(20, Outcome::Value(95.0), None),
        look(30, Outcome::NoData("none".into()), None),
    ];
    let report = replay(&rollout(3), &[], &looks, &policy(2), None);
    let results: Vec<_> = report.steps.iter().map(|s| s.thresholds.result).collect();
    assert_eq!(
        results,
        vec![CheckResult::Pass, CheckResult::Fail, CheckResult::NoData]
    );
    assert_eq!(report.threshold_rollback_at, Some(3));
    assert_eq!(report.failed_checks, 2);
    assert!(report.steps[2].thresholds.rollback);
    assert_eq!(
        report.steps[1].thresholds.reasons,
        vec!["request-success-rate 95.00 < 99"]
    );
}

#[test]
fn an_errored_query_holds_without_counting_unless_errors_are_failures() {
    let looks = vec![look(10, Outcome::Error("down".into()), None)];
    let report = replay(&rollout(1), &[], &looks, &policy(1), None);
    assert_eq!(report.steps[0].thresholds.result, CheckResult::Error);
    assert_eq!(report.threshold_rollback_at, None);
    let strict = Policy {
        errors_as_failures: true,
        ..policy(1)
    };
    let report = replay(&rollout(1), &[], &looks, &strict, None);
    assert_eq!(report.threshold_rollback_at, Some(1));
}

#[test]
fn the_judge_aborts_a_canary_failing_far_more_than_the_primary() {
    // Equal traffic; the canary fails 10% of its requests, the primary 1%.
    let looks: Vec<_> = (1..=3)
        .map(|k| {
            let n = 1000.0 * k as f64;
            look(
                10 * k,
                Outcome::Value(99.5),
                sample((n, n / 10.0), (n, n / 100.0)),
            )
        })
        .collect();
    let report = replay(
        &rollout(3),
        &[sample((0.0, 0.0), (0.0, 0.0))],
        &looks,
        &policy(5),
        None,
    );
    assert_eq!(report.judge_abort_at, Some(1));
    let first = report.steps[0].judges.first().unwrap();
    assert_eq!(first.verdict, JudgeVerdict::Abort);
    assert_eq!((first.canary_requests, first.canary_bad), (1000.0, 100.0));
    assert!(first.abort_evidence >= first.bar, "{first:?}");
    assert!(
        first.explanation.contains("abort at 100"),
        "{}",
        first.explanation
    );
    assert_eq!(report.threshold_rollback_at, None);
}

#[test]
fn without_counters_the_judge_says_insufficient_and_never_decides() {
    let looks = vec![look(10, Outcome::Value(100.0), None)];
    let report = replay(&rollout(1), &[], &looks, &policy(1), None);
    let judged = report.steps[0].judges.first().unwrap();
    assert_eq!(judged.verdict, JudgeVerdict::Insufficient);
    assert_eq!(
        (report.judge_abort_at, report.judge_promote_at),
        (None, None)
    );
}

#[test]
fn without_a_judge_only_the_thresholds_are_replayed() {
    let looks = vec![look(10, Outcome::Value(100.0), None)];
    let report = replay(
        &rollout(1),
        &[],
        &looks,
        &Policy {
            judges: Vec::new(),
            ..policy(1)
        },
        Some("succeeded".into()),
    );
    assert!(report.steps[0].judges.is_empty());
    assert_eq!(report.actual.as_deref(), Some("succeeded"));
}

#[test]
fn observe_checks_never_decide_and_hold_checks_only_hold() {
    let mut observed = success_rate(Outcome::Value(50.0), t(10));
    observed.mode = Some(MetricMode::Observe);
    let mut held = success_rate(Outcome::Value(50.0), t(10));
    held.mode = Some(MetricMode::Hold);
    let looks = |c: MetricStatus| {
        vec![vec![Look {
            at: t(10),
            checks: vec![c],
            samples: vec![],
        }]]
    };
    let report = replay(&rollout(1), &[], &looks(observed), &policy(1), None);
    assert_eq!(report.steps[0].thresholds.result, CheckResult::Pass);
    assert_eq!(
        report.steps[0].thresholds.reasons,
        vec!["request-success-rate 50.00 < 99 (observe)"]
    );
    let report = replay(&rollout(1), &[], &looks(held), &policy(1), None);
    assert_eq!(report.steps[0].thresholds.result, CheckResult::Hold);
    assert_eq!(report.threshold_rollback_at, None);
}

//! Every transition of the decision, without a cluster or a runtime.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::*;
use crate::api::{CanaryMetric, CanaryStatus, MetricStatus, Phase, ThresholdRange, Verdict};

fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
}

fn who() -> Identity {
    Identity {
        name: "podinfo".into(),
        namespace: "test".into(),
        target: "podinfo".into(),
        generation: Some(1),
    }
}

fn settings() -> Settings {
    Settings {
        provider: Provider::Istio,
        interval: Duration::from_secs(60),
        threshold: 2,
        steps: vec![10, 20, 30],
        promotion_step: 0,
        progress_deadline: Duration::from_secs(600),
        skip_analysis: false,
    }
}

fn ready(rev: &str) -> Workload {
    Workload {
        revision: rev.into(),
        replicas: 1,
        rollout: Rollout::Complete,
        serving: true,
    }
}

fn rolling(rev: &str) -> Workload {
    Workload {
        revision: rev.into(),
        replicas: 1,
        rollout: Rollout::InProgress("0 of 1 updated replicas are available".into()),
        serving: false,
    }
}

fn scaled_down(rev: &str) -> Workload {
    Workload {
        revision: rev.into(),
        replicas: 0,
        rollout: Rollout::InProgress("scaled to zero".into()),
        serving: false,
    }
}

/// A measurement of the success rate (range min 99) that judges to `verdict`.
fn check(verdict: Verdict, value: Option<f64>) -> Measurement {
    let outcome = match (verdict, value) {
        (Verdict::Pass | Verdict::Fail, Some(v)) => Outcome::Value(v),
        (Verdict::Error, _) => Outcome::Error("empty result".into()),
        _ => Outcome::NoData("empty result".into()),
    };
    let m = Measurement {
        metric: CanaryMetric {
            name: "request-success-rate".into(),
            threshold_range: Some(ThresholdRange {
                min: Some(99.0),
                max: None,
            }),
            ..Default::default()
        },
        query: "sum(rate(istio_requests_total[1m]))".into(),
        outcome,
        at: t(0),
    };
    let judged: MetricStatus = m.judge();
    assert_eq!(judged.verdict, verdict, "the fixture judges as asked");
    m
}

/// A canary under test: keeps the status between decisions, like the API server would.
struct Canary {
    settings: Settings,
    status: CanaryStatus,
    suspended: bool,
}

impl Canary {
    fn new() -> Self {
        Canary {
            settings: settings(),
            status: CanaryStatus::default(),
            suspended: false,
        }
    }

    fn with(mut self, f: impl FnOnce(&mut Settings)) -> Self {
        f(&mut self.settings);
        self
    }

    /// A canary that finished initialisation on revision "v1".
    fn initialized() -> Self {
        let mut c = Canary::new();
        c.step(Some(scaled_down("v1")), Some(ready("v1")), None, t(0));
        assert_eq!(c.status.phase(), Phase::Initialized);
        c
    }

    /// A canary analysing revision "v2" at its first weight, step started at t(10).
    fn progressing() -> Self {
        let mut c = Canary::initialized();
        c.step(Some(scaled_down("v2")), Some(ready("v1")), None, t(5));
        c.step(Some(ready("v2")), Some(ready("v1")), None, t(10));
        assert_eq!(c.status.canary_weight, 10);
        c
    }

    fn step(
        &mut self,
        target: Option<Workload>,
        primary: Option<Workload>,
        checks: Option<Vec<Measurement>>,
        now: DateTime<Utc>,
    ) -> Decision {
        let obs = Observation {
            target,
            primary,
            inputs: Inputs { metrics: checks },
        };
        let d = decide(
            &who(),
            &Ok(self.settings.clone()),
            &[],
            self.suspended,
            &self.status,
            &obs,
            now,
        );
        self.status = d.status.clone();
        d
    }

    fn messages(d: &Decision) -> Vec<&str> {
        d.events.iter().map(|e| e.message.as_str()).collect()
    }
}

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
    assert_eq!(d.next, Next::At(t(6) + Duration::from_secs(600)));
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
fn the_whole_promotion() {
    let mut c = Canary::progressing();
    let pass = || Some(vec![check(Verdict::Pass, Some(100.0))]);
    c.step(Some(ready("v2")), Some(ready("v1")), pass(), t(70));
    c.step(Some(ready("v2")), Some(ready("v1")), pass(), t(130));
    assert_eq!(c.status.canary_weight, 30);
    let d = c.step(Some(ready("v2")), Some(ready("v1")), pass(), t(190));
    assert_eq!(d.status.phase(), Phase::Promoting);
    assert_eq!(
        Canary::messages(&d),
        vec!["Copying podinfo.test template spec to podinfo-primary.test"]
    );
    assert_eq!(
        d.status.canary_weight, 30,
        "the canary keeps its share while the primary rolls out"
    );
    let d = c.step(Some(ready("v2")), Some(rolling("v2")), None, t(195));
    assert_eq!(d.status.phase(), Phase::Promoting);
    let d = c.step(Some(ready("v2")), Some(ready("v2")), None, t(200));
    assert_eq!(d.status.phase(), Phase::Finalising);
    assert_eq!(d.status.canary_weight, 0);
    assert_eq!(Canary::messages(&d), vec!["Routing all traffic to primary"]);
    let d = c.step(Some(ready("v2")), Some(ready("v2")), None, t(201));
    assert_eq!(
        d.status.phase(),
        Phase::Finalising,
        "waits for the scale-down"
    );
    let d = c.step(Some(scaled_down("v2")), Some(ready("v2")), None, t(202));
    assert_eq!(d.status.phase(), Phase::Succeeded);
    assert_eq!(d.status.last_promoted_spec.as_deref(), Some("v2"));
    assert_eq!(
        Canary::messages(&d),
        vec!["Promotion completed! Scaling down podinfo.test"]
    );
    assert_eq!(
        d.status.condition(conditions::PROMOTED).unwrap().status,
        "True"
    );
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
    let mut c = Canary::progressing();
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
fn skip_analysis_promotes_as_soon_as_the_canary_is_ready() {
    let mut c = Canary::initialized().with(|s| s.skip_analysis = true);
    c.step(Some(scaled_down("v2")), Some(ready("v1")), None, t(5));
    let d = c.step(Some(ready("v2")), Some(ready("v1")), None, t(6));
    assert_eq!(d.status.phase(), Phase::Promoting);
    c.step(Some(ready("v2")), Some(ready("v2")), None, t(7));
    let d = c.step(Some(scaled_down("v2")), Some(ready("v2")), None, t(8));
    assert_eq!(
        Canary::messages(&d),
        vec!["Promotion completed! Canary analysis was skipped for podinfo.test"]
    );
}

#[test]
fn a_canary_that_never_gets_ready_fails_at_the_deadline_counted_from_its_wait() {
    let mut c = Canary::initialized().with(|s| s.progress_deadline = Duration::from_secs(30));
    c.step(Some(scaled_down("v2")), Some(ready("v1")), None, t(5));
    let d = c.step(Some(rolling("v2")), Some(ready("v1")), None, t(10));
    assert_eq!(d.next, Next::At(t(40)));
    let d = c.step(Some(rolling("v2")), Some(ready("v1")), None, t(39));
    assert_eq!(d.status.phase(), Phase::Progressing);
    let d = c.step(Some(rolling("v2")), Some(ready("v1")), None, t(40));
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
fn a_failed_promotion_leaves_traffic_on_the_healthy_canary() {
    let mut c = Canary::progressing().with(|s| s.steps = vec![10]);
    c.step(
        Some(ready("v2")),
        Some(ready("v1")),
        Some(vec![check(Verdict::Pass, Some(100.0))]),
        t(70),
    );
    assert_eq!(c.status.phase(), Phase::Promoting);
    c.step(Some(ready("v2")), Some(rolling("v2")), None, t(80));
    let d = c.step(Some(ready("v2")), Some(rolling("v2")), None, t(70 + 600));
    assert_eq!(d.status.phase(), Phase::Failed);
    assert_eq!(d.status.canary_weight, 100);
    assert!(
        d.events[0]
            .message
            .starts_with("Promotion of podinfo.test failed, primary not ready")
    );
}

#[test]
fn a_target_change_before_the_copy_restarts_instead_of_promoting_it() {
    let mut c = Canary::progressing().with(|s| s.steps = vec![10]);
    c.step(
        Some(ready("v2")),
        Some(ready("v1")),
        Some(vec![check(Verdict::Pass, Some(100.0))]),
        t(70),
    );
    let d = c.step(Some(rolling("v3")), Some(ready("v1")), None, t(71));
    assert_eq!(d.status.phase(), Phase::Progressing);
    assert_eq!(d.status.last_applied_spec.as_deref(), Some("v3"));
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
fn step_weight_promotion_moves_traffic_back_by_steps() {
    let mut c = Canary::progressing().with(|s| {
        s.steps = vec![10, 50];
        s.promotion_step = 20;
    });
    let pass = || Some(vec![check(Verdict::Pass, Some(100.0))]);
    c.step(Some(ready("v2")), Some(ready("v1")), pass(), t(70));
    c.step(Some(ready("v2")), Some(ready("v1")), pass(), t(130));
    assert_eq!(c.status.phase(), Phase::Promoting);
    // The primary is ready at t(140): the first shift comes one interval later.
    let d = c.step(Some(ready("v2")), Some(ready("v2")), None, t(140));
    assert_eq!(
        (d.status.canary_weight, d.next.clone()),
        (50, Next::At(t(200)))
    );
    let d = c.step(Some(ready("v2")), Some(ready("v2")), None, t(200));
    assert_eq!(
        (d.status.canary_weight, Canary::messages(&d)),
        (30, vec!["Advance podinfo.test primary weight 70"])
    );
    c.step(Some(ready("v2")), Some(ready("v2")), None, t(260));
    let d = c.step(Some(ready("v2")), Some(ready("v2")), None, t(320));
    assert_eq!(
        (d.status.canary_weight, d.status.phase()),
        (0, Phase::Finalising)
    );
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

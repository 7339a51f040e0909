//! Every transition of the decision, without a cluster or a runtime: the fixtures here,
//! the tests by step of the rollout.

mod actions;
mod errored;
mod evidence;
mod extremes;
mod gates;
mod promotion;
mod routing;
mod run;
mod spec;
mod strategies;

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
        kind: StrategyKind::Canary,
        affinity: None,
        webhooks: Vec::new(),
        metric_errors: MetricErrorPolicy::default(),
        manual_approval: Vec::new(),
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
        requests: None,
        counters: None,
    };
    let judged: MetricStatus = crate::decide::verdict::judge_measurement(&m);
    assert_eq!(judged.verdict, verdict, "the fixture judges as asked");
    m
}

/// A canary under test: keeps the status between decisions, like the API server would.
struct Canary {
    settings: Settings,
    status: CanaryStatus,
    suspended: bool,
    /// What the router says of its objects (see `Observation::route_not_accepted`).
    route_not_accepted: Option<String>,
}

impl Canary {
    fn new() -> Self {
        Canary {
            settings: settings(),
            status: CanaryStatus::default(),
            suspended: false,
            route_not_accepted: None,
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
        let inputs = Inputs {
            metrics: checks,
            hooks: None,
        };
        self.step_with(target, primary, inputs, now)
    }

    fn step_with(
        &mut self,
        target: Option<Workload>,
        primary: Option<Workload>,
        inputs: Inputs,
        now: DateTime<Utc>,
    ) -> Decision {
        let obs = Observation {
            target,
            primary,
            inputs,
            route_not_accepted: self.route_not_accepted.clone(),
            target_problem: None,
            ..Default::default()
        };
        let decide_with = |settings: Settings| {
            decide(
                &who(),
                &Ok(settings),
                &[],
                self.suspended,
                &self.status,
                &obs,
                now,
            )
        };
        let d = decide_with(self.settings.clone());
        // Every decision test is a test of every router: the router is an input of the
        // plan, never a branch of the decision, so each provider decides the same.
        for provider in Provider::ALL {
            let mut other = self.settings.clone();
            other.provider = *provider;
            assert_eq!(decide_with(other), d, "{provider:?} decides differently");
        }
        self.status = d.status.clone();
        d
    }

    fn messages(d: &Decision) -> Vec<&str> {
        d.events.iter().map(|e| e.message.as_str()).collect()
    }
}

//! Evidence before verdicts: each metric's mode (`gate`, `hold`, `observe`), the minimum
//! of canary requests a check needs before it may decide, and the evidence judge's
//! configuration. What the schema cannot refuse is refused here, naming the field.

use crate::api::{
    CanaryAnalysis, CanaryMetric, DEFAULT_METRIC_INTERVAL, EvidenceStatus, JudgeStatus, MetricMode,
    MetricStatus, Verdict, parse_duration, reasons,
};
use crate::judge::{
    DEFAULT_ALPHA, DEFAULT_MARGIN, DEFAULT_MIN_REQUESTS, JudgeConfig, Sample,
    Verdict as JudgeVerdict, explain,
};

use super::inputs::{Measurement, Outcome};
use super::{Next, Settings, SpecError, Step, clock, verdict};

fn count_words(n: f64) -> String {
    crate::judge::count_words(n)
}

/// The mode of a metric (default `gate`).
pub fn mode(metric: &CanaryMetric) -> MetricMode {
    metric.mode.unwrap_or_default()
}

/// Canary requests a check of `metric` needs: the metric's own minimum, else the
/// analysis', else none for a threshold check (Flagger's behaviour) and
/// [`DEFAULT_MIN_REQUESTS`] for the judge.
pub fn min_requests(analysis: Option<&CanaryAnalysis>, metric: &CanaryMetric) -> f64 {
    let set = metric
        .min_requests
        .or_else(|| analysis.and_then(|a| a.min_requests));
    match set {
        Some(n) => n.max(0) as f64,
        None if metric.judge.is_some() => DEFAULT_MIN_REQUESTS,
        None => 0.0,
    }
}

/// The judge's configuration of `metric`, if it has a judge.
pub fn judge_config(
    analysis: Option<&CanaryAnalysis>,
    metric: &CanaryMetric,
) -> Option<Result<JudgeConfig, crate::judge::ConfigError>> {
    let judge = metric.judge.as_ref()?;
    Some(JudgeConfig::new(
        judge.alpha.unwrap_or(DEFAULT_ALPHA),
        judge.margin.unwrap_or(DEFAULT_MARGIN),
        min_requests(analysis, metric),
    ))
}

/// The latency bound of a `slow-rate` judge in milliseconds, as the histogram's `le`
/// label spells it.
pub fn latency_bound_ms(text: &str) -> Result<f64, String> {
    let d = parse_duration(text).map_err(|e| e.to_string())?;
    let ms = d.as_secs_f64() * 1000.0;
    if ms > 0.0 {
        Ok(ms)
    } else {
        Err(format!("{text:?} must be longer than 0"))
    }
}

/// Refuses what the schema cannot (or what a server that skipped the schema stored).
pub fn validate(analysis: &CanaryAnalysis) -> Result<(), SpecError> {
    let refuse = |index: usize, field: &'static str, message: String| SpecError::Metric {
        index,
        field,
        message,
    };
    for (i, m) in analysis.metrics.iter().enumerate() {
        if m.min_requests.is_some_and(|n| n < 0) {
            return Err(refuse(i, "minRequests", "must be at least 0".into()));
        }
        let Some(judge) = &m.judge else { continue };
        if let Some(Err(e)) = judge_config(Some(analysis), m) {
            let field = match e {
                crate::judge::ConfigError::Alpha(_) => "judge.alpha",
                crate::judge::ConfigError::Margin(_) => "judge.margin",
                crate::judge::ConfigError::MinRequests(_) => "minRequests",
            };
            return Err(refuse(i, field, e.to_string()));
        }
        let templates = (&judge.requests_template_ref, &judge.bad_template_ref);
        match (judge.compare, templates) {
            (Some(_), (None, None)) | (None, (Some(_), Some(_))) => {}
            _ => {
                return Err(refuse(
                    i,
                    "judge",
                    "needs either compare or both requestsTemplateRef and badTemplateRef".into(),
                ));
            }
        }
        if judge.compare == Some(crate::api::JudgeCompare::SlowRate) {
            let Some(bound) = &judge.latency_bound else {
                return Err(refuse(
                    i,
                    "judge.latencyBound",
                    "is required with compare: slow-rate".into(),
                ));
            };
            latency_bound_ms(bound).map_err(|e| refuse(i, "judge.latencyBound", e))?;
        }
    }
    if analysis.min_requests.is_some_and(|n| n < 0) {
        return Err(SpecError::Analysis {
            field: "minRequests",
            message: "must be at least 0".into(),
        });
    }
    Ok(())
}

/// What a step's measurements say once modes, minimums and judges are applied.
#[derive(Debug, Default)]
pub(super) struct Weighed {
    /// Every check, for status.
    pub checks: Vec<MetricStatus>,
    /// The checks that decide (not `observe`), for the errored-query policy.
    pub deciding: Vec<MetricStatus>,
    /// `gate` checks that did not pass: they count towards `threshold`.
    pub failed: Vec<String>,
    /// `hold` checks that did not pass, and checks without enough canary requests:
    /// the step holds.
    pub held: Vec<String>,
    /// Checks without enough canary requests (a subset of the reasons to hold).
    pub insufficient: Vec<String>,
    /// `observe` checks that did not pass: reported only.
    pub observed: Vec<String>,
    /// A judge with early abort reached its bar.
    pub abort: Option<String>,
    /// A judge with early promotion reached its bar.
    pub promote: Option<String>,
}

/// Judges a step's measurements. `prior` holds the judges' state of earlier looks at
/// `revision`; the new state is returned in `judges`.
pub(super) fn weigh(
    measured: &[Measurement],
    prior: Option<&EvidenceStatus>,
    revision: &str,
    canary: &str,
    target: &str,
) -> (Weighed, Vec<JudgeStatus>) {
    let mut w = Weighed::default();
    let mut judges = Vec::new();
    for m in measured {
        let mode = mode(&m.metric);
        let (mut check, early) = match &m.counters {
            Some(look) => {
                let (check, status, early) = judge_look(m, look, prior, revision);
                judges.push(status);
                (check, early)
            }
            None => (window_check(m), None),
        };
        if mode != MetricMode::Gate {
            check.mode = Some(mode);
        }
        let judged = m.counters.is_some();
        let words = || {
            if judged {
                let why = check.message.as_deref().unwrap_or_default();
                return format!("Halt {canary} advancement: {}: {why}", check.name);
            }
            let text = verdict::explain(&check, canary, target);
            text.unwrap_or_else(|| format!("{}: {}", check.name, verdict_words(&check)))
        };
        match (mode, check.verdict) {
            (_, Verdict::Pass) => {}
            (MetricMode::Observe, _) => w.observed.push(format!(
                "{} (observe mode, not deciding): {}",
                check.name,
                check.message.clone().unwrap_or_else(&words)
            )),
            (_, Verdict::Insufficient) => {
                let why = format!(
                    "{}: {}",
                    check.name,
                    check
                        .message
                        .as_deref()
                        .unwrap_or("too few canary requests")
                );
                w.insufficient.push(why.clone());
                w.held.push(why);
            }
            (MetricMode::Hold, _) => w.held.push(words()),
            (MetricMode::Gate, _) => w.failed.push(words()),
        }
        if mode != MetricMode::Observe {
            match early {
                Some(Early::Abort(why)) => w.abort = w.abort.or(Some(why)),
                Some(Early::Promote(why)) => w.promote = w.promote.or(Some(why)),
                None => {}
            }
            w.deciding.push(check.clone());
        }
        w.checks.push(check);
    }
    // Early promotion needs every deciding check to pass: a judge within the margin
    // does not outvote a failing latency check.
    if w.deciding.iter().any(|c| c.verdict != Verdict::Pass) {
        w.promote = None;
    }
    (w, judges)
}

/// A judge's early decision, when its metric asks for it.
enum Early {
    Abort(String),
    Promote(String),
}

fn verdict_words(check: &MetricStatus) -> &'static str {
    match check.verdict {
        Verdict::Pass => "passed",
        Verdict::Fail => "failed",
        Verdict::NoData => "no data",
        Verdict::Error => "query failed",
        Verdict::Insufficient => "too few canary requests",
    }
}

/// A threshold check, `Insufficient` when its window saw fewer canary requests than it
/// needs (an errored count is the check's error: the errored-query policy applies).
pub fn window_check(m: &Measurement) -> MetricStatus {
    let mut check = verdict::judge_measurement(m);
    let needed = min_requests(None, &m.metric);
    if needed <= 0.0 || check.verdict == Verdict::Error {
        return check;
    }
    let seen = match &m.requests {
        Some(Outcome::Value(v)) if v.is_finite() => v.max(0.0),
        Some(Outcome::Error(e)) => {
            check.verdict = Verdict::Error;
            check.message = Some(format!("counting canary requests: {e}"));
            return check;
        }
        _ => 0.0,
    };
    check.requests_seen = Some(seen.round());
    check.requests_needed = Some(needed);
    if seen < needed {
        let window = m
            .metric
            .interval
            .as_deref()
            .unwrap_or(DEFAULT_METRIC_INTERVAL);
        check.verdict = Verdict::Insufficient;
        check.message = Some(format!(
            "insufficient traffic: {} canary requests in the {window} window, {} needed",
            count_words(seen),
            count_words(needed)
        ));
    }
    check
}

/// One look of a judge: its state advanced by the new counters, its verdict as a
/// check, and the early decision its metric allows.
fn judge_look(
    m: &Measurement,
    look: &Result<Sample, String>,
    prior: Option<&EvidenceStatus>,
    revision: &str,
) -> (MetricStatus, JudgeStatus, Option<Early>) {
    let name = m.metric.name.clone();
    let mut state = prior
        .and_then(|p| {
            p.judges
                .iter()
                .find(|j| j.name == name && j.revision == revision)
        })
        .map(|j| j.state.clone())
        .unwrap_or_default();
    let config = match judge_config(None, &m.metric) {
        Some(Ok(c)) => c,
        // Refused by the settings before any step; a default keeps this total.
        _ => JudgeConfig::default(),
    };
    let judge = m.metric.judge.clone().unwrap_or_default();
    let mut check = verdict::judge_measurement(m);
    check.min = None;
    check.max = None;
    let (verdict, message) = match look {
        Ok(sample) => {
            let v = state.observe(&config, Some(*sample));
            let words = explain(&v, &state.report(&config));
            (Some(v), words)
        }
        Err(why) => (None, why.clone()),
    };
    let report = state.report(&config);
    check.value = report.estimate;
    check.message = Some(message.clone());
    check.requests_seen = Some(report.evidence.canary.requests);
    check.requests_needed = Some(config.min_requests());
    let mut early = None;
    check.verdict = match verdict {
        None => Verdict::Error,
        Some(JudgeVerdict::Insufficient { seen, .. }) => {
            check.requests_seen = Some(seen);
            Verdict::Insufficient
        }
        Some(JudgeVerdict::Continue { .. }) => Verdict::Pass,
        Some(JudgeVerdict::Promote { .. }) => {
            if judge.early_promotion {
                early = Some(Early::Promote(format!("{name}: {message}")));
            }
            Verdict::Pass
        }
        Some(JudgeVerdict::Abort { .. }) => {
            if judge.early_abort {
                early = Some(Early::Abort(format!("{name}: {message}")));
            }
            Verdict::Fail
        }
    };
    let status = JudgeStatus {
        name,
        revision: revision.to_string(),
        verdict: match verdict {
            None => "Error".into(),
            Some(JudgeVerdict::Insufficient { .. }) => "Insufficient".into(),
            Some(JudgeVerdict::Continue { .. }) => "Continue".into(),
            Some(JudgeVerdict::Promote { .. }) => "Promote".into(),
            Some(JudgeVerdict::Abort { .. }) => "Abort".into(),
        },
        message,
        abort_evidence: report.evidence.abort,
        promote_evidence: report.evidence.promote,
        bar: report.evidence.bar,
        ratio: report.estimate,
        ratio_lower: report.interval.lower,
        ratio_upper: report.interval.upper,
        state,
    };
    (check, status, early)
}

impl Step<'_> {
    /// Judges the step's measurements into status (checks and judges) and reports the
    /// `observe` checks that did not pass.
    pub(super) fn weigh(&mut self, measured: &[Measurement], revision: &str) -> Weighed {
        let (canary, target) = (self.who.canary(), self.who.target());
        let prior = self.status.evidence.take();
        let (weighed, judges) = weigh(measured, prior.as_ref(), revision, &canary, &target);
        let mut evidence = prior.unwrap_or_default();
        evidence.judges = judges;
        // Canaries without evidence checks keep the status they always had.
        self.status.evidence = (evidence != EvidenceStatus::default()).then_some(evidence);
        self.status.metrics = weighed.checks.clone();
        for why in &weighed.observed {
            self.normal(reasons::EVIDENCE, why.clone());
        }
        weighed
    }

    /// Holds the step when a check lacks canary requests or a `hold` check did not pass;
    /// once the hold has lasted `progressDeadlineSeconds`, rolls back, saying why.
    pub(super) fn hold_for_evidence(&mut self, settings: &Settings, w: &Weighed) -> Option<Next> {
        if w.held.is_empty() {
            if let Some(evidence) = &mut self.status.evidence {
                evidence.insufficient_since = None;
            }
            if self.status.evidence == Some(EvidenceStatus::default()) {
                self.status.evidence = None;
            }
            return None;
        }
        let evidence = self.status.evidence.get_or_insert_with(Default::default);
        let first = evidence.insufficient_since.is_none();
        let since = *evidence.insufficient_since.get_or_insert(self.now);
        let canary = self.who.canary();
        if self.now >= clock::after(since, settings.progress_deadline) {
            let msg = format!(
                "Rolling back {canary}: no verdict for progressDeadlineSeconds {}: {}",
                settings.progress_deadline.as_secs(),
                w.held.join("; ")
            );
            return Some(self.rollback(msg));
        }
        if first && !w.insufficient.is_empty() {
            let msg = format!("Hold {canary} advancement: {}", w.insufficient.join("; "));
            self.normal(reasons::EVIDENCE, msg);
        }
        for why in w.held.iter().filter(|h| !w.insufficient.contains(h)) {
            self.warning(reasons::HALT, format!("Hold {canary} advancement: {why}"));
        }
        self.status.last_failed_check = w.held.first().cloned();
        Some(Next::At(clock::after(self.now, settings.interval)))
    }

    /// The judge's early promotion, announced with its numbers.
    pub(super) fn promote_early(&mut self, why: &str) {
        let msg = format!("Promote {} early: {why}", self.who.canary());
        self.normal(reasons::EVIDENCE, msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn analysis(metrics: serde_json::Value) -> CanaryAnalysis {
        serde_json::from_value(json!({"stepWeight": 10, "metrics": metrics})).unwrap()
    }

    #[test]
    fn a_flagger_metric_needs_no_requests_and_gates() {
        let a = analysis(json!([{"name": "request-success-rate", "thresholdRange": {"min": 99}}]));
        assert_eq!(min_requests(Some(&a), &a.metrics[0]), 0.0);
        assert_eq!(mode(&a.metrics[0]), MetricMode::Gate);
        assert!(validate(&a).is_ok());
    }

    #[test]
    fn the_judge_needs_100_requests_unless_told_otherwise() {
        let a = analysis(json!([
            {"name": "errors", "judge": {"compare": "error-rate"}},
            {"name": "slow", "minRequests": 7, "judge": {"compare": "slow-rate", "latencyBound": "500ms"}}
        ]));
        assert_eq!(min_requests(Some(&a), &a.metrics[0]), DEFAULT_MIN_REQUESTS);
        assert_eq!(min_requests(Some(&a), &a.metrics[1]), 7.0);
        assert!(validate(&a).is_ok());
        let mut with_default = a.clone();
        with_default.min_requests = Some(30);
        assert_eq!(min_requests(Some(&with_default), &a.metrics[0]), 30.0);
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (
                json!({"compare": "error-rate", "alpha": 0.7}),
                "analysis.metrics[0].judge.alpha",
            ),
            (
                json!({"compare": "error-rate", "margin": -1.0}),
                "analysis.metrics[0].judge.margin",
            ),
            (
                json!({"compare": "slow-rate"}),
                "analysis.metrics[0].judge.latencyBound",
            ),
            (
                json!({"requestsTemplateRef": {"name": "r"}}),
                "analysis.metrics[0].judge:",
            ),
        ];
        for (judge, field) in cases {
            let a = analysis(json!([{"name": "m", "judge": judge}]));
            let err = validate(&a).unwrap_err().to_string();
            assert!(err.starts_with(field), "{err}");
        }
    }

    #[test]
    fn the_latency_bound_reads_as_milliseconds() {
        assert_eq!(latency_bound_ms("500ms"), Ok(500.0));
        assert_eq!(latency_bound_ms("2s"), Ok(2000.0));
        assert!(latency_bound_ms("0s").is_err());
    }
}

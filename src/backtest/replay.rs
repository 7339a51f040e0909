//! Replaying one rollout: what the threshold checks and the evidence judge would have
//! done at each step, from values already measured. Pure: the measurements come in, the
//! reports go out; the checks are judged by [`crate::decide::verdict::judge`] and the
//! evidence by [`crate::judge::JudgeState`], exactly as serin judges them live.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::rollouts::{End, Rollout, Step};
use crate::api::{MetricMode, MetricStatus, Verdict as CheckVerdict};
use crate::judge::{JudgeConfig, JudgeState, Sample, Verdict};

/// What was measured at one look: the threshold checks, and both versions' counters for
/// each judge, in the order of [`Policy::judges`] (`None` when they could not be read).
#[derive(Debug, Clone, PartialEq)]
pub struct Look {
    pub at: DateTime<Utc>,
    pub checks: Vec<MetricStatus>,
    pub samples: Vec<Option<Sample>>,
}

/// One judge to replay: the metric it belongs to and its settings.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeSpec {
    pub metric: String,
    pub config: JudgeConfig,
}

/// How the Canary's analysis decides, as far as the replay needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Failed checks after which serin rolls back (`analysis.threshold`).
    pub threshold: i32,
    /// `analysis.metricErrorsAsFailures`: an errored query counts as a failed check.
    pub errors_as_failures: bool,
    /// The judges to replay; none replays the thresholds only.
    pub judges: Vec<JudgeSpec>,
}

/// The result of the threshold checks at one step (the worst of its looks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckResult {
    /// The Canary has no threshold checks.
    NoChecks,
    Pass,
    /// A check in `hold` mode failed, or a check saw too few requests: serin holds the
    /// step without counting a failed check.
    Hold,
    /// A query could not be run: serin holds the step without counting a failed check.
    Error,
    /// A query returned nothing: a failed check.
    NoData,
    /// A value outside its range: a failed check.
    Fail,
}

/// The threshold checks at one step.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThresholdStep {
    pub result: CheckResult,
    /// Failed checks counted so far in the rollout (serin's `failedChecks`).
    pub failed_checks: i32,
    /// Why each check that did not pass did not, at the step's worst look.
    pub reasons: Vec<String>,
    /// The failed checks reached the threshold at this step: serin would roll back here.
    pub rollback: bool,
}

/// The judge after the last look of a step.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JudgeStep {
    /// The metric the judge belongs to.
    pub metric: String,
    pub verdict: JudgeVerdict,
    pub canary_requests: f64,
    pub canary_bad: f64,
    pub primary_requests: f64,
    pub primary_bad: f64,
    /// E-value against "the canary is no worse than the primary".
    pub abort_evidence: f64,
    /// E-value against "the canary is worse by at least the margin".
    pub promote_evidence: f64,
    /// The e-value at which either acts (1/α).
    pub bar: f64,
    /// The canary's bad-event rate over the primary's, when it can be estimated.
    pub ratio: Option<f64>,
    /// The verdict in plain words.
    pub explanation: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum JudgeVerdict {
    Insufficient,
    Continue,
    Abort,
    Promote,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepReport {
    /// 1-based.
    pub step: usize,
    pub weight: Option<f64>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Checks replayed in this step (one per analysis interval, and one at its end).
    pub looks: usize,
    pub thresholds: ThresholdStep,
    /// One per judge, in the order of [`Policy::judges`].
    pub judges: Vec<JudgeStep>,
}

/// What each approach would have done over the whole rollout.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutReport {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub ended: End,
    /// The phase serin recorded when the rollout ended (`succeeded`, `failed`), when known.
    pub actual: Option<String>,
    pub steps: Vec<StepReport>,
    /// The step (1-based) at which the threshold checks would have rolled back.
    pub threshold_rollback_at: Option<usize>,
    /// Failed checks counted over the whole rollout.
    pub failed_checks: i32,
    /// The step at which a judge would have aborted.
    pub judge_abort_at: Option<usize>,
    /// The step at which the judges would have promoted early (all of them agreeing).
    pub judge_promote_at: Option<usize>,
}

/// The threshold state carried from look to look.
#[derive(Default)]
struct Thresholds {
    failed: i32,
    rollback_at: Option<usize>,
}

/// Replays one rollout. `baseline` is each judge's counters at the rollout's start;
/// `looks` has the looks of each step, in the order of `rollout.steps`.
pub fn replay(
    rollout: &Rollout,
    baseline: &[Option<Sample>],
    looks: &[Vec<Look>],
    policy: &Policy,
    actual: Option<String>,
) -> RolloutReport {
    let mut thresholds = Thresholds::default();
    let mut states: Vec<JudgeState> = policy
        .judges
        .iter()
        .map(|_| JudgeState::default())
        .collect();
    for (i, (spec, state)) in policy.judges.iter().zip(states.iter_mut()).enumerate() {
        state.observe(&spec.config, baseline.get(i).copied().flatten());
    }
    let mut promoted: Vec<bool> = vec![false; policy.judges.len()];
    let mut report = RolloutReport {
        start: rollout.start,
        end: rollout.end,
        ended: rollout.ended,
        actual,
        steps: Vec::new(),
        threshold_rollback_at: None,
        failed_checks: 0,
        judge_abort_at: None,
        judge_promote_at: None,
    };
    for (i, step) in rollout.steps.iter().enumerate() {
        let empty = Vec::new();
        let step_looks = looks.get(i).unwrap_or(&empty);
        let number = i + 1;
        let checks = replay_checks(step_looks, policy, &mut thresholds, number);
        let mut judged = Vec::new();
        for (j, (spec, state)) in policy.judges.iter().zip(states.iter_mut()).enumerate() {
            let Some(step) = replay_judge(step_looks, j, spec, state) else {
                continue;
            };
            match step.verdict {
                JudgeVerdict::Abort => {
                    report.judge_abort_at = report.judge_abort_at.or(Some(number));
                }
                JudgeVerdict::Promote => promoted[j] = true,
                _ => {}
            }
            judged.push(step);
        }
        if !promoted.is_empty() && promoted.iter().all(|p| *p) {
            report.judge_promote_at = report.judge_promote_at.or(Some(number));
        }
        report
            .steps
            .push(step_report(step, number, step_looks.len(), checks, judged));
    }
    report.threshold_rollback_at = thresholds.rollback_at;
    report.failed_checks = thresholds.failed;
    report
}

fn step_report(
    step: &Step,
    number: usize,
    looks: usize,
    thresholds: ThresholdStep,
    judges: Vec<JudgeStep>,
) -> StepReport {
    StepReport {
        step: number,
        weight: step.weight,
        start: step.start,
        end: step.end,
        looks,
        thresholds,
        judges,
    }
}

/// The threshold checks of one step's looks, counted as serin counts them.
fn replay_checks(
    looks: &[Look],
    policy: &Policy,
    state: &mut Thresholds,
    step: usize,
) -> ThresholdStep {
    let mut worst = CheckResult::NoChecks;
    let mut reasons = Vec::new();
    let mut rollback = false;
    for look in looks {
        let result = look_result(&look.checks, policy.errors_as_failures);
        if matches!(result, CheckResult::Fail | CheckResult::NoData)
            || (result == CheckResult::Error && policy.errors_as_failures)
        {
            state.failed = state.failed.saturating_add(1);
            if state.failed >= policy.threshold && state.rollback_at.is_none() {
                state.rollback_at = Some(step);
                rollback = true;
            }
        }
        if result >= worst {
            worst = result;
            reasons = look.checks.iter().filter_map(reason).collect();
        }
    }
    ThresholdStep {
        result: worst,
        failed_checks: state.failed,
        reasons,
        rollback,
    }
}

/// One look's result: a value outside its range or no data fails it (as in serin, a
/// failed value wins over an errored query). Only `gate` checks count; a failing `hold`
/// check holds; an `observe` check is reported and never decides.
fn look_result(checks: &[MetricStatus], errors_as_failures: bool) -> CheckResult {
    let gate = |c: &&MetricStatus| c.mode.is_none_or(|m| m == MetricMode::Gate);
    let has = |v: CheckVerdict| checks.iter().filter(gate).any(|c| c.verdict == v);
    let held = checks.iter().any(|c| {
        c.verdict == CheckVerdict::Insufficient
            || (c.mode == Some(MetricMode::Hold) && c.verdict != CheckVerdict::Pass)
    });
    if checks.is_empty() {
        CheckResult::NoChecks
    } else if has(CheckVerdict::Fail) || (errors_as_failures && has(CheckVerdict::Error)) {
        CheckResult::Fail
    } else if has(CheckVerdict::NoData) {
        CheckResult::NoData
    } else if has(CheckVerdict::Error) {
        CheckResult::Error
    } else if held {
        CheckResult::Hold
    } else {
        CheckResult::Pass
    }
}

/// Why a check did not pass, in a few words (its mode when not `gate`); `None` for a
/// pass.
fn reason(c: &MetricStatus) -> Option<String> {
    let text = verdict_words(c)?;
    Some(match c.mode {
        Some(m) if m != MetricMode::Gate => format!("{text} ({})", m.as_str()),
        _ => text,
    })
}

fn verdict_words(c: &MetricStatus) -> Option<String> {
    match c.verdict {
        CheckVerdict::Pass => None,
        CheckVerdict::Fail => {
            let value = c.value.map_or("?".into(), |v| format!("{v:.2}"));
            let bound = match (c.min, c.max) {
                (Some(min), _) if c.value.is_some_and(|v| v < min) => format!("< {min}"),
                (_, Some(max)) => format!("> {max}"),
                (Some(min), None) => format!("< {min}"),
                (None, None) => String::new(),
            };
            Some(format!("{} {value} {bound}", c.name).trim_end().to_string())
        }
        CheckVerdict::NoData => Some(format!("{}: no data", c.name)),
        CheckVerdict::Insufficient => Some(format!("{}: too few canary requests", c.name)),
        CheckVerdict::Error => Some(format!(
            "{}: {}",
            c.name,
            c.message.as_deref().unwrap_or("error")
        )),
    }
}

/// Feeds one step's looks to the judge; the verdict of the step is its last look's,
/// unless an earlier look of the step decided.
fn replay_judge(
    looks: &[Look],
    index: usize,
    spec: &JudgeSpec,
    state: &mut JudgeState,
) -> Option<JudgeStep> {
    let mut last = None;
    for look in looks {
        let sample = look.samples.get(index).copied().flatten();
        let verdict = state.observe(&spec.config, sample);
        let decided = matches!(verdict, Verdict::Abort { .. } | Verdict::Promote { .. });
        last = Some(judge_step(&spec.metric, &verdict, &spec.config, state));
        if decided {
            break;
        }
    }
    last
}

fn judge_step(
    metric: &str,
    verdict: &Verdict,
    config: &JudgeConfig,
    state: &JudgeState,
) -> JudgeStep {
    let report = state.report(config);
    let ev = verdict.evidence();
    JudgeStep {
        metric: metric.to_string(),
        verdict: match verdict {
            Verdict::Insufficient { .. } => JudgeVerdict::Insufficient,
            Verdict::Continue { .. } => JudgeVerdict::Continue,
            Verdict::Abort { .. } => JudgeVerdict::Abort,
            Verdict::Promote { .. } => JudgeVerdict::Promote,
        },
        canary_requests: ev.canary.requests,
        canary_bad: ev.canary.bad,
        primary_requests: ev.primary.requests,
        primary_bad: ev.primary.bad,
        abort_evidence: ev.abort,
        promote_evidence: ev.promote,
        bar: ev.bar,
        ratio: report.estimate,
        explanation: crate::judge::explain(verdict, &report),
    }
}

#[cfg(test)]
mod tests;

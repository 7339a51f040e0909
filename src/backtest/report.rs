//! The backtest's output: a table per rollout with a verdict line for each approach and
//! a summary, or the same as JSON.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::replay::{CheckResult, JudgeSpec, JudgeStep, JudgeVerdict, RolloutReport, StepReport};
use super::rollouts::End;

/// What was replayed, and how.
pub(super) struct Header {
    pub(super) canary: String,
    pub(super) namespace: String,
    pub(super) prometheus: String,
    pub(super) searched: String,
    pub(super) interval: Duration,
    pub(super) threshold: i32,
    pub(super) judges: Vec<JudgeSpec>,
    /// The judge is not the Canary's: the backtest added an error-rate judge.
    pub(super) what_if: bool,
}

/// Counts over all rollouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Summary {
    pub(super) rollouts: usize,
    pub(super) threshold_rollbacks: usize,
    pub(super) judge_aborts: usize,
    pub(super) judge_early_promotions: usize,
}

pub(super) fn summary(reports: &[RolloutReport]) -> Summary {
    Summary {
        rollouts: reports.len(),
        threshold_rollbacks: reports
            .iter()
            .filter(|r| r.threshold_rollback_at.is_some())
            .count(),
        judge_aborts: reports
            .iter()
            .filter(|r| r.judge_abort_at.is_some())
            .count(),
        judge_early_promotions: reports
            .iter()
            .filter(|r| r.judge_abort_at.is_none() && r.judge_promote_at.is_some())
            .count(),
    }
}

pub(super) fn json(header: &Header, reports: &[RolloutReport]) -> String {
    let judges: Vec<_> = header
        .judges
        .iter()
        .map(|j| {
            serde_json::json!({
                "metric": j.metric,
                "alpha": j.config.alpha(),
                "margin": j.config.margin(),
                "minRequests": j.config.min_requests(),
            })
        })
        .collect();
    let value = serde_json::json!({
        "canary": header.canary,
        "namespace": header.namespace,
        "prometheus": header.prometheus,
        "searched": header.searched,
        "intervalSeconds": header.interval.as_secs_f64(),
        "threshold": header.threshold,
        "judges": judges,
        "judgeWhatIf": header.what_if,
        "rollouts": reports,
        "summary": summary(reports),
    });
    let mut out =
        serde_json::to_string_pretty(&value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    out.push('\n');
    out
}

pub(super) fn table(header: &Header, reports: &[RolloutReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Canary {}.{}: {} rollout(s) ({}), Prometheus {}",
        header.canary,
        header.namespace,
        reports.len(),
        header.searched,
        header.prometheus
    );
    let _ = writeln!(
        out,
        "Thresholds: a check every {}, rollback after {} failed check(s)",
        crate::api::duration::format_go(header.interval),
        header.threshold
    );
    if header.judges.is_empty() {
        out.push_str("Judge: off (--no-judge)\n");
    }
    for j in &header.judges {
        let what_if = if header.what_if {
            " (not in the Canary: canary vs primary 5xx rate, with the --alpha/--margin/--min-requests settings)"
        } else {
            ""
        };
        let c = &j.config;
        let _ = writeln!(
            out,
            "Judge {}{what_if}: alpha {}, margin {}, at least {} canary requests a look (abort or promote at evidence {})",
            j.metric,
            c.alpha(),
            c.margin(),
            c.min_requests(),
            c.bar()
        );
    }
    for (i, r) in reports.iter().enumerate() {
        out.push('\n');
        rollout(&mut out, i + 1, r, header);
    }
    let s = summary(reports);
    out.push('\n');
    let _ = write!(
        out,
        "Summary: {} rollout(s); thresholds would have rolled back {}",
        s.rollouts, s.threshold_rollbacks
    );
    if !header.judges.is_empty() {
        let _ = write!(
            out,
            "; judge would have aborted {}, promoted early {}",
            s.judge_aborts, s.judge_early_promotions
        );
    }
    out.push('\n');
    out
}

fn rollout(out: &mut String, n: usize, r: &RolloutReport, header: &Header) {
    let ended = match r.ended {
        End::Finished => "finished",
        End::Gap => "history stops",
        End::InProgress => "in progress",
    };
    let actual = r
        .actual
        .as_deref()
        .map(|a| format!(", serin recorded: {a}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "Rollout {n}: {} to {} ({}, {ended}{actual})",
        super::rfc3339(r.start),
        super::rfc3339(r.end),
        crate::api::duration::format_go((r.end - r.start).to_std().unwrap_or_default()),
    );
    let _ = writeln!(
        out,
        "  {:<4} {:>6} {:<20} {:>5}  {:<8} {:>6}  {:<12} {:>15} {:>15} {:>17}  NOTE",
        "STEP",
        "WEIGHT",
        "END",
        "LOOKS",
        "CHECKS",
        "FAILED",
        "JUDGE",
        "CANARY REQ/BAD",
        "PRIMARY REQ/BAD",
        "EVIDENCE (ab/pr)"
    );
    for s in &r.steps {
        step(out, s);
    }
    let thresholds = match r.threshold_rollback_at {
        Some(k) => format!(
            "would roll back at step {k} ({} failed checks, threshold {})",
            r.failed_checks, header.threshold
        ),
        None => format!(
            "would pass ({} failed checks, threshold {})",
            r.failed_checks, header.threshold
        ),
    };
    let _ = writeln!(out, "  thresholds: {thresholds}");
    if !header.judges.is_empty() {
        let last = r.steps.iter().rev().find_map(|s| s.judges.first());
        // The judge that decided at step k (the first to abort, else the first).
        let at = |k: usize| {
            let judges = r.steps.get(k - 1).map(|s| &s.judges[..]).unwrap_or(&[]);
            judges
                .iter()
                .find(|j| j.verdict == JudgeVerdict::Abort)
                .or(judges.first())
                .map(|j| format!("{}: {}", j.metric, j.explanation))
                .unwrap_or_default()
        };
        let judge = match (r.judge_abort_at, r.judge_promote_at) {
            (Some(k), p) if p.is_none_or(|p| k <= p) => {
                format!("would abort at step {k}: {}", at(k))
            }
            (_, Some(k)) => format!("would promote early at step {k}: {}", at(k)),
            _ => match last {
                Some(j) if j.verdict == JudgeVerdict::Insufficient => {
                    format!("no decision, too little traffic: {}", j.explanation)
                }
                Some(j) => format!("no decision: {}", j.explanation),
                None => "no decision: nothing measured".into(),
            },
        };
        let _ = writeln!(out, "  judge:      {judge}");
    }
}

fn step(out: &mut String, s: &StepReport) {
    let weight = s.weight.map_or("-".into(), |w| format!("{w}"));
    let checks = match s.thresholds.result {
        CheckResult::NoChecks => "none",
        CheckResult::Pass => "pass",
        CheckResult::Hold => "hold",
        CheckResult::Error => "error",
        CheckResult::NoData => "no data",
        CheckResult::Fail => "fail",
    };
    // The columns show the first judge; the others' verdicts go to the note.
    let (verdict, canary, primary, evidence) = match s.judges.first() {
        Some(j) => judge_columns(j),
        None => ("-".into(), "-".into(), "-".into(), "-".into()),
    };
    let mut notes = s.thresholds.reasons.clone();
    for j in s.judges.iter().skip(1) {
        notes.push(format!("judge {}: {}", j.metric, judge_columns(j).0));
    }
    let mut note = notes.join("; ");
    if s.thresholds.rollback {
        note = format!("ROLLBACK; {note}");
    }
    let _ = writeln!(
        out,
        "  {:<4} {:>6} {:<20} {:>5}  {:<8} {:>6}  {:<12} {:>15} {:>15} {:>17}  {}",
        s.step,
        weight,
        super::rfc3339(s.end),
        s.looks,
        checks,
        s.thresholds.failed_checks,
        verdict,
        canary,
        primary,
        evidence,
        note.trim_end_matches("; ")
    );
}

fn judge_columns(j: &JudgeStep) -> (String, String, String, String) {
    let verdict = match j.verdict {
        JudgeVerdict::Insufficient => "insufficient",
        JudgeVerdict::Continue => "continue",
        JudgeVerdict::Abort => "ABORT",
        JudgeVerdict::Promote => "PROMOTE",
    };
    (
        verdict.into(),
        format!("{}/{}", count(j.canary_requests), count(j.canary_bad)),
        format!("{}/{}", count(j.primary_requests), count(j.primary_bad)),
        format!(
            "{}/{}",
            evidence(j.abort_evidence),
            evidence(j.promote_evidence)
        ),
    )
}

fn count(n: f64) -> String {
    if n.is_finite() && n.abs() < 1e15 {
        format!("{}", n.round() as i64)
    } else {
        format!("{n:e}")
    }
}

fn evidence(e: f64) -> String {
    if !e.is_finite() || e >= 1e6 {
        format!("{e:.1e}")
    } else if e < 10.0 {
        format!("{e:.2}")
    } else {
        format!("{e:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::replay::ThresholdStep;
    use crate::judge::JudgeConfig;
    use chrono::DateTime;

    fn report(rollback: Option<usize>, abort: Option<usize>) -> RolloutReport {
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        RolloutReport {
            start: t,
            end: t,
            ended: End::Finished,
            actual: Some("failed".into()),
            steps: vec![StepReport {
                step: 1,
                weight: Some(20.0),
                start: t,
                end: t,
                looks: 1,
                thresholds: ThresholdStep {
                    result: CheckResult::Fail,
                    failed_checks: 1,
                    reasons: vec!["request-success-rate 80.00 < 99".into()],
                    rollback: rollback.is_some(),
                },
                judges: Vec::new(),
            }],
            threshold_rollback_at: rollback,
            failed_checks: 1,
            judge_abort_at: abort,
            judge_promote_at: None,
        }
    }

    fn header() -> Header {
        Header {
            canary: "podinfo".into(),
            namespace: "test".into(),
            prometheus: "http://p:9090".into(),
            searched: "x".into(),
            interval: Duration::from_secs(30),
            threshold: 1,
            judges: vec![JudgeSpec {
                metric: "errors".into(),
                config: JudgeConfig::default(),
            }],
            what_if: false,
        }
    }

    #[test]
    fn the_table_names_each_verdict_and_sums_them_up() {
        let text = table(&header(), &[report(Some(1), Some(1)), report(None, None)]);
        assert!(
            text.contains("thresholds: would roll back at step 1"),
            "{text}"
        );
        assert!(
            text.contains("ROLLBACK; request-success-rate 80.00 < 99"),
            "{text}"
        );
        assert!(text.contains("serin recorded: failed"), "{text}");
        assert!(
            text.contains("Summary: 2 rollout(s); thresholds would have rolled back 1; judge would have aborted 1, promoted early 0"),
            "{text}"
        );
    }

    #[test]
    fn json_carries_the_reports_and_the_summary() {
        let text = json(&header(), &[report(Some(1), None)]);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["summary"]["thresholdRollbacks"], 1);
        assert_eq!(v["rollouts"][0]["thresholdRollbackAt"], 1);
        assert_eq!(v["rollouts"][0]["steps"][0]["thresholds"]["result"], "fail");
        assert_eq!(v["judges"][0]["alpha"], 0.01);
    }
}

//! What a person wants to know about a Canary, read from its spec and status at a given
//! instant: pure, so the table and the detailed view are tested without a cluster.
//!
//! The plugin reads only what serin wrote (status, events); it never judges a check
//! itself. The interval and the steps come from the same [`Settings`] serin decides
//! with, so "next step in 2s" and "step 2/3" mean what serin means.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::api::{Canary, CanaryStatus, MetricStatus, Phase, Verdict, WebhookStatus};
use crate::decide::strategy::label_of;
use crate::decide::{Settings, StrategyKind};

/// How far a run has come: its strategy, traffic and step.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// `canary`, `ab-testing` or `blue-green`.
    pub strategy: &'static str,
    /// `40%` for the weighted canary, `iteration 3` for the iterating strategies.
    pub traffic: String,
    /// The step under way (0 before the analysis starts) and the number of steps.
    pub step: (usize, usize),
    /// The weight of each step (weighted canary only).
    pub weights: Vec<i32>,
    /// Time between steps, as serin reads the spec; None when the spec is unusable.
    pub interval: Option<Duration>,
    /// Failed checks that roll back.
    pub threshold: i32,
}

/// Reads the progress of `canary` from its spec and status.
pub fn progress(canary: &Canary) -> Progress {
    let status = canary.status.clone().unwrap_or_default();
    // The plugin does not know serin's --min-interval: the spec's interval as written.
    let settings = Settings::from_spec(&canary.spec, "istio", Duration::ZERO).ok();
    let strategy = label_of(&canary.spec);
    let Some(settings) = settings else {
        return Progress {
            strategy,
            traffic: format!("{}%", status.canary_weight),
            step: (0, 0),
            weights: Vec::new(),
            interval: None,
            threshold: 0,
        };
    };
    let (traffic, step, weights) = match &settings.kind {
        StrategyKind::Canary => {
            let done = settings
                .steps
                .iter()
                .filter(|w| **w <= status.canary_weight && status.canary_weight > 0)
                .count();
            (
                format!("{}%", status.canary_weight),
                (done, settings.steps.len()),
                settings.steps.clone(),
            )
        }
        StrategyKind::AbTesting { iterations, .. } | StrategyKind::BlueGreen { iterations, .. } => {
            (
                format!("iteration {}", status.iterations),
                (
                    status.iterations.max(0) as usize,
                    (*iterations).max(0) as usize,
                ),
                Vec::new(),
            )
        }
    };
    let step = match status.phase() {
        // The analysis is over: every step was passed.
        Phase::WaitingPromotion | Phase::Promoting | Phase::Finalising | Phase::Succeeded => {
            (step.1, step.1)
        }
        _ => step,
    };
    Progress {
        strategy,
        traffic,
        step,
        weights,
        interval: Some(settings.interval),
        threshold: settings.threshold,
    }
}

/// Whether serin is analysing a revision (checks run, steps advance).
pub fn analysing(phase: Phase) -> bool {
    matches!(
        phase,
        Phase::Waiting | Phase::Progressing | Phase::WaitingPromotion
    )
}

/// When the next step is due, in words: `in 2s`, `due now`, or why none is coming.
pub fn next_step(canary: &Canary, progress: &Progress, now: DateTime<Utc>) -> String {
    let status = canary.status.clone().unwrap_or_default();
    if let Some(p) = &status.paused {
        return format!("paused by {}", p.by);
    }
    if let Some(gate) = waiting_gate(&status) {
        return format!("awaits {gate}");
    }
    match status.phase() {
        Phase::Progressing => {}
        Phase::Waiting => return "awaits confirm-rollout".into(),
        Phase::WaitingPromotion => return "awaits confirm-promotion".into(),
        Phase::Promoting | Phase::Finalising => return "promoting".into(),
        _ => return "-".into(),
    }
    if canary.spec.suspend {
        return "suspended".into();
    }
    let (Some(started), Some(interval)) = (status.step_started_at, progress.interval) else {
        return "-".into();
    };
    let due = started + chrono::Duration::from_std(interval).unwrap_or_default();
    let left = (due - now).to_std().unwrap_or_default();
    if left.is_zero() {
        "due now".into()
    } else {
        format!("in {}", age(left))
    }
}

/// The gate the run holds at (`confirm-promotion`): serin's record of it, else a gate
/// webhook of the revision under analysis that said no.
pub fn waiting_gate(status: &CanaryStatus) -> Option<String> {
    status
        .awaiting
        .as_ref()
        .map(|a| a.gate.clone())
        .or_else(|| closed_gates(status).first().map(|w| w.type_.clone()))
}

/// The gate hooks of the current revision that said no at their last call.
pub fn closed_gates(status: &CanaryStatus) -> Vec<&WebhookStatus> {
    let revision = status.last_applied_spec.as_deref().unwrap_or_default();
    status
        .webhooks
        .iter()
        .filter(|w| w.type_.starts_with("confirm-") && !w.passed && w.revision == revision)
        .collect()
}

/// The last verdict, in words: `all 2 checks passed`, `request-success-rate 97.1 below 99`.
pub fn verdict_words(status: &CanaryStatus) -> String {
    match status.phase() {
        Phase::Succeeded => return "promoted".into(),
        Phase::Failed => {
            return status
                .last_failed_check
                .clone()
                .unwrap_or_else(|| "rolled back".into());
        }
        Phase::Initialized if status.metrics.is_empty() => return "no analysis yet".into(),
        _ => {}
    }
    if status.metrics.is_empty() {
        return "no checks yet".into();
    }
    let bad: Vec<String> = status
        .metrics
        .iter()
        .filter(|m| m.verdict != Verdict::Pass)
        .map(check_words)
        .collect();
    if bad.is_empty() {
        let n = status.metrics.len();
        if n == 1 {
            "1 check passed".into()
        } else {
            format!("all {n} checks passed")
        }
    } else {
        bad.join("; ")
    }
}

/// One check in words: `request-success-rate 97.1 below 99`.
pub fn check_words(m: &MetricStatus) -> String {
    match m.verdict {
        Verdict::Pass => format!("{} {} within {}", m.name, value(m.value), range(m)),
        Verdict::Fail => match (m.value, m.min, m.max) {
            (Some(v), Some(min), _) if v < min => {
                format!("{} {} below {}", m.name, value(Some(v)), value(Some(min)))
            }
            (Some(v), _, Some(max)) if v > max => {
                format!("{} {} above {}", m.name, value(Some(v)), value(Some(max)))
            }
            _ => format!("{} {} outside {}", m.name, value(m.value), range(m)),
        },
        Verdict::NoData => format!("{}: no data", m.name),
        Verdict::Error => format!("{}: query failed", m.name),
        Verdict::Insufficient => match (m.requests_seen, m.requests_needed) {
            (Some(seen), Some(needed)) => {
                format!("{}: {seen} of {needed} canary requests needed", m.name)
            }
            _ => format!("{}: not enough canary requests yet", m.name),
        },
    }
}

/// The accepted range of a check: `min 99`, `max 500`, `99..500`.
pub fn range(m: &MetricStatus) -> String {
    match (m.min, m.max) {
        (Some(a), Some(b)) => format!("{}..{}", value(Some(a)), value(Some(b))),
        (Some(a), None) => format!("min {}", value(Some(a))),
        (None, Some(b)) => format!("max {}", value(Some(b))),
        (None, None) => "any".into(),
    }
}

/// A measured value, short: `99.82`, `412`, `-`.
pub fn value(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{}", v as i64),
        Some(v) => {
            let s = format!("{v:.3}");
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        }
    }
}

/// A duration the way kubectl prints ages: `7s`, `2m10s`, `3h4m`, `5d`.
pub fn age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{s}s"),
        120..=3599 if s.is_multiple_of(60) => format!("{}m", s / 60),
        120..=3599 => format!("{}m{}s", s / 60, s % 60),
        3600..=86_399 if (s % 3600) / 60 == 0 => format!("{}h", s / 3600),
        3600..=86_399 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d", s / 86_400),
    }
}

/// The time since `t`, or `-`.
pub fn since(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match t {
        Some(t) => age((now - t).to_std().unwrap_or_default()),
        None => "-".into(),
    }
}

/// A revision hash, shortened for a terminal.
pub fn short(revision: Option<&str>) -> String {
    match revision {
        Some(r) if !r.is_empty() => r.chars().take(10).collect(),
        _ => "-".into(),
    }
}

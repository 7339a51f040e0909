//! Text for a terminal: the `get` table and the `status` page. Pure functions of the
//! objects and the instant, so golden tests pin what a person reads.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Event;

use super::view::{
    self, Progress, age, analysing, check_words, closed_gates, next_step, progress, range, short,
    since, value, verdict_words,
};
use crate::api::{Canary, Phase, Verdict};

/// The `kubectl serin get` table; `namespaces` adds the NAMESPACE column (`-A`).
pub fn table(canaries: &[&Canary], namespaces: bool, now: DateTime<Utc>) -> String {
    let mut head = vec![
        "NAME",
        "PHASE",
        "STRATEGY",
        "TRAFFIC",
        "STEP",
        "NEXT",
        "FAILED",
        "LAST VERDICT",
    ];
    if namespaces {
        head.insert(0, "NAMESPACE");
    }
    let mut rows: Vec<Vec<String>> = vec![head.iter().map(|h| h.to_string()).collect()];
    let mut sorted: Vec<&Canary> = canaries.to_vec();
    sorted.sort_by_key(|c| (c.metadata.namespace.clone(), c.metadata.name.clone()));
    for c in sorted {
        let mut row = row(c, now);
        if namespaces {
            row.insert(0, c.metadata.namespace.clone().unwrap_or_default());
        }
        rows.push(row);
    }
    if rows.len() == 1 {
        return "No Canaries found.\n".into();
    }
    columns(&rows)
}

fn row(c: &Canary, now: DateTime<Utc>) -> Vec<String> {
    let status = c.status.clone().unwrap_or_default();
    let p = progress(c);
    vec![
        c.metadata.name.clone().unwrap_or_default(),
        phase_words(c),
        p.strategy.to_string(),
        p.traffic.clone(),
        step_words(&p),
        next_step(c, &p, now),
        if p.threshold > 0 {
            format!("{}/{}", status.failed_checks, p.threshold)
        } else {
            status.failed_checks.to_string()
        },
        verdict_words(&status),
    ]
}

/// The phase, with what holds it (`Progressing (suspended)`).
fn phase_words(c: &Canary) -> String {
    let phase = c.status.as_ref().map(|s| s.phase()).unwrap_or_default();
    let paused = c.status.as_ref().is_some_and(|s| s.paused.is_some());
    if paused && analysing(phase) {
        format!("{phase} (paused)")
    } else if c.spec.suspend && analysing(phase) {
        format!("{phase} (suspended)")
    } else {
        phase.to_string()
    }
}

fn step_words(p: &Progress) -> String {
    if p.step.1 == 0 {
        "-".into()
    } else {
        format!("{}/{}", p.step.0, p.step.1)
    }
}

/// Left-aligned columns, three spaces apart, as kubectl prints tables.
fn columns(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < r.len() {
                let pad = widths[i] - cell.chars().count() + 3;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The `kubectl serin status NAME` page: where the run stands, each step with its checks,
/// the gates, the revisions, what comes next, and the latest events.
pub fn status_page(c: &Canary, events: &[&Event], now: DateTime<Utc>) -> String {
    let status = c.status.clone().unwrap_or_default();
    let p = progress(c);
    let name = c.metadata.name.clone().unwrap_or_default();
    let ns = c.metadata.namespace.clone().unwrap_or_default();
    let mut out = String::new();
    let every = p
        .interval
        .map(|i| format!(", a step every {}", age(i)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "Canary:     {ns}/{name} ({} {}, {} strategy{every})",
        c.spec.target_ref.kind, c.spec.target_ref.name, p.strategy
    );
    let _ = writeln!(
        out,
        "Phase:      {} for {}, {} traffic to the canary",
        phase_words(c),
        since(status.last_transition_time, now),
        p.traffic
    );
    // While Waiting, the new revision has not started its run: it is the one the gate
    // holds, not `lastAppliedSpec` (still the previous run's).
    let waiting = status
        .awaiting
        .as_ref()
        .filter(|_| status.phase == Some(crate::api::Phase::Waiting));
    match waiting {
        Some(gate) => {
            let _ = writeln!(
                out,
                "Revision:   {} waiting to start, {} promoted",
                short(Some(gate.revision.as_str())),
                short(status.last_promoted_spec.as_deref())
            );
        }
        None => {
            let _ = writeln!(
                out,
                "Revision:   {} under analysis, {} promoted",
                short(status.last_applied_spec.as_deref()),
                short(status.last_promoted_spec.as_deref())
            );
        }
    }
    if p.threshold > 0 {
        let _ = writeln!(
            out,
            "Checks:     {} failed ({} roll back)",
            status.failed_checks, p.threshold
        );
    }
    if let Some(paused) = &status.paused {
        let _ = writeln!(
            out,
            "Paused:     by {} {} ago{}: steps, promotion and rollback wait for `kubectl serin resume {name}`",
            paused.by,
            since(Some(paused.since), now),
            paused
                .reason
                .as_ref()
                .map(|r| format!(" ({r:?})"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(out, "Next:       {}", next_words(c, &p, now));
    out.push('\n');
    steps_section(&mut out, c, &p, now);
    gates_section(&mut out, c, now);
    if let Some(e) = &status.metric_errors {
        let _ = writeln!(
            out,
            "Query errors: {} in a row since {} ago: {}\n",
            e.count,
            since(Some(e.since), now),
            e.last
        );
    }
    events_section(&mut out, events, now);
    out
}

/// What happens next and when, in a sentence.
fn next_words(c: &Canary, p: &Progress, now: DateTime<Utc>) -> String {
    let status = c.status.clone().unwrap_or_default();
    let name = c.metadata.name.clone().unwrap_or_default();
    let when = next_step(c, p, now);
    if status.paused.is_some() && analysing(status.phase()) {
        return format!(
            "nothing while paused; after `kubectl serin resume {name}` the next step comes one interval later"
        );
    }
    if let Some(gate) = view::waiting_gate(&status) {
        return format!("waits for its {gate} gate: `kubectl serin approve {name}` opens it");
    }
    match status.phase() {
        Phase::Progressing if c.spec.suspend => {
            "nothing: spec.suspend is set (in Git); checks and steps are held".into()
        }
        Phase::Progressing => {
            let after = if p.step.1 > 0 && p.step.0 >= p.step.1 {
                "promotion".to_string()
            } else if let Some(w) = p.weights.get(p.step.0) {
                format!("step {} ({w}% traffic)", p.step.0 + 1)
            } else if p.step.1 > 0 {
                format!("iteration {}", p.step.0 + 1)
            } else {
                "the next step".into()
            };
            format!(
                "{after} {when}, if the checks pass ({} more failed checks roll back)",
                (p.threshold - status.failed_checks).max(0)
            )
        }
        Phase::Waiting => {
            format!(
                "the analysis starts once confirm-rollout opens: `kubectl serin approve {name}`"
            )
        }
        Phase::WaitingPromotion => {
            format!("promotion once confirm-promotion opens: `kubectl serin approve {name}`")
        }
        Phase::Promoting | Phase::Finalising => "promotion under way".into(),
        Phase::Failed => format!(
            "nothing until a new revision, or `kubectl serin retry {name}` to analyse this one again"
        ),
        Phase::Succeeded | Phase::Initialized => "nothing until a new revision".into(),
        Phase::Initializing => "initialisation".into(),
        Phase::Terminating | Phase::Terminated => "nothing: the Canary is being deleted".into(),
    }
}

fn steps_section(out: &mut String, c: &Canary, p: &Progress, now: DateTime<Utc>) {
    let status = c.status.clone().unwrap_or_default();
    if p.step.1 == 0 {
        return;
    }
    out.push_str("Steps:\n");
    let checked = status
        .metrics
        .iter()
        .map(|m| m.checked_at)
        .max()
        .map(|t| format!(" (checked {} ago)", since(Some(t), now)))
        .unwrap_or_default();
    let current = p.step.0;
    let over = !analysing(status.phase()) && status.phase() != Phase::Progressing;
    for i in 1..=p.step.1 {
        let what = match p.weights.get(i - 1) {
            Some(w) => format!("{w}%"),
            None => format!("iteration {i}"),
        };
        let (mark, note) = if i < current || (i == current && over) {
            ("[x]", String::new())
        } else if i == current {
            ("[>]", checked.clone())
        } else {
            ("[ ]", String::new())
        };
        let _ = writeln!(out, "  {mark} {i}  {what}{note}");
        if i == current && !over {
            checks(out, &status.metrics);
        }
    }
    let promoted = matches!(status.phase(), Phase::Succeeded);
    let mark = if promoted { "[x]" } else { "[ ]" };
    let _ = writeln!(out, "  {mark}    promote");
    out.push('\n');
}

fn checks(out: &mut String, metrics: &[crate::api::MetricStatus]) {
    let w = metrics.iter().map(|m| m.name.len()).max().unwrap_or(0);
    for m in metrics {
        let verdict = match m.verdict {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::NoData => "no data",
            Verdict::Error => "ERROR",
            Verdict::Insufficient => "too few requests",
        };
        let _ = writeln!(
            out,
            "           {:<w$}  {:>8}  {:<12}  {verdict}",
            m.name,
            value(m.value),
            range(m)
        );
        if m.verdict != Verdict::Pass {
            let why = m.message.clone().unwrap_or_else(|| check_words(m));
            let _ = writeln!(out, "           {:<w$}  {why}", "");
        }
    }
}

fn gates_section(out: &mut String, c: &Canary, now: DateTime<Utc>) {
    let status = c.status.clone().unwrap_or_default();
    let hooks = closed_gates(&status);
    if status.awaiting.is_some() || !hooks.is_empty() {
        out.push_str("Gates waiting:\n");
        if let Some(a) = &status.awaiting {
            let by = if a.manual {
                "a person's approval"
            } else {
                "its webhook or a person's approval"
            };
            let why = if a.message.is_empty() {
                String::new()
            } else {
                format!(": {}", a.message)
            };
            let _ = writeln!(
                out,
                "  {} of revision {} for {}, waits for {by}{why}",
                a.gate,
                short(Some(&a.revision)),
                since(Some(a.since), now)
            );
        }
        for g in hooks {
            if status
                .awaiting
                .as_ref()
                .is_some_and(|a| a.gate == g.type_ && a.message == g.message)
            {
                continue;
            }
            let _ = writeln!(out, "  {} (webhook {}): {}", g.type_, g.name, g.message);
        }
        out.push('\n');
    }
    if !status.approvals.is_empty() {
        out.push_str("Approved:\n");
        for a in &status.approvals {
            let _ = writeln!(
                out,
                "  {} of revision {} by {} {} ago{}",
                a.gate,
                short(Some(&a.revision)),
                a.by,
                since(Some(a.at), now),
                a.reason
                    .as_ref()
                    .map(|r| format!(": {r:?}"))
                    .unwrap_or_default()
            );
        }
        out.push('\n');
    }
    if !status.actions.is_empty() {
        out.push_str("Actions:\n");
        let recent = &status.actions[status.actions.len().saturating_sub(5)..];
        for a in recent {
            let _ = writeln!(
                out,
                "  {:>5}  {:<8} by {}{}: {:?}, {}",
                since(Some(a.at), now),
                a.action.as_str(),
                a.by,
                a.reason
                    .as_ref()
                    .map(|r| format!(" ({r:?})"))
                    .unwrap_or_default(),
                a.outcome,
                a.message
            );
        }
        out.push('\n');
    }
}

fn events_section(out: &mut String, events: &[&Event], now: DateTime<Utc>) {
    if events.is_empty() {
        return;
    }
    let mut sorted: Vec<&Event> = events.to_vec();
    sorted.sort_by_key(|e| event_time(e));
    let recent = &sorted[sorted.len().saturating_sub(8)..];
    out.push_str("Events:\n");
    for e in recent {
        let _ = writeln!(
            out,
            "  {:>5}  {:<7}  {:<16}  {}",
            since(event_time(e), now),
            e.type_.clone().unwrap_or_default(),
            e.reason.clone().unwrap_or_default(),
            e.message.clone().unwrap_or_default().trim()
        );
    }
}

/// The latest time an event happened, whichever field its writer filled.
fn event_time(e: &Event) -> Option<DateTime<Utc>> {
    e.series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_ref().map(|t| t.0))
        .or_else(|| e.last_timestamp.as_ref().map(|t| t.0))
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.first_timestamp.as_ref().map(|t| t.0))
        .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .and_then(|t| DateTime::from_timestamp(t.as_second(), t.subsec_nanosecond().max(0) as u32))
}

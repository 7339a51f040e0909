//! `serin backtest`: replays a Canary's analysis over past rollouts found in Prometheus,
//! and prints how each would have been judged at each step, by the threshold checks and
//! by the evidence judge, so a team can see the false-abort rate of a check on its own
//! history before letting it gate.
//!
//! The pipeline: load the Canary (a file, or the cluster) -> find the rollouts (serin's
//! own `serin_canary_weight` history, [`rollouts::find`], or explicit ranges) -> measure
//! every look at its past instant ([`source`], reusing the query rendering of
//! [`crate::metrics::query`]) -> replay (pure, [`replay`]) -> print ([`report`]).
//! It only reads: nothing is written to the cluster or to Prometheus.

mod args;
mod canary;
pub mod replay;
mod report;
pub mod rollouts;
mod source;

use std::time::Duration;

use chrono::{DateTime, Utc};

pub use args::{BacktestArgs, Output};
use replay::{Policy, RolloutReport};
use rollouts::Rollout;
use source::Source;

/// Why a backtest could not run. Each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Prometheus: {0}")]
    Prometheus(String),
    #[error("query {query:?} failed: {message}")]
    Query { query: String, message: String },
    #[error("{0}")]
    Canary(String),
    #[error("{0}")]
    Args(String),
    #[error("{0}")]
    NoRollouts(String),
}

impl Error {
    /// Fixed name of the error kind.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Prometheus(_) => "PrometheusUnreachable",
            Error::Query { .. } => "QueryFailed",
            Error::Canary(_) => "CanaryUnreadable",
            Error::Args(_) => "InvalidArguments",
            Error::NoRollouts(_) => "NoRollouts",
        }
    }
}

/// Runs a backtest and returns what to print.
pub async fn run(args: BacktestArgs) -> Result<String, Error> {
    let loaded = canary::load(&args).await?;
    let address = args
        .prometheus_url
        .clone()
        .unwrap_or_else(|| loaded.default_prometheus());
    let source = Source::new(&address);
    source.check().await?;
    let settings = loaded.settings(&args)?;
    let (rollouts, searched, step) =
        find_rollouts(&args, &loaded, &source, settings.interval).await?;
    let explicit = !args.range.is_empty();
    let planned = loaded.plan(
        &args,
        &address,
        args.prometheus_url.is_some(),
        settings.provider,
    );
    let policy = Policy {
        threshold: settings.threshold,
        errors_as_failures: settings.metric_errors.as_failures,
        judges: loaded.judges(&args, &planned)?,
    };
    let mut reports = Vec::new();
    for (i, rollout) in rollouts.iter().enumerate() {
        let next = rollouts.get(i + 1).map(|r| r.start);
        let mut report = replay_one(rollout, &source, &planned, &policy, settings.interval).await?;
        if rollout.ended == rollouts::End::Finished && !explicit {
            // Promotion ends a few reconciles after the weight went back to 0.
            let until = source::after(
                rollout.end,
                settings
                    .interval
                    .saturating_mul(10)
                    .saturating_add(Duration::from_secs(30)),
            );
            let until = next.map_or(until, |n| n.min(until));
            report.actual = source
                .phase_after(&loaded.namespace, &loaded.name, rollout.end, until, step)
                .await?;
        }
        reports.push(report);
    }
    let header = report::Header {
        canary: loaded.name.clone(),
        namespace: loaded.namespace.clone(),
        prometheus: address,
        searched,
        interval: settings.interval,
        threshold: settings.threshold,
        judges: policy.judges.clone(),
        what_if: loaded.what_if(&args),
    };
    Ok(match args.output {
        Output::Table => report::table(&header, &reports),
        Output::Json => report::json(&header, &reports),
    })
}

/// The rollouts to replay, and what was searched, in words.
async fn find_rollouts(
    args: &BacktestArgs,
    loaded: &canary::Loaded,
    source: &Source,
    interval: Duration,
) -> Result<(Vec<Rollout>, String, Duration), Error> {
    if !args.range.is_empty() {
        let step = args.interval.unwrap_or(interval);
        let rollouts: Vec<Rollout> = args
            .range
            .iter()
            .map(|r| rollouts::from_range(r.start, r.end, step))
            .collect();
        let searched = format!("{} explicit time range(s)", rollouts.len());
        return Ok((rollouts, searched, step));
    }
    // Now, rounded up to the second (the range query's resolution), so that the last
    // sample scraped is in.
    let until = args
        .until
        .unwrap_or_else(|| Utc::now() + chrono::TimeDelta::seconds(1));
    let since = chrono::TimeDelta::from_std(args.since)
        .ok()
        .and_then(|d| until.checked_sub_signed(d))
        .unwrap_or(DateTime::UNIX_EPOCH);
    let step = args.step.unwrap_or_else(|| default_step(since, until));
    let query = source::weight_query(&loaded.namespace, &loaded.target);
    let points = source
        .weights(&loaded.namespace, &loaded.target, since, until, step)
        .await?;
    let searched = format!(
        "{query} from {} to {} every {}",
        rfc3339(since),
        rfc3339(until),
        crate::api::duration::format_go(step)
    );
    // A rollout survives missing points up to two analysis intervals (or five points).
    let gap = interval.saturating_mul(2).max(step.saturating_mul(5));
    let found = rollouts::find(&points, gap);
    if found.is_empty() {
        let why = if points.is_empty() {
            "the series has no samples there (is serin's /metrics scraped by this Prometheus?)"
        } else {
            "the weight never went above 0 there"
        };
        return Err(Error::NoRollouts(format!(
            "no rollouts found: searched {searched} in Prometheus {}: {why}; widen --since, \
             or give explicit --range START..END",
            source.endpoint.address
        )));
    }
    Ok((found, searched, step))
}

/// Fine enough to see every step, within Prometheus' limit of 11,000 points a series.
fn default_step(since: DateTime<Utc>, until: DateTime<Utc>) -> Duration {
    let span = (until - since).to_std().unwrap_or(Duration::ZERO);
    Duration::from_secs((span.as_secs() / 10_000).max(1))
}

async fn replay_one(
    rollout: &Rollout,
    source: &Source,
    planned: &[crate::metrics::Planned],
    policy: &Policy,
    interval: Duration,
) -> Result<RolloutReport, Error> {
    // The judges' counters at the start: the baseline of their first interval.
    let counters: Vec<_> = planned
        .iter()
        .filter(|p| p.counters.is_some())
        .cloned()
        .collect();
    let baseline = source.look(&counters, rollout.start).await?.samples;
    let mut looks = Vec::new();
    for step in &rollout.steps {
        let mut step_looks = Vec::new();
        for at in rollouts::looks(step, interval) {
            step_looks.push(source.look(planned, at).await?);
        }
        looks.push(step_looks);
    }
    Ok(replay::replay(rollout, &baseline, &looks, policy, None))
}

/// A string as a PromQL string literal (quotes and backslashes escaped).
fn promql_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

//! The flags of `serin backtest`.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::ValueEnum;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// An explicit time range `START..END`, both RFC 3339.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimeRange {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl FromStr for TimeRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (start, end) = s
            .split_once("..")
            .ok_or_else(|| format!("{s:?} is not START..END (RFC 3339 times)"))?;
        let parse = |t: &str| {
            DateTime::parse_from_rfc3339(t.trim())
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| format!("{t:?} is not an RFC 3339 time: {e}"))
        };
        let (start, end) = (parse(start)?, parse(end)?);
        if end <= start {
            return Err(format!("range {s:?} ends before it starts"));
        }
        Ok(TimeRange { start, end })
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::api::parse_duration(s).map_err(|e| e.to_string())
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{s:?} is not an RFC 3339 time: {e}"))
}

#[derive(clap::Args, Debug, Clone)]
#[command(group(clap::ArgGroup::new("canary").required(true).args(["file", "name"])))]
pub struct BacktestArgs {
    /// The Canary to replay, from a YAML file (MetricTemplates it references may follow
    /// in the same file, as further documents).
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The Canary to replay, read from the cluster (with `--namespace`), with its
    /// MetricTemplates and their Secrets.
    #[arg(long)]
    pub name: Option<String>,
    /// Namespace of `--name`; with `-f`, overrides the file's.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Kubeconfig file for `--name`; $KUBECONFIG or ~/.kube/config when unset.
    #[arg(long, env = "SERIN_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Prometheus to read the history from; replaces every query's address. Default: the
    /// Canary's `metricsServer`, else its first MetricTemplate's address, else
    /// `http://prometheus:9090` (as `serin run`).
    #[arg(long, env = "SERIN_METRICS_SERVER", value_name = "URL")]
    pub prometheus_url: Option<String>,
    /// How far back to search serin's `serin_canary_weight` history for rollouts.
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    pub since: Duration,
    /// End of the search (RFC 3339); now when unset.
    #[arg(long, value_parser = parse_time)]
    pub until: Option<DateTime<Utc>>,
    /// Resolution of the weight history; default the search span / 10,000, at least 1s.
    #[arg(long, value_parser = parse_duration)]
    pub step: Option<Duration>,
    /// Replay these time ranges instead of searching the history: `START..END`, RFC 3339
    /// (repeatable). Each is one rollout, checked every `--interval`.
    #[arg(long, value_name = "START..END")]
    pub range: Vec<TimeRange>,
    /// Time between two checks; default the Canary's `analysis.interval`.
    #[arg(long, value_parser = parse_duration)]
    pub interval: Option<Duration>,
    /// Smallest analysis interval, as `serin run --min-interval`: a shorter
    /// `analysis.interval` ran at this one.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub min_interval: Duration,
    /// Default mesh provider of a Canary that sets none (as `serin run`).
    #[arg(long, env = "SERIN_MESH_PROVIDER", default_value = "istio")]
    pub mesh_provider: String,
    /// The judge's bound on a wrong abort (or early promotion).
    #[arg(long, default_value_t = crate::judge::DEFAULT_ALPHA)]
    pub alpha: f64,
    /// The judge's tolerated margin δ (a canary up to 1 + δ times worse may be promoted).
    #[arg(long, default_value_t = crate::judge::DEFAULT_MARGIN)]
    pub margin: f64,
    /// Canary requests a look must gather before the judge lets the canary move on.
    #[arg(long, default_value_t = crate::judge::DEFAULT_MIN_REQUESTS)]
    pub min_requests: f64,
    /// Replay the threshold checks only.
    #[arg(long)]
    pub no_judge: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Output,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_two_rfc3339_times_in_order() {
        let r: TimeRange = "2026-01-01T10:00:00Z..2026-01-01T10:05:00+00:00"
            .parse()
            .unwrap();
        assert_eq!((r.end - r.start).num_seconds(), 300);
        assert!("2026-01-01T10:00:00Z".parse::<TimeRange>().is_err());
        assert!(
            "2026-01-01T10:05:00Z..2026-01-01T10:00:00Z"
                .parse::<TimeRange>()
                .unwrap_err()
                .contains("ends before")
        );
        assert!("yesterday..today".parse::<TimeRange>().is_err());
    }
}

//! Errored checks: the metrics backend did not answer (connection refused, DNS, timeout,
//! HTTP error) or the query was refused. That says nothing about the release, so unlike
//! Flagger serin does not count it as a failed check: the step holds (no weight increase,
//! no promotion) and the run rolls back only after its own limit of consecutive errored
//! checks, or once `progressDeadlineSeconds` passed since the first of them.
//! `analysis.metricErrorsAsFailures` restores Flagger's behaviour.

use super::*;
use crate::api::{CanaryAnalysis, MetricErrors, MetricStatus, Verdict};

/// Default of `analysis.metricErrorLimit`.
const DEFAULT_METRIC_ERROR_LIMIT: i32 = 5;

/// What an errored check does.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricErrorPolicy {
    /// Consecutive errored checks after which the run rolls back.
    pub limit: i32,
    /// Flagger's behaviour: an errored check is a failed check.
    pub as_failures: bool,
}

impl Default for MetricErrorPolicy {
    fn default() -> Self {
        MetricErrorPolicy {
            limit: DEFAULT_METRIC_ERROR_LIMIT,
            as_failures: false,
        }
    }
}

impl MetricErrorPolicy {
    pub fn from_spec(analysis: &CanaryAnalysis) -> Self {
        MetricErrorPolicy {
            limit: analysis
                .metric_error_limit
                .filter(|l| *l > 0)
                .unwrap_or(DEFAULT_METRIC_ERROR_LIMIT),
            as_failures: analysis.metric_errors_as_failures,
        }
    }
}

/// Whether the checks errored and the policy holds the step for it rather than failing.
/// A check that failed on its value wins: that is evidence about the release.
pub(super) fn holds(checks: &[MetricStatus], policy: &MetricErrorPolicy) -> bool {
    !policy.as_failures
        && checks.iter().any(|c| c.verdict == Verdict::Error)
        && checks.iter().all(|c| {
            matches!(
                c.verdict,
                Verdict::Pass | Verdict::Error | Verdict::Insufficient
            )
        })
}

impl Step<'_> {
    /// Some queries errored: hold the step, or roll back past the limit or the deadline.
    pub(super) fn errored_check(&mut self, settings: &Settings, checks: &[MetricStatus]) -> Next {
        let causes: Vec<String> = checks
            .iter()
            .filter(|c| c.verdict == Verdict::Error)
            .map(|c| {
                format!(
                    "{}: {}",
                    c.name,
                    c.message.as_deref().unwrap_or("unknown error")
                )
            })
            .collect();
        let last = causes.join("; ");
        let now = self.now;
        let errors = self.status.metric_errors.get_or_insert(MetricErrors {
            count: 0,
            since: now,
            last: String::new(),
        });
        errors.count = errors.count.saturating_add(1);
        // The status keeps a bounded cause; the event carries it whole.
        errors.last = last.chars().take(4000).collect();
        let (count, since) = (errors.count, errors.since);
        let limit = settings.metric_errors.limit;
        let deadline = clock::after(since, settings.progress_deadline);
        self.warning(
            reasons::HALT,
            format!(
                "Halt {} advancement: metric query failed ({count} of {limit} errored checks in a row), step held: {last}",
                self.who.canary()
            ),
        );
        if count >= limit || now >= deadline {
            let why = if count >= limit {
                format!("{count} errored checks in a row")
            } else {
                format!(
                    "metrics unavailable for progressDeadlineSeconds {}",
                    settings.progress_deadline.as_secs()
                )
            };
            let msg = format!(
                "Rolling back {} metrics unavailable: {why}, last: {last}",
                self.who.canary()
            );
            return self.rollback(msg);
        }
        // The deadline is judged at the next check: a check is the only news.
        Next::At(clock::after(now, settings.interval))
    }
}

//! Verdicts of metric checks and the messages that explain them (Flagger's wording, plus
//! the query, so a failed check can be reproduced by hand).

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::inputs::Measurement;
pub use super::inputs::Outcome;
use crate::api::{CanaryMetric, MetricStatus, Verdict, duration::format_go};

/// Name of the builtin success-rate metric.
pub const SUCCESS_RATE: &str = "request-success-rate";
/// Name of the builtin latency metric (milliseconds).
pub const DURATION: &str = "request-duration";
/// Builtin query: canary requests in the check's window (`{{ interval }}`), for the
/// minimum of requests a check needs.
pub const WINDOW_REQUESTS: &str = "serin:window-requests";
/// Builtin query: cumulative requests served by `{{ workload }}`, for the judge.
pub const REQUESTS_TOTAL: &str = "serin:requests-total";
/// Builtin query: cumulative 5xx responses of `{{ workload }}`, for the judge.
pub const ERRORS_TOTAL: &str = "serin:errors-total";
/// Builtin query: cumulative requests of `{{ workload }}` slower than `{{ bound }}`
/// milliseconds (a bucket bound of the request-duration histogram), for the judge.
pub const SLOW_TOTAL: &str = "serin:slow-total";

/// The accepted range of a metric: `thresholdRange`, or the deprecated `threshold`
/// (a minimum for the success rate, a maximum for everything else, as in Flagger).
pub fn range(metric: &CanaryMetric) -> (Option<f64>, Option<f64>) {
    if let Some(r) = &metric.threshold_range {
        return (r.min, r.max);
    }
    match metric.threshold {
        Some(t) if metric.name == SUCCESS_RATE => (Some(t), None),
        Some(t) => (None, Some(t)),
        None => (None, None),
    }
}

/// Judges one outcome against the metric's range.
/// The verdict of a measurement against its metric's range. (Judging lives here, not
/// with the measurement: inputs only carry what was gathered.)
pub fn judge_measurement(m: &Measurement) -> MetricStatus {
    judge(&m.metric, &m.query, &m.outcome, m.at)
}

pub fn judge(
    metric: &CanaryMetric,
    query: &str,
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> MetricStatus {
    let (min, max) = range(metric);
    let (value, verdict, message) = match outcome {
        Outcome::Value(v) => {
            let below = min.is_some_and(|m| *v < m);
            let above = max.is_some_and(|m| *v > m);
            let verdict = if below || above {
                Verdict::Fail
            } else {
                Verdict::Pass
            };
            (Some(*v), verdict, None)
        }
        Outcome::NoData(why) => (None, Verdict::NoData, Some(why.clone())),
        Outcome::Error(err) => (None, Verdict::Error, Some(err.clone())),
    };
    MetricStatus {
        name: metric.name.clone(),
        value,
        min,
        max,
        verdict,
        query: query.to_string(),
        message,
        checked_at: now,
        mode: None,
        requests_seen: None,
        requests_needed: None,
    }
}

/// The Warning event text of a check that did not pass; None for a pass.
/// `canary` and `target` are `name.namespace`.
pub fn explain(check: &MetricStatus, canary: &str, target: &str) -> Option<String> {
    let name = check.name.as_str();
    match check.verdict {
        Verdict::Pass => None,
        Verdict::Fail => {
            let v = check.value.unwrap_or(f64::NAN);
            let (op, bound) = match (check.min, check.max) {
                (Some(min), _) if v < min => ("<", min),
                (_, Some(max)) => (">", max),
                (Some(min), None) => ("<", min),
                (None, None) => (">", f64::NAN),
            };
            let what = match name {
                SUCCESS_RATE => format!("success rate {v:.2}% {op} {}%", trim(bound)),
                DURATION => format!("request duration {} {op} {}", ms(v), ms(bound)),
                _ => format!("{name} {v:.2} {op} {}", trim(bound)),
            };
            Some(format!(
                "Halt {canary} advancement {what} (query: {})",
                check.query
            ))
        }
        Verdict::NoData => {
            let why = check.message.as_deref().unwrap_or("no values");
            let text = if matches!(name, SUCCESS_RATE | DURATION) {
                format!(
                    "Halt advancement no values found for istio metric {name} probably {target} is not receiving traffic: {why} (query: {})",
                    check.query
                )
            } else {
                format!(
                    "Halt advancement no values found for custom metric: {name}: {why} (query: {})",
                    check.query
                )
            };
            Some(text)
        }
        Verdict::Insufficient => Some(format!(
            "Hold {canary} advancement: {name} {}",
            check
                .message
                .as_deref()
                .unwrap_or("has too few canary requests")
        )),
        Verdict::Error => Some(format!(
            "Metric query failed for {name}: {} (query: {})",
            check.message.as_deref().unwrap_or("unknown error"),
            check.query
        )),
    }
}

fn ms(v: f64) -> String {
    match Duration::try_from_secs_f64(v / 1000.0) {
        Ok(d) => format_go(d),
        Err(_) => format!("{v}ms"),
    }
}

fn trim(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ThresholdRange;

    fn metric(name: &str, min: Option<f64>, max: Option<f64>) -> CanaryMetric {
        CanaryMetric {
            name: name.into(),
            threshold_range: Some(ThresholdRange { min, max }),
            ..Default::default()
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    #[test]
    fn success_rate_below_min_fails_with_flaggers_words() {
        let check = judge(
            &metric(SUCCESS_RATE, Some(99.0), None),
            "q",
            &Outcome::Value(72.4),
            now(),
        );
        assert_eq!(check.verdict, Verdict::Fail);
        assert_eq!(
            explain(&check, "podinfo.test", "podinfo.test").unwrap(),
            "Halt podinfo.test advancement success rate 72.40% < 99% (query: q)"
        );
    }

    #[test]
    fn duration_above_max_reads_as_go_durations() {
        let check = judge(
            &metric(DURATION, None, Some(500.0)),
            "q",
            &Outcome::Value(1515.0),
            now(),
        );
        assert_eq!(
            explain(&check, "podinfo.test", "podinfo.test").unwrap(),
            "Halt podinfo.test advancement request duration 1.515s > 500ms (query: q)"
        );
    }

    #[test]
    fn in_range_passes_and_says_nothing() {
        let check = judge(
            &metric("latency", Some(1.0), Some(10.0)),
            "q",
            &Outcome::Value(5.0),
            now(),
        );
        assert_eq!(check.verdict, Verdict::Pass);
        assert_eq!(explain(&check, "a.b", "a.b"), None);
    }

    #[test]
    fn no_data_is_its_own_verdict_and_names_the_query() {
        let check = judge(
            &metric(SUCCESS_RATE, Some(99.0), None),
            "sum(x)",
            &Outcome::NoData("empty result".into()),
            now(),
        );
        assert_eq!(check.verdict, Verdict::NoData);
        let text = explain(&check, "podinfo.test", "podinfo.test").unwrap();
        assert!(
            text.contains("no values found for istio metric request-success-rate"),
            "{text}"
        );
        assert!(text.contains("sum(x)"), "{text}");
    }

    #[test]
    fn query_error_is_its_own_verdict() {
        let check = judge(
            &metric("custom", None, Some(1.0)),
            "q",
            &Outcome::Error("connection refused".into()),
            now(),
        );
        assert_eq!(check.verdict, Verdict::Error);
        assert!(
            explain(&check, "a.b", "a.b")
                .unwrap()
                .contains("connection refused")
        );
    }

    #[test]
    fn deprecated_threshold_is_a_min_for_success_rate_and_a_max_otherwise() {
        let sr = CanaryMetric {
            name: SUCCESS_RATE.into(),
            threshold: Some(99.0),
            ..Default::default()
        };
        let d = CanaryMetric {
            name: DURATION.into(),
            threshold: Some(500.0),
            ..Default::default()
        };
        assert_eq!(range(&sr), (Some(99.0), None));
        assert_eq!(range(&d), (None, Some(500.0)));
    }
}

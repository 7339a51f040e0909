//! Evidence before verdicts: each metric's mode (`gate`, `hold`, `observe`), the minimum
//! of canary requests a check needs before it may decide, and the evidence judge's
//! configuration. What the schema cannot refuse is refused here, naming the field.

use crate::api::{CanaryAnalysis, CanaryMetric, MetricMode, parse_duration};
use crate::judge::{DEFAULT_ALPHA, DEFAULT_MARGIN, DEFAULT_MIN_REQUESTS, JudgeConfig};

use super::SpecError;

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

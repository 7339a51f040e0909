//! The settings of a Canary with Flagger's defaults applied: the provider (which router),
//! the target kind, the analysis schedule and its steps; and the checks the CRD schema
//! cannot make (they become a `Valid=False` condition, not a crash).

use std::time::Duration;

use super::strategy_check::strategy_kind;
use super::{MetricErrorPolicy, Strategy};
use crate::api::duration::MAX_INTERVAL;
use crate::api::{
    CanarySpec, DEFAULT_INTERVAL, DEFAULT_PROGRESS_DEADLINE_SECONDS, SessionAffinity,
    parse_duration,
};

/// The router that shifts a Canary's traffic, from `spec.provider` or `--mesh-provider`.
/// Each value has one module under `crate::router`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Provider {
    #[default]
    Istio,
    /// Gateway API HTTPRoute/GRPCRoute (`gatewayapi:v1`; `gatewayapi:v1beta1` is an alias).
    GatewayApi,
}

impl Provider {
    /// Every provider serin implements (the controller watches the kinds of each).
    pub const ALL: &'static [Provider] = &[Provider::Istio, Provider::GatewayApi];

    /// Parses a provider name as Flagger spells it; an unknown name is a spec error.
    pub fn parse(name: &str) -> Result<Provider, SpecError> {
        match name {
            "istio" => Ok(Provider::Istio),
            // Flagger's v1beta1 HTTPRoute is the same object served at v1 since 1.0.
            "gatewayapi:v1" | "gatewayapi:v1beta1" => Ok(Provider::GatewayApi),
            other => Err(SpecError::Provider(other.to_string())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Istio => "istio",
            Provider::GatewayApi => "gatewayapi:v1",
        }
    }
}

/// The kind of workload a Canary targets. The API keeps `targetRef.kind` a string (the CRD
/// accepts Flagger's three kinds); this is the closed set serin implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    Deployment,
}

impl TargetKind {
    pub fn parse(kind: &str) -> Result<TargetKind, SpecError> {
        match kind {
            "Deployment" => Ok(TargetKind::Deployment),
            other => Err(SpecError::TargetKind(other.to_string())),
        }
    }
}

/// Effective settings of one Canary.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub provider: Provider,
    pub interval: Duration,
    pub threshold: i32,
    /// The weights of the analysis steps, in order; the last one is the max weight.
    pub steps: Vec<i32>,
    /// Primary weight added per step during promotion; 0 = all at once.
    pub promotion_step: i32,
    pub progress_deadline: Duration,
    pub skip_analysis: bool,
    /// How the runs move traffic (checked against the spec's other fields).
    pub kind: StrategyKind,
    /// Session affinity of the weighted canary.
    pub affinity: Option<SessionAffinity>,
    /// `analysis.webhooks`: the gates and hooks the decision asks to be called.
    pub webhooks: Vec<crate::api::CanaryWebhook>,
    /// What an errored metric query does to the step.
    pub metric_errors: MetricErrorPolicy,
    /// `analysis.manualApproval`: gates closed until a person approves them.
    pub manual_approval: Vec<crate::api::ManualGate>,
}

/// The strategy a spec asks for, with what it needs; [`Settings::strategy`] lends it out.
#[derive(Debug, Clone, PartialEq)]
pub enum StrategyKind {
    Canary,
    AbTesting {
        iterations: i32,
        matches: serde_json::Value,
    },
    BlueGreen {
        iterations: i32,
        mirror: Option<i32>,
    },
}

/// What makes a spec unusable; reported on the Canary, never retried until the spec changes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    #[error("provider {0:?} is not supported: serin implements istio")]
    Provider(String),
    #[error("targetRef kind {0:?} is not supported: serin implements Deployment")]
    TargetKind(String),
    #[error("analysis.{field}: {message}")]
    Analysis {
        field: &'static str,
        message: String,
    },
    #[error("analysis.metrics[{index}].{field}: {message}")]
    Metric {
        index: usize,
        field: &'static str,
        message: String,
    },
}

impl Settings {
    /// Reads the settings; `min_interval` is the floor serin applies to the interval
    /// (Flagger raises anything below 10s to 10s; `--min-interval` lowers it for tests).
    pub fn from_spec(
        spec: &CanarySpec,
        default_provider: &str,
        min_interval: Duration,
    ) -> Result<Settings, SpecError> {
        let provider = Provider::parse(spec.provider.as_deref().unwrap_or(default_provider))?;
        TargetKind::parse(&spec.target_ref.kind)?;
        let deadline = spec
            .progress_deadline_seconds
            .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECONDS)
            .max(1);
        let Some(analysis) = &spec.analysis else {
            // Flagger: no analysis means skipAnalysis.
            return Ok(Settings {
                provider,
                interval: parse_duration(DEFAULT_INTERVAL).unwrap_or(Duration::from_secs(60)),
                threshold: 1,
                steps: vec![100],
                promotion_step: 0,
                progress_deadline: Duration::from_secs(deadline as u64),
                skip_analysis: true,
                kind: StrategyKind::Canary,
                affinity: None,
                webhooks: Vec::new(),
                metric_errors: MetricErrorPolicy::default(),
                manual_approval: Vec::new(),
            });
        };
        let interval_text = analysis.interval.as_deref().unwrap_or(DEFAULT_INTERVAL);
        let interval = parse_duration(interval_text).map_err(|e| SpecError::Analysis {
            field: "interval",
            message: e.to_string(),
        })?;
        // The schema refuses more than a day; a Canary stored before that rule (or by a
        // server that skipped it) must still never reach the date arithmetic.
        if interval > MAX_INTERVAL {
            return Err(SpecError::Analysis {
                field: "interval",
                message: format!("{interval_text:?} is longer than the maximum of 24h"),
            });
        }
        let threshold = analysis.threshold.filter(|t| *t > 0).unwrap_or(1);
        let kind = strategy_kind(analysis)?;
        super::evidence::validate(analysis)?;
        let steps = match kind {
            StrategyKind::Canary => steps(
                analysis.step_weight,
                analysis.step_weights.as_deref(),
                analysis.max_weight,
            )?,
            _ => vec![100],
        };
        Ok(Settings {
            provider,
            interval: interval.max(min_interval),
            threshold,
            steps,
            promotion_step: analysis.step_weight_promotion.unwrap_or(0).clamp(0, 100),
            progress_deadline: Duration::from_secs(deadline as u64),
            skip_analysis: spec.skip_analysis,
            kind,
            affinity: analysis.session_affinity.clone(),
            webhooks: analysis.webhooks.clone(),
            metric_errors: MetricErrorPolicy::from_spec(analysis),
            manual_approval: analysis.manual_approval.clone(),
        })
    }

    /// The strategy of the runs.
    pub fn strategy(&self) -> Strategy<'_> {
        match &self.kind {
            StrategyKind::Canary => Strategy::Canary {
                steps: &self.steps,
                affinity: self.affinity.as_ref(),
            },
            StrategyKind::AbTesting {
                iterations,
                matches,
            } => Strategy::AbTesting {
                iterations: *iterations,
                matches,
            },
            StrategyKind::BlueGreen { iterations, mirror } => Strategy::BlueGreen {
                iterations: *iterations,
                mirror: *mirror,
            },
        }
    }
}

/// The sequence of canary weights: `stepWeights` capped at `maxWeight` (and 100), or
/// `stepWeight` increments up to `maxWeight` (default 100).
fn steps(
    step_weight: Option<i32>,
    step_weights: Option<&[i32]>,
    max_weight: Option<i32>,
) -> Result<Vec<i32>, SpecError> {
    let cap = max_weight.unwrap_or(100).clamp(1, 100);
    if let Some(list) = step_weights.filter(|l| !l.is_empty()) {
        if list.windows(2).any(|w| w[0] >= w[1]) || list.iter().any(|w| !(1..=100).contains(w)) {
            return Err(SpecError::Analysis {
                field: "stepWeights",
                message: format!("{list:?} must be increasing values between 1 and 100"),
            });
        }
        let mut out: Vec<i32> = list.iter().copied().filter(|w| *w <= cap).collect();
        if out.is_empty() {
            out.push(cap);
        }
        return Ok(out);
    }
    let step = step_weight.unwrap_or(0);
    if step <= 0 {
        return Err(SpecError::Analysis {
            field: "stepWeight",
            message: "must be greater than 0 when neither stepWeights nor iterations is set".into(),
        });
    }
    let mut out: Vec<i32> = (1..).map(|i| i * step).take_while(|w| *w < cap).collect();
    out.push(cap);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interval_beyond_a_day_is_invalid_not_a_crash() {
        for text in ["100000000000h", "2562047788015215h", "25h", "86401s"] {
            let spec: CanarySpec = serde_json::from_value(serde_json::json!({
                "targetRef": {"kind": "Deployment", "name": "app"},
                "service": {"port": 80},
                "analysis": {"interval": text, "stepWeight": 10},
            }))
            .unwrap();
            let err = Settings::from_spec(&spec, "istio", Duration::from_secs(1)).unwrap_err();
            assert!(err.to_string().contains("maximum of 24h"), "{text}: {err}");
        }
    }

    #[test]
    fn step_weight_goes_up_to_max_weight() {
        assert_eq!(steps(Some(10), None, Some(30)).unwrap(), vec![10, 20, 30]);
        assert_eq!(steps(Some(20), None, Some(50)).unwrap(), vec![20, 40, 50]);
        assert_eq!(steps(Some(50), None, None).unwrap(), vec![50, 100]);
    }

    #[test]
    fn step_weights_win_and_are_capped() {
        assert_eq!(
            steps(Some(10), Some(&[1, 5, 25, 60]), Some(50)).unwrap(),
            vec![1, 5, 25]
        );
        assert_eq!(steps(None, Some(&[5, 10]), None).unwrap(), vec![5, 10]);
    }

    #[test]
    fn refuses_what_the_schema_might_miss() {
        assert!(steps(Some(0), None, None).is_err());
        assert!(steps(None, Some(&[10, 5]), None).is_err());
    }
}

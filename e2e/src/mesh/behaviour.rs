//! How a revision answers requests, read from its pod template the way a
//! user would set it: environment variables of any container.
//!
//! - `SANDBOX_ERROR_RATE`: fraction (0..=1) of requests answered 500; default 0.
//! - `SANDBOX_LATENCY_MS`: mean latency in milliseconds; default 10. Each
//!   request takes between 90% and 110% of it.

use k8s_openapi::api::core::v1::PodTemplateSpec;

pub const ERROR_RATE_ENV: &str = "SANDBOX_ERROR_RATE";
pub const LATENCY_ENV: &str = "SANDBOX_LATENCY_MS";

const DEFAULT_LATENCY_MS: f64 = 10.0;
/// Latency spread around the mean, as a fraction of it.
const JITTER: f64 = 0.1;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Behaviour {
    pub error_rate: f64,
    pub latency_ms: f64,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            error_rate: 0.0,
            latency_ms: DEFAULT_LATENCY_MS,
        }
    }
}

impl Behaviour {
    /// Reads the behaviour from the template; values that do not parse or
    /// fall outside their range keep the default.
    pub fn of(template: &PodTemplateSpec) -> Self {
        let env = |name: &str| -> Option<f64> {
            let pod = template.spec.as_ref()?;
            let var = pod
                .containers
                .iter()
                .flat_map(|c| c.env.iter().flatten())
                .find(|e| e.name == name)?;
            var.value
                .as_deref()?
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
        };
        let default = Self::default();
        Self {
            error_rate: env(ERROR_RATE_ENV)
                .filter(|r| (0.0..=1.0).contains(r))
                .unwrap_or(default.error_rate),
            latency_ms: env(LATENCY_ENV)
                .filter(|l| *l >= 0.0)
                .unwrap_or(default.latency_ms),
        }
    }

    /// Latency of the `n`-th request: spread evenly over the jitter range by
    /// a golden-ratio sequence, so every window sees the same distribution.
    pub fn latency_of(&self, n: u64) -> f64 {
        const GOLDEN: f64 = 0.618_033_988_749_895;
        let u = ((n as f64 + 0.5) * GOLDEN).fract();
        self.latency_ms * (1.0 - JITTER + 2.0 * JITTER * u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(env: &[(&str, &str)]) -> PodTemplateSpec {
        let env: Vec<_> = env
            .iter()
            .map(|(n, v)| serde_json::json!({"name": n, "value": v}))
            .collect();
        serde_json::from_value(
            serde_json::json!({"spec": {"containers": [{"name": "app", "env": env}]}}),
        )
        .expect("template")
    }

    #[test]
    fn reads_error_rate_and_latency_with_defaults() {
        assert_eq!(Behaviour::of(&template(&[])), Behaviour::default());
        let b = Behaviour::of(&template(&[(ERROR_RATE_ENV, "0.3"), (LATENCY_ENV, "250")]));
        assert_eq!(
            b,
            Behaviour {
                error_rate: 0.3,
                latency_ms: 250.0
            }
        );
        let bad = Behaviour::of(&template(&[(ERROR_RATE_ENV, "1.5"), (LATENCY_ENV, "fast")]));
        assert_eq!(bad, Behaviour::default());
    }

    #[test]
    fn latencies_stay_within_ten_percent_and_average_out() {
        let b = Behaviour {
            error_rate: 0.0,
            latency_ms: 200.0,
        };
        let values: Vec<f64> = (0..1000).map(|n| b.latency_of(n)).collect();
        assert!(values.iter().all(|v| (180.0..=220.0).contains(v)));
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        assert!((mean - 200.0).abs() < 0.5, "mean {mean}");
    }
}

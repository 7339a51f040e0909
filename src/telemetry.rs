//! serin's own metrics, served on `/metrics` under the `serin_` prefix: the canary
//! families Flagger users know (status, weight, durations, metric values, successes and
//! failures) with the same labels, plus reconcile counts, errors and durations.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use kube::ResourceExt;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::api::{Canary, CanaryStatus, MetricStatus, Phase};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CanaryLabels {
    name: String,
    namespace: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkloadLabels {
    workload: String,
    namespace: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MetricLabels {
    name: String,
    namespace: String,
    metric: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    name: String,
    namespace: String,
    deployment_strategy: String,
    analysis_status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CategoryLabels {
    category: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InfoLabels {
    version: String,
    mesh_provider: String,
}

/// The registry and every metric in it.
pub struct Telemetry {
    registry: Registry,
    status: Family<CanaryLabels, Gauge>,
    weight: Family<WorkloadLabels, Gauge>,
    analysis: Family<MetricLabels, Gauge<f64, AtomicU64>>,
    /// Per-canary rollout durations (Flagger's histogram); None when turned off
    /// (`--duration-histogram=false`): 14 series per Canary is most of `/metrics` at a
    /// thousand Canaries.
    duration: Option<Family<CanaryLabels, Histogram>>,
    successes: Family<ResultLabels, Counter>,
    failures: Family<ResultLabels, Counter>,
    reconciles: Counter,
    errors: Family<CategoryLabels, Counter>,
    reconcile_seconds: Histogram,
    invalid_objects: Counter,
    /// Kubernetes API calls by verb and resource (fed by the client's counting layer).
    pub api_calls: crate::api_calls::ApiCounter,
}

fn labels(c: &Canary) -> CanaryLabels {
    CanaryLabels {
        name: c.name_any(),
        namespace: c.namespace().unwrap_or_default(),
    }
}

impl Telemetry {
    pub fn new(mesh_provider: &str) -> Telemetry {
        Telemetry::with_options(mesh_provider, true)
    }

    /// [`Telemetry::new`], with the per-canary duration histogram on or off.
    pub fn with_options(mesh_provider: &str, duration_histogram: bool) -> Telemetry {
        let mut registry = Registry::with_prefix("serin");
        let info = Family::<InfoLabels, Gauge>::default();
        info.get_or_create(&InfoLabels {
            version: env!("CARGO_PKG_VERSION").into(),
            mesh_provider: mesh_provider.into(),
        })
        .set(1);
        registry.register("info", "serin version and mesh provider", info);
        let t = Telemetry {
            status: Family::default(),
            weight: Family::default(),
            analysis: Family::default(),
            duration: duration_histogram.then(|| {
                let buckets: fn() -> Histogram =
                    || Histogram::new(exponential_buckets(5.0, 2.0, 12));
                Family::new_with_constructor(buckets)
            }),
            successes: Family::default(),
            failures: Family::default(),
            reconciles: Counter::default(),
            errors: Family::default(),
            reconcile_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            invalid_objects: Counter::default(),
            api_calls: Default::default(),
            registry: Registry::default(),
        };
        registry.register(
            "canary_status",
            "Last phase of the canary: 0 running, 1 successful or idle, 2 failed",
            t.status.clone(),
        );
        registry.register(
            "canary_weight",
            "Traffic weight of the canary and of the primary",
            t.weight.clone(),
        );
        registry.register(
            "canary_metric_analysis",
            "Last value of each metric check",
            t.analysis.clone(),
        );
        if let Some(duration) = &t.duration {
            registry.register(
                "canary_duration_seconds",
                "Duration of whole rollouts, from the new revision to promotion or rollback",
                duration.clone(),
            );
        }
        registry.register("canary_successes", "Promoted rollouts", t.successes.clone());
        registry.register(
            "canary_failures",
            "Rolled back rollouts",
            t.failures.clone(),
        );
        registry.register("reconcile", "Reconciles run", t.reconciles.clone());
        registry.register(
            "kube_api_requests",
            "Kubernetes API requests by verb and resource",
            t.api_calls.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Reconciles that failed, by category",
            t.errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of one reconcile",
            t.reconcile_seconds.clone(),
        );
        registry.register(
            "invalid_objects",
            "Reconciles of stored Canaries that could not be decoded (skipped)",
            t.invalid_objects.clone(),
        );
        Telemetry { registry, ..t }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    pub fn reconciled(&self, took: Duration) {
        self.reconciles.inc();
        self.reconcile_seconds.observe(took.as_secs_f64());
    }

    /// Counts a stored Canary that could not be decoded.
    pub fn invalid_object(&self) {
        self.invalid_objects.inc();
    }

    pub fn reconcile_error(&self, category: &str) {
        self.errors
            .get_or_create(&CategoryLabels {
                category: category.into(),
            })
            .inc();
    }

    /// Updates the gauges from a recorded status, and counts the end of a rollout once,
    /// when the phase turns Succeeded or Failed.
    pub fn observe_canary(&self, c: &Canary, status: &CanaryStatus) {
        let phase = status.phase();
        let code = match phase {
            Phase::Progressing | Phase::WaitingPromotion | Phase::Promoting | Phase::Finalising => {
                0
            }
            Phase::Failed => 2,
            _ => 1,
        };
        self.status.get_or_create(&labels(c)).set(code);
        let ns = c.namespace().unwrap_or_default();
        let target = c.spec.target_ref.name.clone();
        self.weight
            .get_or_create(&WorkloadLabels {
                workload: target.clone(),
                namespace: ns.clone(),
            })
            .set(status.canary_weight.into());
        self.weight
            .get_or_create(&WorkloadLabels {
                workload: crate::build::Names::of(c).primary,
                namespace: ns.clone(),
            })
            .set((100 - status.canary_weight).into());
        let old = c.status.as_ref().map(|s| s.phase()).unwrap_or_default();
        if old != phase && matches!(phase, Phase::Succeeded | Phase::Failed) {
            let result = ResultLabels {
                name: c.name_any(),
                namespace: ns,
                deployment_strategy: crate::decide::strategy::label_of(&c.spec).into(),
                analysis_status: if c.spec.skip_analysis {
                    "skipped"
                } else {
                    "completed"
                }
                .into(),
            };
            if let (Some(duration), Some(start), Some(end)) = (
                &self.duration,
                status.run_started_at,
                status.last_transition_time,
            ) && let Ok(took) = (end - start).to_std()
            {
                duration
                    .get_or_create(&labels(c))
                    .observe(took.as_secs_f64());
            }
            if phase == Phase::Succeeded {
                self.successes.get_or_create(&result).inc();
            } else {
                self.failures.get_or_create(&result).inc();
            }
        }
    }

    /// Drops every series of a deleted Canary, so `/metrics` (and the memory behind it)
    /// follows the Canaries that exist, not every Canary there ever was.
    pub fn forget(&self, c: &Canary) {
        let l = labels(c);
        self.status.remove(&l);
        if let Some(duration) = &self.duration {
            duration.remove(&l);
        }
        for workload in [
            c.spec.target_ref.name.clone(),
            crate::build::Names::of(c).primary,
        ] {
            self.weight.remove(&WorkloadLabels {
                workload,
                namespace: l.namespace.clone(),
            });
        }
        let spec_checks = c.spec.analysis.iter().flat_map(|a| &a.metrics);
        let status_checks = c.status.iter().flat_map(|s| &s.metrics);
        for metric in spec_checks
            .map(|m| m.name.clone())
            .chain(status_checks.map(|m| m.name.clone()))
        {
            self.analysis.remove(&MetricLabels {
                name: l.name.clone(),
                namespace: l.namespace.clone(),
                metric,
            });
        }
        for analysis_status in ["skipped", "completed"] {
            let result = ResultLabels {
                name: l.name.clone(),
                namespace: l.namespace.clone(),
                deployment_strategy: crate::decide::strategy::label_of(&c.spec).into(),
                analysis_status: analysis_status.into(),
            };
            self.successes.remove(&result);
            self.failures.remove(&result);
        }
    }

    pub fn observe_checks(&self, c: &Canary, checks: &[MetricStatus]) {
        for check in checks {
            if let Some(v) = check.value {
                let l = MetricLabels {
                    name: c.name_any(),
                    namespace: c.namespace().unwrap_or_default(),
                    metric: check.name.clone(),
                };
                self.analysis.get_or_create(&l).set(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canary(name: &str) -> Canary {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "serin.dev/v1beta1", "kind": "Canary",
            "metadata": {"name": name, "namespace": "test"},
            "spec": {
                "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "service": {"port": 80},
                "analysis": {"interval": "10s", "threshold": 1, "stepWeight": 50,
                    "metrics": [{"name": "request-success-rate", "thresholdRange": {"min": 99}}]}
            },
            "status": {"phase": "Succeeded", "canaryWeight": 0,
                "metrics": [{"name": "request-success-rate", "value": 100.0, "verdict": "Pass",
                    "query": "q", "checkedAt": "2026-01-01T00:00:00Z"}]}
        }))
        .expect("canary")
    }

    #[test]
    fn a_deleted_canary_leaves_no_series() {
        let t = Telemetry::new("istio");
        let (gone, kept) = (canary("gone"), canary("kept"));
        for c in [&gone, &kept] {
            let mut progressing = c.clone();
            if let Some(s) = progressing.status.as_mut() {
                s.phase = Some(Phase::Progressing);
                s.run_started_at = Some(chrono::Utc::now());
                s.last_transition_time = Some(chrono::Utc::now());
            }
            let status = c.status.clone().unwrap_or_default();
            let mut done = status.clone();
            done.run_started_at = progressing.status.as_ref().and_then(|s| s.run_started_at);
            done.last_transition_time = Some(chrono::Utc::now());
            t.observe_canary(&progressing, &done);
            t.observe_checks(c, &status.metrics);
        }
        let before = t.encode();
        assert!(before.contains("name=\"gone\""), "{before}");
        t.forget(&gone);
        let after = t.encode();
        assert!(!after.contains("\"gone\""), "{after}");
        assert!(after.contains("name=\"kept\""), "{after}");
        assert!(after.contains("workload=\"kept-primary\""), "{after}");
    }
}

//! Switches for tests (error rate per verb, added latency, dropped watches) and counters of
//! requests per (verb, resource), also served over HTTP under `/sandbox/` for benchmarks
//! that run the server in another process.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

#[derive(Debug)]
struct FaultState {
    error_rates: Mutex<HashMap<String, f64>>,
    latency_ms: AtomicU64,
    /// Bumped to close every open watch stream.
    drop_watches: watch::Sender<u64>,
}

/// A cloneable handle on the server's fault switches.
#[derive(Debug, Clone)]
pub struct Faults(Arc<FaultState>);

/// The JSON form of the fault switches (`PUT /sandbox/faults`, `GET /sandbox/faults`),
/// e.g. `{"errorRates": {"patch": 0.2}, "latencyMs": 50, "dropWatches": true}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct FaultSettings {
    /// verb (get|list|watch|create|update|patch|delete) -> probability of a 500 answer.
    pub error_rates: BTreeMap<String, f64>,
    pub latency_ms: u64,
    /// When true in a PUT: close all open watch streams now.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub drop_watches: bool,
}

impl Default for Faults {
    fn default() -> Self {
        let (tx, _) = watch::channel(0);
        Self(Arc::new(FaultState {
            error_rates: Mutex::new(HashMap::new()),
            latency_ms: AtomicU64::new(0),
            drop_watches: tx,
        }))
    }
}

impl Faults {
    /// Answers this fraction (0.0..=1.0) of requests of `verb` with a 500 InternalError.
    pub fn set_error_rate(&self, verb: &str, rate: f64) {
        let mut rates = self
            .0
            .error_rates
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        rates.insert(verb.to_string(), rate.clamp(0.0, 1.0));
    }

    /// Delays every API request by this much.
    pub fn set_latency(&self, latency: Duration) {
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.0.latency_ms.store(ms, Ordering::Relaxed);
    }

    /// Closes every open watch stream now (clients see the connection end).
    pub fn drop_watches(&self) {
        self.0.drop_watches.send_modify(|n| *n += 1);
    }

    /// Removes all error rates and latency.
    pub fn clear(&self) {
        self.0
            .error_rates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.0.latency_ms.store(0, Ordering::Relaxed);
    }

    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.0.latency_ms.load(Ordering::Relaxed))
    }

    /// Whether this request of `verb` should fail (drawn at random by its rate).
    pub fn should_fail(&self, verb: &str) -> bool {
        let rate = {
            let rates = self
                .0
                .error_rates
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            rates.get(verb).copied().unwrap_or(0.0)
        };
        rate > 0.0 && rand::random::<f64>() < rate
    }

    /// A receiver that changes whenever watches must be dropped.
    pub fn watch_drops(&self) -> watch::Receiver<u64> {
        self.0.drop_watches.subscribe()
    }

    pub fn settings(&self) -> FaultSettings {
        let rates = self
            .0
            .error_rates
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        FaultSettings {
            error_rates: rates.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            latency_ms: self.0.latency_ms.load(Ordering::Relaxed),
            drop_watches: false,
        }
    }

    /// Applies a `PUT /sandbox/faults` body: it replaces every setting.
    pub fn apply(&self, s: &FaultSettings) {
        self.clear();
        for (verb, rate) in &s.error_rates {
            self.set_error_rate(verb, *rate);
        }
        self.set_latency(Duration::from_millis(s.latency_ms));
        if s.drop_watches {
            self.drop_watches();
        }
    }
}

/// A cloneable handle on the request counters.
#[derive(Debug, Clone, Default)]
pub struct Counters(Arc<Mutex<BTreeMap<(String, String), u64>>>);

impl Counters {
    /// Counts one request; `resource` is the plural, with `/status` or `/scale` for subresources.
    pub fn count(&self, verb: &str, resource: &str) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *map.entry((verb.to_string(), resource.to_string()))
            .or_default() += 1;
    }

    /// Requests so far per (verb, resource), e.g. `("patch", "deployments")`.
    pub fn snapshot(&self) -> BTreeMap<(String, String), u64> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn reset(&self) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// `{verb: {resource: count}}`, the JSON form of `GET /sandbox/counters`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for ((verb, resource), n) in self.snapshot() {
            out.entry(verb).or_default().insert(resource, n);
        }
        serde_json::json!(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_counters() {
        let f = Faults::default();
        f.set_error_rate("get", 1.0);
        assert!(f.should_fail("get"));
        assert!(!f.should_fail("list"));
        f.clear();
        assert!(!f.should_fail("get"));
        let c = Counters::default();
        c.count("patch", "deployments");
        c.count("patch", "deployments");
        assert_eq!(
            c.snapshot()[&("patch".to_string(), "deployments".to_string())],
            2
        );
        assert_eq!(c.to_json()["patch"]["deployments"], 2);
        c.reset();
        assert!(c.snapshot().is_empty());
    }
}

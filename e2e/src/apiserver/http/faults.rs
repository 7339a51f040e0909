//! Switches for tests (error rate per verb, added latency, dropped watches) and counters of
//! requests per (verb, resource), also served over HTTP under `/sandbox/` for benchmarks
//! that run the server in another process.
//!
//! An injected error is answered the way a real API server fails: `500 InternalError`
//! (an etcd error), `503 ServiceUnavailable` (the apiserver shedding load or restarting),
//! `504 Timeout`, or `429 TooManyRequests` with `Retry-After: 1` (API Priority and
//! Fairness); which codes, and the seed of the draws, are switches too.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::apiserver::error::ApiError;

/// The status codes an injected error may have.
pub const FAULT_CODES: [u16; 4] = [500, 503, 504, 429];

#[derive(Debug)]
struct FaultState {
    error_rates: Mutex<HashMap<String, f64>>,
    /// The codes drawn from for each injected error (500 when empty).
    codes: Mutex<Vec<u16>>,
    /// Only requests whose `User-Agent` starts with this fail (all when empty).
    user_agent: Mutex<String>,
    rng: Mutex<StdRng>,
    /// Errors injected so far.
    injected: AtomicU64,
    latency_ms: AtomicU64,
    /// Bumped to close every open watch stream.
    drop_watches: watch::Sender<u64>,
}

/// A cloneable handle on the server's fault switches.
#[derive(Debug, Clone)]
pub struct Faults(Arc<FaultState>);

/// The JSON form of the fault switches (`PUT /sandbox/faults`, `GET /sandbox/faults`),
/// e.g. `{"errorRates": {"patch": 0.2}, "latencyMs": 50, "dropWatches": true}`, or
/// `{"errorRates": {"*": 0.05}, "codes": [500, 503, 429], "seed": 7, "userAgent": "serin/"}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct FaultSettings {
    /// verb (get|list|watch|create|update|patch|delete|deletecollection, or `*` for every
    /// verb without its own rate) -> probability of an error answer.
    pub error_rates: BTreeMap<String, f64>,
    /// The codes an injected error is drawn from (of 500, 503, 504, 429); empty: 500.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<u16>,
    /// Only requests whose `User-Agent` header starts with this fail; empty: all.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user_agent: String,
    /// Reseeds the draws (in a PUT), so a run's sequence of draws can be repeated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
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
            codes: Mutex::new(Vec::new()),
            user_agent: Mutex::new(String::new()),
            rng: Mutex::new(StdRng::from_os_rng()),
            injected: AtomicU64::new(0),
            latency_ms: AtomicU64::new(0),
            drop_watches: tx,
        }))
    }
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Faults {
    /// Answers this fraction (0.0..=1.0) of requests of `verb` (`*`: every verb without a
    /// rate of its own) with an error (500 InternalError unless [`Faults::set_codes`]).
    pub fn set_error_rate(&self, verb: &str, rate: f64) {
        let mut rates = self
            .0
            .error_rates
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        rates.insert(verb.to_string(), rate.clamp(0.0, 1.0));
    }

    /// The status codes injected errors are drawn from (unknown codes are left out).
    pub fn set_codes(&self, codes: &[u16]) {
        *locked(&self.0.codes) = codes
            .iter()
            .copied()
            .filter(|c| FAULT_CODES.contains(c))
            .collect();
    }

    /// Limits the errors to requests whose `User-Agent` starts with `prefix` ("" for all).
    pub fn set_user_agent(&self, prefix: &str) {
        *locked(&self.0.user_agent) = prefix.to_string();
    }

    /// Reseeds the draws.
    pub fn seed(&self, seed: u64) {
        *locked(&self.0.rng) = StdRng::seed_from_u64(seed);
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

    /// Removes all error rates, codes, the user-agent scope and latency.
    pub fn clear(&self) {
        locked(&self.0.error_rates).clear();
        locked(&self.0.codes).clear();
        locked(&self.0.user_agent).clear();
        self.0.latency_ms.store(0, Ordering::Relaxed);
    }

    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.0.latency_ms.load(Ordering::Relaxed))
    }

    /// Whether this request of `verb` should fail (drawn at random by its rate).
    pub fn should_fail(&self, verb: &str) -> bool {
        self.inject(verb, "").is_some()
    }

    /// The error to answer a request of `verb` from `user_agent` with, if one is drawn.
    pub fn inject(&self, verb: &str, user_agent: &str) -> Option<ApiError> {
        let rate = {
            let rates = locked(&self.0.error_rates);
            rates
                .get(verb)
                .or_else(|| rates.get("*"))
                .copied()
                .unwrap_or(0.0)
        };
        if rate <= 0.0 || !user_agent.starts_with(locked(&self.0.user_agent).as_str()) {
            return None;
        }
        let codes = locked(&self.0.codes).clone();
        let mut rng = locked(&self.0.rng);
        if rng.random::<f64>() >= rate {
            return None;
        }
        let code = match codes.len() {
            0 => 500,
            n => codes[rng.random_range(0..n)],
        };
        self.0.injected.fetch_add(1, Ordering::Relaxed);
        Some(injected_error(code))
    }

    /// How many errors were injected since the server started.
    pub fn injected(&self) -> u64 {
        self.0.injected.load(Ordering::Relaxed)
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
            codes: locked(&self.0.codes).clone(),
            user_agent: locked(&self.0.user_agent).clone(),
            seed: None,
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
        self.set_codes(&s.codes);
        self.set_user_agent(&s.user_agent);
        if let Some(seed) = s.seed {
            self.seed(seed);
        }
        self.set_latency(Duration::from_millis(s.latency_ms));
        if s.drop_watches {
            self.drop_watches();
        }
    }
}

/// The `Status` a real API server answers with when it fails this way.
fn injected_error(code: u16) -> ApiError {
    let why = "(an error injected by the sandbox's fault switches)";
    match code {
        503 => ApiError::new(
            503,
            "ServiceUnavailable",
            format!("the server is currently unable to handle the request {why}"),
        ),
        504 => ApiError::new(
            504,
            "Timeout",
            format!(
                "the server was unable to return a response in the time allotted, but may still be processing the request {why}"
            ),
        ),
        429 => {
            ApiError::too_many_requests(format!("Too many requests, please try again later. {why}"))
        }
        _ => ApiError::internal(format!("an error on the server {why}")),
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
    fn a_seed_repeats_the_draws() {
        let f = Faults::default();
        f.set_error_rate("get", 0.5);
        f.set_codes(&[500, 503, 504, 429]);
        let draw = |f: &Faults| -> Vec<Option<u16>> {
            f.seed(7);
            (0..64)
                .map(|_| f.inject("get", "").map(|e| e.code))
                .collect()
        };
        let first = draw(&f);
        assert_eq!(first, draw(&f));
        assert!(first.iter().any(Option::is_none) && first.iter().any(Option::is_some));
    }

    #[test]
    fn rates_and_counters() {
        let f = Faults::default();
        f.set_error_rate("get", 1.0);
        assert!(f.should_fail("get"));
        assert!(!f.should_fail("list"));
        f.clear();
        assert!(!f.should_fail("get"));
        f.set_error_rate("*", 1.0);
        f.set_codes(&[429]);
        f.set_user_agent("serin/");
        assert!(f.inject("patch", "kubectl/v1.31").is_none());
        let e = f.inject("patch", "serin/0.1").expect("an error");
        assert_eq!((e.code, e.reason), (429, "TooManyRequests"));
        assert!(f.injected() >= 2);
        f.clear();
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

//! Errors of one reconcile, their fixed categories, and the retry policy: a per-object
//! backoff that grows while the same Canary keeps failing and resets once it succeeds.
//!
//! All of these are transient: a spec serin cannot act on is a `Valid=False` condition
//! set by the decision, never an error here.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// What went wrong, as a fixed name: the metric label, and what the error policy matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// A write carried a stale resourceVersion: the fresh object is on its way.
    Conflict,
    /// Any other failure of a Kubernetes API call.
    KubeApi,
    /// serin itself failed (a caught panic): retried, but slowly.
    Panic,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Conflict => "conflict",
            Category::KubeApi => "kube_api",
            Category::Panic => "panic",
        }
    }

    /// First retry delay, doubled per consecutive failure up to [`Category::max_delay`].
    fn base_delay(self) -> Duration {
        match self {
            // A stale cache catches up within a watch event: look again soon.
            Category::Conflict => Duration::from_millis(200),
            Category::KubeApi | Category::Panic => Duration::from_secs(5),
        }
    }

    fn max_delay(self) -> Duration {
        match self {
            Category::Conflict => Duration::from_secs(5),
            // An API server that keeps failing is not hammered; a step is at most this late
            // after it recovers.
            Category::KubeApi | Category::Panic => Duration::from_secs(300),
        }
    }
}

/// Errors of one reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[source] kube::Error),
    /// A panic inside the reconcile, caught; the text is the panic's message.
    #[error("reconcile panicked: {0}")]
    Panicked(String),
}

impl Error {
    pub fn category(&self) -> Category {
        match self {
            Error::Kube(kube::Error::Api(s)) if s.code == 409 => Category::Conflict,
            Error::Kube(_) => Category::KubeApi,
            Error::Panicked(_) => Category::Panic,
        }
    }
}

/// Consecutive failures per object (`namespace/name`).
#[derive(Default)]
pub struct Backoff {
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    /// Counts a failure of `key` and returns how long to wait before retrying it.
    pub fn failed(&self, key: &str, category: Category) -> Duration {
        let n = match self.failures.lock() {
            Ok(mut map) => {
                let n = map.entry(key.to_string()).or_default();
                *n = n.saturating_add(1);
                *n
            }
            Err(_) => 1,
        };
        let factor = 2u32.saturating_pow(n.saturating_sub(1).min(16));
        category
            .base_delay()
            .saturating_mul(factor)
            .min(category.max_delay())
    }

    /// Forgets the failures of `key` after a successful reconcile.
    pub fn succeeded(&self, key: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_per_object_and_resets_on_success() {
        let b = Backoff::default();
        assert_eq!(b.failed("a/x", Category::KubeApi), Duration::from_secs(5));
        assert_eq!(b.failed("a/x", Category::KubeApi), Duration::from_secs(10));
        assert_eq!(
            b.failed("a/y", Category::KubeApi),
            Duration::from_secs(5),
            "another object has its own count"
        );
        for _ in 0..20 {
            b.failed("a/x", Category::KubeApi);
        }
        assert_eq!(b.failed("a/x", Category::KubeApi), Duration::from_secs(300));
        b.succeeded("a/x");
        assert_eq!(
            b.failed("a/x", Category::Conflict),
            Duration::from_millis(200)
        );
    }
}

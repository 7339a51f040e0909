//! Counter samples and the non-overlapping increments between two of them.
//!
//! The judge never reads `rate[1m]` windows: it takes the cumulative counters of both
//! versions at each look and uses exactly what happened since the previous look, so
//! consecutive intervals never share a request. Everything here is total: malformed
//! values (NaN, infinities, negatives, numbers too large to count exactly) make a sample
//! unusable instead of producing a wrong increment.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Largest counter value taken as exact. Beyond 2^53 an `f64` can no longer represent
/// every integer, so an increment computed from two such values could be off by more
/// than the events it is meant to count.
pub const MAX_COUNTER: f64 = 9_007_199_254_740_992.0;

/// Cumulative counters of one version at one instant, as Prometheus returns them
/// (requests served and bad events among them, e.g. 5xx responses).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    pub requests: f64,
    pub bad: f64,
}

/// One look at both versions' cumulative counters, taken at the same instant.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    pub canary: Counters,
    pub primary: Counters,
}

/// What each version did between two looks: request and bad-event counts.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Interval {
    pub canary: Counters,
    pub primary: Counters,
}

impl Counters {
    pub fn new(requests: f64, bad: f64) -> Self {
        Self { requests, bad }
    }

    /// Both values are counts a counter can hold exactly.
    pub fn is_valid(&self) -> bool {
        valid_count(self.requests) && valid_count(self.bad)
    }

    /// What happened between `earlier` and `self`, treating each counter on its own.
    ///
    /// Bad events are capped at the requests of the same interval: the two counters are
    /// separate series that may be scraped a moment apart (or reset separately), and a
    /// version cannot fail more requests than it served.
    fn since(&self, earlier: &Counters) -> Counters {
        let requests = increase(earlier.requests, self.requests);
        let bad = increase(earlier.bad, self.bad).min(requests);
        Counters { requests, bad }
    }
}

impl Sample {
    pub fn new(canary: Counters, primary: Counters) -> Self {
        Self { canary, primary }
    }

    /// All four counters are usable.
    pub fn is_valid(&self) -> bool {
        self.canary.is_valid() && self.primary.is_valid()
    }
}

impl Interval {
    /// Increments between two looks, or `None` when either look is unusable (a missing
    /// or malformed sample yields no interval; the caller keeps the older look as the
    /// baseline so the next good sample covers the gap and no request is lost).
    pub fn between(earlier: &Sample, later: &Sample) -> Option<Interval> {
        if !earlier.is_valid() || !later.is_valid() {
            return None;
        }
        Some(Interval {
            canary: later.canary.since(&earlier.canary),
            primary: later.primary.since(&earlier.primary),
        })
    }

    /// Bad events of both versions together: the binomial trials of the interval.
    pub fn total_bad(&self) -> f64 {
        self.canary.bad + self.primary.bad
    }

    /// Share of the interval's requests that went to the canary, or `None` when there
    /// were none at all.
    pub fn canary_share(&self) -> Option<f64> {
        let total = self.canary.requests + self.primary.requests;
        (total > 0.0).then(|| self.canary.requests / total)
    }
}

/// Increase of one cumulative counter, as Prometheus' `increase` treats resets: a value
/// lower than the previous one means the process restarted and counted from zero, so
/// everything it shows now happened since the previous look.
pub fn increase(earlier: f64, later: f64) -> f64 {
    if later >= earlier {
        later - earlier
    } else {
        later
    }
}

fn valid_count(v: f64) -> bool {
    v.is_finite() && (0.0..=MAX_COUNTER).contains(&v)
}

//! Inputs a step asks for before it can be decided, and what comes back. The decision
//! returns [`Next::Gather`](super::Next::Gather) with a [`Request`]; the controller gathers
//! it (metrics now; webhooks and manual approvals are the next kinds) and decides again
//! with the [`Inputs`]. Every kind goes through this one path.

use chrono::{DateTime, Utc};

use crate::api::{CanaryMetric, HookType};

/// What a step needs gathered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Request {
    /// Measure the analysis metrics.
    pub metrics: bool,
    /// Call the webhooks of these types.
    pub hooks: HookSet,
}

impl Request {
    /// An analysis step: measure the metrics.
    pub const METRICS: Request = Request {
        metrics: true,
        hooks: HookSet::EMPTY,
    };

    /// Call the webhooks of these types (and measure nothing).
    pub fn hooks(types: &[HookType]) -> Request {
        Request {
            metrics: false,
            hooks: HookSet::of(types),
        }
    }
}

/// A set of hook types; a bit set so that a [`Request`] stays `Copy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HookSet(u16);

impl HookSet {
    pub const EMPTY: HookSet = HookSet(0);

    pub fn of(types: &[HookType]) -> HookSet {
        types.iter().fold(HookSet::EMPTY, |set, t| set.with(*t))
    }

    pub fn with(self, t: HookType) -> HookSet {
        HookSet(self.0 | 1 << (t as u16))
    }

    pub fn contains(self, t: HookType) -> bool {
        self.0 & (1 << (t as u16)) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// What was gathered; a field is Some only when it was requested.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inputs {
    pub metrics: Option<Vec<Measurement>>,
    /// One result per webhook of the requested types.
    pub hooks: Option<Vec<HookCall>>,
}

/// One webhook, called: its answer, not yet judged (for a rollback hook a pass means
/// "roll back").
#[derive(Debug, Clone, PartialEq)]
pub struct HookCall {
    pub name: String,
    pub type_: HookType,
    /// 200-202.
    pub passed: bool,
    /// What happened: `HTTP 202`, or the failure with the (truncated) answer.
    pub message: String,
    /// When the call was made.
    pub at: DateTime<Utc>,
}

/// What running one query gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Value(f64),
    /// Empty result or NaN; the text says which.
    NoData(String),
    /// The query could not be built, run or read.
    Error(String),
}

/// One metric, measured: the query as sent and what it gave, not yet judged.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    pub metric: CanaryMetric,
    /// The query as sent; empty when it could not be built.
    pub query: String,
    pub outcome: Outcome,
    /// When the query ran.
    pub at: DateTime<Utc>,
    /// serin: canary requests in the check's window, when the check needs a minimum.
    pub requests: Option<Outcome>,
    /// serin: the judge's look at both versions' cumulative counters, or why there is
    /// none (a missing look: the next one covers the gap).
    pub counters: Option<Result<crate::judge::Sample, String>>,
}

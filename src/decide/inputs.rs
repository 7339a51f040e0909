//! Inputs a step asks for before it can be decided, and what comes back. The decision
//! returns [`Next::Gather`](super::Next::Gather) with a [`Request`]; the controller gathers
//! it (metrics now; webhooks and manual approvals are the next kinds) and decides again
//! with the [`Inputs`]. Every kind goes through this one path.

use chrono::{DateTime, Utc};

use crate::api::CanaryMetric;

/// What a step needs gathered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Request {
    /// Measure the analysis metrics.
    pub metrics: bool,
}

impl Request {
    /// An analysis step: measure the metrics.
    pub const METRICS: Request = Request { metrics: true };
}

/// What was gathered; a field is Some only when it was requested.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inputs {
    pub metrics: Option<Vec<Measurement>>,
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
}

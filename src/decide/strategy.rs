//! The strategy seam: how a run moves traffic. A strategy says whether the analysis has
//! started, which step comes next, and the [`TrafficSplit`] the router carries out. Only
//! the weighted canary exists today; A/B testing (header and cookie matches) and
//! blue/green (all or nothing, with iterations) come next and fill the split's other fields.

use crate::api::CanaryStatus;

/// The traffic split of a step, what a router turns into routing objects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrafficSplit {
    /// Percent of requests to the primary.
    pub primary: i32,
    /// Percent of requests to the canary.
    pub canary: i32,
    /// Requests matching these (router-specific, e.g. Istio HTTPMatchRequests) go to the
    /// canary whatever the weights (A/B testing).
    pub matches: Option<serde_json::Value>,
    /// Requests copied to the canary, responses discarded.
    pub mirror: Option<Mirror>,
    /// Keeps a client on the workload it first reached.
    pub session_affinity: Option<SessionAffinity>,
}

/// Traffic mirroring to the canary.
#[derive(Debug, Clone, PartialEq)]
pub struct Mirror {
    /// Percent of the primary's requests copied.
    pub percent: i32,
}

/// Cookie-based session affinity.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionAffinity {
    pub cookie_name: String,
    pub max_age_seconds: u32,
}

impl TrafficSplit {
    /// A plain weighted split: `canary` percent to the canary, the rest to the primary.
    pub fn weighted(canary: i32) -> TrafficSplit {
        let canary = canary.clamp(0, 100);
        TrafficSplit {
            primary: 100 - canary,
            canary,
            ..Default::default()
        }
    }
}

/// How a run moves traffic.
#[derive(Debug, Clone, PartialEq)]
pub enum Strategy<'a> {
    /// Weighted canary: the canary's weight rises through `steps`.
    Canary { steps: &'a [i32] },
}

impl Strategy<'_> {
    /// Whether the analysis of the current run has begun. For the weighted canary its
    /// position is its weight (every step is at least 1); strategies that keep the canary
    /// at weight 0 (A/B) will count iterations instead.
    pub fn started(&self, status: &CanaryStatus) -> bool {
        match self {
            Strategy::Canary { .. } => status.canary_weight > 0,
        }
    }

    /// The canary weight of the first step.
    pub fn first_weight(&self) -> i32 {
        match self {
            Strategy::Canary { steps } => steps.first().copied().unwrap_or(100),
        }
    }

    /// The weight after `current`, or None when `current` is the last step.
    pub fn next_weight(&self, current: i32) -> Option<i32> {
        match self {
            Strategy::Canary { steps } => steps.iter().copied().find(|w| *w > current),
        }
    }

    /// The split for a routed canary weight.
    pub fn split(&self, canary_weight: i32) -> TrafficSplit {
        match self {
            Strategy::Canary { .. } => TrafficSplit::weighted(canary_weight),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_weighted_canary_walks_its_steps() {
        let steps = [10, 20, 30];
        let s = Strategy::Canary { steps: &steps };
        assert_eq!(s.first_weight(), 10);
        assert_eq!(s.next_weight(10), Some(20));
        assert_eq!(s.next_weight(30), None);
        assert!(!s.started(&CanaryStatus::default()));
        let split = s.split(20);
        assert_eq!((split.primary, split.canary), (80, 20));
    }
}

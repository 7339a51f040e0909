//! The strategy seam: how a run moves traffic. A strategy says whether the analysis has
//! started, what follows a passed check, and the [`TrafficSplit`] the router carries out.
//! Chosen as Flagger does: `iterations` with `match` is A/B testing, `iterations` alone is
//! blue/green, anything else the weighted canary (see `Settings::strategy`).

use serde_json::Value;

use crate::api::{CanarySpec, CanaryStatus, Phase, SessionAffinity as ApiAffinity};

/// The traffic split of a step, what a router turns into routing objects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrafficSplit {
    /// Percent of requests to the primary.
    pub primary: i32,
    /// Percent of requests to the canary.
    pub canary: i32,
    /// Requests matching these (router-specific, e.g. Istio HTTPMatchRequests) go to the
    /// canary whatever the weights (A/B testing).
    pub matches: Option<Value>,
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
    /// `name=value` of the cookie given to the canary's users while it gets traffic.
    pub canary_cookie: Option<String>,
    pub max_age_seconds: u32,
    /// `name=value` of a finished run's cookie, expired on the clients still sending it.
    pub expired_cookie: Option<String>,
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

/// The `deployment_strategy` label of a spec, inferred as Flagger does (without
/// validating the spec: an invalid one still gets a label on its counters).
pub fn label_of(spec: &CanarySpec) -> &'static str {
    let analysis = spec.analysis.as_ref();
    let iterations = analysis.and_then(|a| a.iterations).unwrap_or(0) > 0;
    match (iterations, analysis.is_some_and(|a| a.match_.is_some())) {
        (true, true) => "ab-testing",
        (true, false) => "blue-green",
        _ => "canary",
    }
}

/// How a run moves traffic.
#[derive(Debug, Clone, PartialEq)]
pub enum Strategy<'a> {
    /// Weighted canary: the canary's weight rises through `steps`; with `affinity`, a
    /// user who reached the canary keeps reaching it.
    Canary {
        steps: &'a [i32],
        affinity: Option<&'a ApiAffinity>,
    },
    /// A/B testing: requests matching `matches` go to the canary, all others to the
    /// primary, for `iterations` checks.
    AbTesting { iterations: i32, matches: &'a Value },
    /// Blue/green: `iterations` checks with no user traffic on the canary (a copy of it
    /// when `mirror` is set, in percent), then all traffic switches at promotion.
    BlueGreen {
        iterations: i32,
        mirror: Option<i32>,
    },
}

/// What follows a passed check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Route this canary weight for the next step.
    Weight(i32),
    /// Run this iteration (1-based) next.
    Iteration(i32),
    /// Promote.
    Promote,
}

impl Strategy<'_> {
    /// The `deployment_strategy` label of the run counters, as Flagger names it.
    pub fn label(&self) -> &'static str {
        match self {
            Strategy::Canary { .. } => "canary",
            Strategy::AbTesting { .. } => "ab-testing",
            Strategy::BlueGreen { .. } => "blue-green",
        }
    }

    /// The number of iterations of a run, for the strategies that count them.
    pub fn iterations(&self) -> Option<i32> {
        match self {
            Strategy::Canary { .. } => None,
            Strategy::AbTesting { iterations, .. } | Strategy::BlueGreen { iterations, .. } => {
                Some(*iterations)
            }
        }
    }

    /// Whether the analysis of the current run has begun. The weighted canary's position
    /// is its weight (every step is at least 1); the iterating strategies keep the canary
    /// at weight 0, so their position is the iteration under way (1-based, 0 = not begun).
    pub fn started(&self, status: &CanaryStatus) -> bool {
        match self {
            Strategy::Canary { .. } => status.canary_weight > 0,
            _ => status.iterations > 0,
        }
    }

    /// The first step of the analysis.
    pub fn first(&self) -> After {
        match self {
            Strategy::Canary { steps, .. } => After::Weight(steps.first().copied().unwrap_or(100)),
            _ => After::Iteration(1),
        }
    }

    /// What follows a passed check of the step `status` stands at.
    pub fn after(&self, status: &CanaryStatus) -> After {
        match self {
            Strategy::Canary { steps, .. } => steps
                .iter()
                .copied()
                .find(|w| *w > status.canary_weight)
                .map_or(After::Promote, After::Weight),
            _ => match self.iterations() {
                Some(n) if status.iterations < n => After::Iteration(status.iterations + 1),
                _ => After::Promote,
            },
        }
    }

    /// Whether all user traffic moves to the canary before its template is copied to the
    /// primary (blue/green: "Routing all traffic to canary", then promotion).
    pub fn switches_at_promotion(&self) -> bool {
        matches!(self, Strategy::BlueGreen { .. })
    }

    /// The split for a routed canary weight. `status` tells whether an analysis is under
    /// way; `canary_serving` whether the canary has a replica to send requests to.
    pub fn split(
        &self,
        status: &CanaryStatus,
        canary_weight: i32,
        canary_serving: bool,
    ) -> TrafficSplit {
        let mut split = TrafficSplit::weighted(canary_weight);
        let analysing = canary_serving && status.iterations > 0;
        match self {
            Strategy::Canary { affinity, .. } => {
                split.session_affinity = affinity.and_then(|a| session(a, status, split.canary));
            }
            Strategy::AbTesting { matches, .. } => {
                // Matched traffic stays on the canary until the primary runs its template.
                if analysing
                    && matches!(
                        status.phase(),
                        Phase::Progressing | Phase::WaitingPromotion | Phase::Promoting
                    )
                {
                    split.matches = Some((*matches).clone());
                }
            }
            Strategy::BlueGreen { mirror, .. } => {
                let progressing =
                    matches!(status.phase(), Phase::Progressing | Phase::WaitingPromotion);
                if let Some(percent) =
                    mirror.filter(|_| analysing && progressing && split.canary == 0)
                {
                    split.mirror = Some(Mirror { percent });
                }
            }
        }
        split
    }
}

/// The session cookies of a split: the run's cookie while the canary gets traffic, and
/// the previous run's cookie to expire.
fn session(a: &ApiAffinity, status: &CanaryStatus, canary_weight: i32) -> Option<SessionAffinity> {
    let canary_cookie = status
        .session_affinity_cookie
        .clone()
        .filter(|_| canary_weight > 0 && canary_weight < 100);
    let expired_cookie = status.previous_session_affinity_cookie.clone();
    (canary_cookie.is_some() || expired_cookie.is_some()).then(|| SessionAffinity {
        canary_cookie,
        max_age_seconds: a.max_age_seconds(),
        expired_cookie,
    })
}

/// The cookie (`name=value`) of a run: derived from the revision under analysis, so a
/// restarted serin gives the same cookie, and a new revision a new one.
pub fn session_cookie(a: &ApiAffinity, revision: &str) -> String {
    let value: String = revision
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(10)
        .collect();
    format!("{}={}", a.cookie_name, value)
}

#[cfg(test)]
mod tests;

//! The evidence judge: canary against primary, anytime-valid, with early stop.
//!
//! Pure: no IO, no clock, no panics on any input. At each look the caller hands over
//! the cumulative (requests, bad events) counters of both versions; the judge turns the
//! non-overlapping increment since the previous look into evidence and answers with a
//! [`Verdict`]. Two e-processes run side by side: one against "the canary's bad-event
//! rate is at most the primary's" (abort when it reaches 1/α) and one against "it is
//! worse by at least the tolerated margin δ" (promote early when it reaches 1/α). Ville's
//! inequality bounds each wrong decision by α however often the judge looks.
//!
//! The state is small and serializable so that it can live in the Canary's status and a
//! restart resumes the same test. The method and its assumptions: docs/judge.md.

mod counters;
mod evidence;
mod explain;
#[cfg(test)]
mod tests;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use counters::{Counters, Interval, MAX_COUNTER, Sample, increase};
pub use evidence::RatioInterval;
pub use explain::{Report, count_words, explain};

use evidence::{HALF_SPAN, LATTICE_LEN, OFFSETS, interval_log_lr, lattice_ratio, offset_ratio};

/// Default bound on the probability of a wrong abort (and of a wrong early promotion).
pub const DEFAULT_ALPHA: f64 = 0.01;
/// Default tolerated margin: a canary up to 10% worse than the primary may be promoted.
pub const DEFAULT_MARGIN: f64 = 0.1;
/// Default canary requests a look must gather before the canary may move on.
pub const DEFAULT_MIN_REQUESTS: f64 = 100.0;
/// Largest margin: the lattice of ratios ends at 16×.
pub const MAX_MARGIN: f64 = 15.0;

/// Why a judge configuration was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("alpha must be a number strictly between 0 and 0.5, got {0}")]
    Alpha(f64),
    #[error("margin must be a number from 0 to {MAX_MARGIN}, got {0}")]
    Margin(f64),
    #[error("minimum requests must be a number of at least 0, got {0}")]
    MinRequests(f64),
}

impl ConfigError {
    /// Fixed name of the error kind, for metric labels and Event reasons.
    pub fn category(&self) -> &'static str {
        "InvalidJudgeConfig"
    }
}

/// How strict the judge is. Built through [`JudgeConfig::new`], so every value is valid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JudgeConfig {
    alpha: f64,
    margin: f64,
    min_requests: f64,
}

impl Default for JudgeConfig {
    fn default() -> Self {
        Self {
            alpha: DEFAULT_ALPHA,
            margin: DEFAULT_MARGIN,
            min_requests: DEFAULT_MIN_REQUESTS,
        }
    }
}

impl JudgeConfig {
    pub fn new(alpha: f64, margin: f64, min_requests: f64) -> Result<Self, ConfigError> {
        if !(alpha > 0.0 && alpha < 0.5) {
            return Err(ConfigError::Alpha(alpha));
        }
        if !(0.0..=MAX_MARGIN).contains(&margin) {
            return Err(ConfigError::Margin(margin));
        }
        if !(min_requests >= 0.0 && min_requests.is_finite()) {
            return Err(ConfigError::MinRequests(min_requests));
        }
        Ok(Self {
            alpha,
            margin,
            min_requests,
        })
    }

    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    pub fn margin(&self) -> f64 {
        self.margin
    }

    pub fn min_requests(&self) -> f64 {
        self.min_requests
    }

    /// The e-value at which the judge acts: 1/α.
    pub fn bar(&self) -> f64 {
        1.0 / self.alpha
    }
}

/// The numbers every verdict carries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evidence {
    /// Canary requests and bad events since the judge started.
    pub canary: Counters,
    /// Primary requests and bad events since the judge started.
    pub primary: Counters,
    /// E-value against "the canary is no worse than the primary".
    pub abort: f64,
    /// E-value against "the canary is worse by at least the margin".
    pub promote: f64,
    /// The e-value at which either acts (1/α).
    pub bar: f64,
}

/// What the judge concludes after a look.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Too few canary requests since the last look that counted (or no usable interval
    /// yet): neither a pass nor a failure; look again later at the same weight.
    Insufficient {
        seen: f64,
        needed: f64,
        evidence: Evidence,
    },
    /// Enough traffic and no decision yet: the canary may move on.
    Continue { evidence: Evidence },
    /// The canary's bad-event rate exceeds the primary's, with evidence 1/α or more.
    Abort { evidence: Evidence },
    /// The canary is within the tolerated margin, with evidence 1/α or more.
    Promote { evidence: Evidence },
}

impl Verdict {
    pub fn evidence(&self) -> &Evidence {
        match self {
            Verdict::Insufficient { evidence, .. }
            | Verdict::Continue { evidence }
            | Verdict::Abort { evidence }
            | Verdict::Promote { evidence } => evidence,
        }
    }
}

/// Everything the judge remembers between looks.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JudgeState {
    /// Canary requests and bad events since the judge started.
    pub canary: Counters,
    /// Primary requests and bad events since the judge started.
    pub primary: Counters,
    /// The last usable look: the baseline of the next interval.
    pub last: Option<Sample>,
    /// Canary requests since the last look that counted (see [`Verdict::Insufficient`]).
    pub pending_requests: f64,
    /// The canary's share of requests in the last interval that had any.
    pub last_share: Option<f64>,
    /// ln of the e-value against "the canary is no worse than the primary".
    pub log_abort: f64,
    /// ln of the e-value against "the canary is worse by at least the margin".
    pub log_promote: f64,
    /// Summed ln likelihood ratio against ρ = 1 at each lattice ratio.
    pub profile: Vec<f64>,
    /// The margin δ that `margin_profile` was built for.
    pub margin: f64,
    /// Summed ln likelihood ratio against ρ = 1 at 1 + δ, then at the early-promotion
    /// alternatives below it.
    pub margin_profile: Vec<f64>,
}

impl JudgeState {
    /// Take one look. `None` (or a malformed sample) is a missing look: no interval, and
    /// the previous look stays the baseline.
    pub fn observe(&mut self, config: &JudgeConfig, sample: Option<Sample>) -> Verdict {
        self.repair(config);
        let sample = sample.filter(Sample::is_valid);
        let mut fresh = false;
        if let Some(sample) = sample {
            let interval = self.last.and_then(|last| Interval::between(&last, &sample));
            self.last = Some(sample);
            if let Some(interval) = interval {
                self.fold(config, &interval);
                fresh = true;
            }
        }
        self.decide(config, fresh)
    }

    /// The verdict the evidence supports after a look; a look that counted (enough
    /// requests, or a decision) starts the next count of pending requests. A look that
    /// brought no interval never lets the canary move on, whatever the minimum.
    fn decide(&mut self, config: &JudgeConfig, fresh: bool) -> Verdict {
        let evidence = self.evidence(config);
        let bar = config.bar().ln();
        if self.log_abort >= bar {
            self.pending_requests = 0.0;
            return Verdict::Abort { evidence };
        }
        if self.log_promote >= bar {
            self.pending_requests = 0.0;
            return Verdict::Promote { evidence };
        }
        if !fresh || self.pending_requests < config.min_requests || self.last_share.is_none() {
            return Verdict::Insufficient {
                seen: self.pending_requests,
                needed: config.min_requests,
                evidence,
            };
        }
        self.pending_requests = 0.0;
        Verdict::Continue { evidence }
    }

    /// The numbers a verdict carries.
    pub fn evidence(&self, config: &JudgeConfig) -> Evidence {
        Evidence {
            canary: self.canary,
            primary: self.primary,
            abort: self.log_abort.min(700.0).exp(),
            promote: self.log_promote.min(700.0).exp(),
            bar: config.bar(),
        }
    }

    fn fold(&mut self, config: &JudgeConfig, interval: &Interval) {
        add(&mut self.canary, &interval.canary);
        add(&mut self.primary, &interval.primary);
        self.pending_requests += interval.canary.requests;
        if let Some(share) = interval.canary_share() {
            self.last_share = Some(share);
        }
        for (k, value) in self.profile.iter_mut().enumerate() {
            *value += interval_log_lr(interval, lattice_ratio(k));
        }
        for (i, value) in self.margin_profile.iter_mut().enumerate() {
            *value += interval_log_lr(interval, margin_point(config.margin, i));
        }
        self.recompute();
    }

    /// Read both log e-values off the profiles.
    fn recompute(&mut self) {
        self.log_abort = evidence::log_mix_up(&self.profile, HALF_SPAN as usize);
        let terms = self.margin_profile.iter().skip(1);
        let base = self.margin_profile.first().copied().unwrap_or(0.0);
        self.log_promote = evidence::log_mean_exp(terms.map(|l| l - base), OFFSETS.len());
    }

    /// Bring a state that is new, from an older version or edited by hand back to a
    /// consistent shape. A changed margin starts the early-promotion test afresh: its
    /// evidence was gathered against another hypothesis.
    fn repair(&mut self, config: &JudgeConfig) {
        let finite = |v: &Vec<f64>| v.iter().all(|x| x.is_finite());
        if self.profile.len() != LATTICE_LEN || !finite(&self.profile) {
            self.profile = vec![0.0; LATTICE_LEN];
        }
        if self.margin != config.margin
            || self.margin_profile.len() != OFFSETS.len() + 1
            || !finite(&self.margin_profile)
        {
            self.margin = config.margin;
            self.margin_profile = vec![0.0; OFFSETS.len() + 1];
        }
        for totals in [&mut self.canary, &mut self.primary] {
            if !totals.is_valid() {
                *totals = Counters::default();
            }
        }
        if !self.pending_requests.is_finite() || self.pending_requests < 0.0 {
            self.pending_requests = 0.0;
        }
        if self.last.is_some_and(|s| !s.is_valid()) {
            self.last = None;
        }
        self.recompute();
    }
}

/// Ratio of the i-th early-promotion point: 1 + δ itself, then the alternatives below.
fn margin_point(margin: f64, i: usize) -> f64 {
    let null = 1.0 + margin;
    match i {
        0 => null,
        _ => null / offset_ratio(i - 1),
    }
}

fn add(total: &mut Counters, more: &Counters) {
    total.requests += more.requests;
    total.bad += more.bad;
}

//! The judge's numbers for status and events, and the same in plain words.
//!
//! Everything here is read off a [`JudgeState`]; nothing changes it. The forecast of
//! "how many more requests" is a planning figure (expected drift of the best mixture
//! component if the current estimate were the truth), not a guarantee.

use super::evidence::{
    self, HALF_SPAN, LATTICE_LEN, OFFSETS, RatioInterval, drift_per_request, lattice_ratio,
    offset_ratio,
};
use super::{Evidence, JudgeConfig, JudgeState, Verdict};

/// What status and events show about the judge after a look.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report {
    pub evidence: Evidence,
    /// Tolerated margin δ: promotion needs evidence that ρ < 1 + δ.
    pub margin: f64,
    /// Confidence of `interval` is 1 − α.
    pub alpha: f64,
    /// Current estimate of ρ, the canary's bad-event rate over the primary's.
    pub estimate: Option<f64>,
    /// Bounds on ρ valid at every look at once.
    pub interval: RatioInterval,
    /// Canary requests still needed at the current weight for either decision, if the
    /// current estimate held; `None` when no decision is in sight.
    pub more_requests: Option<f64>,
}

impl JudgeState {
    /// The numbers behind the last verdict, for status and events.
    pub fn report(&self, config: &JudgeConfig) -> Report {
        let estimate = evidence::estimate(&self.profile);
        Report {
            evidence: self.evidence(config),
            margin: config.margin(),
            alpha: config.alpha(),
            estimate,
            interval: evidence::ratio_interval(&self.profile, config.alpha()),
            more_requests: self.more_requests(config, estimate.unwrap_or(1.0)),
        }
    }

    /// Fewest canary requests after which some component of either mixture is
    /// expected to carry its e-value to 1/α, were the ratio `rho`.
    fn more_requests(&self, config: &JudgeConfig, rho: f64) -> Option<f64> {
        // The primary's rate as the data estimate it given ρ (pooled over both
        // versions), so that a canary failing against a clean primary gets a forecast.
        let bad = self.primary.bad + self.canary.bad;
        let base = rate(bad, self.primary.requests + rho * self.canary.requests)?;
        let w = self.last_share?;
        let bar = config.bar().ln() + (OFFSETS.len() as f64).ln();
        let center = HALF_SPAN as usize;
        let null = 1.0 + config.margin();
        let promote_base = self.margin_profile.first().copied().unwrap_or(0.0);
        (0..OFFSETS.len())
            .flat_map(|j| {
                let up = OFFSETS[j] as usize + center;
                let abort_now = self.profile.get(up).copied().unwrap_or(0.0)
                    - self.profile.get(center).copied().unwrap_or(0.0);
                let promote_now =
                    self.margin_profile.get(j + 1).copied().unwrap_or(0.0) - promote_base;
                [
                    (
                        abort_now,
                        drift_per_request(rho, base, w, offset_ratio(j), 1.0),
                    ),
                    (
                        promote_now,
                        drift_per_request(rho, base, w, null / offset_ratio(j), null),
                    ),
                ]
            })
            .filter(|&(_, drift)| drift > 0.0)
            .map(|(now, drift)| ((bar - now) / drift).max(0.0))
            .filter(|n| n.is_finite())
            .min_by(f64::total_cmp)
    }
}

/// A rate, or `None` when it cannot be estimated yet.
fn rate(bad: f64, requests: f64) -> Option<f64> {
    (bad > 0.0 && requests > 0.0).then(|| bad / requests)
}

/// The verdict in plain words, with the numbers that explain it.
pub fn explain(verdict: &Verdict, report: &Report) -> String {
    let ev = &report.evidence;
    let bar = evidence_words(ev.bar);
    let ratio = report.estimate.map(estimate_words);
    let range = interval_words(&report.interval, report.alpha);
    match verdict {
        Verdict::Abort { .. } => format!(
            "canary error rate {} the primary's ({range}), evidence {} (abort at {bar})",
            ratio.unwrap_or_else(|| "above".into()),
            evidence_words(ev.abort),
        ),
        Verdict::Promote { .. } => format!(
            "canary error rate {} the primary's ({range}), evidence {} that it is below {} \
             (promote at {bar})",
            ratio.unwrap_or_else(|| "within".into()),
            evidence_words(ev.promote),
            ratio_words(1.0 + report.margin),
        ),
        Verdict::Insufficient { .. } if ev.canary.requests + ev.primary.requests == 0.0 => {
            "insufficient data: no interval between two looks at the counters yet".into()
        }
        Verdict::Insufficient { seen, needed, .. } => format!(
            "insufficient traffic: {} canary requests since the last look that counted, \
             {} needed",
            count_words(*seen),
            count_words(*needed),
        ),
        Verdict::Continue { .. } => continue_words(report, ratio, &bar),
    }
}

fn continue_words(report: &Report, ratio: Option<String>, bar: &str) -> String {
    let ev = &report.evidence;
    let Some(ratio) = ratio else {
        return "not enough evidence yet: no bad events on either version so far".into();
    };
    let numbers = format!(
        "canary error rate {ratio} the primary's, evidence {}, abort at {bar}",
        evidence_words(ev.abort)
    );
    match report.more_requests {
        Some(n) => format!(
            "not enough evidence yet: ~{} more canary requests at the current weight \
             ({numbers})",
            count_words(round_two_digits(n))
        ),
        None => format!("not enough evidence yet: no decision in sight ({numbers})"),
    }
}

/// "2.1×", "0.97×": two significant digits, more near 1 where they matter.
pub(crate) fn ratio_words(r: f64) -> String {
    if !r.is_finite() {
        return "unbounded".into();
    }
    if r < 2.0 {
        format!("{r:.2}×")
    } else if r < 10.0 {
        format!("{r:.1}×")
    } else {
        format!("{r:.0}×")
    }
}

/// The estimate, saying so when it sits at an end of the lattice (the data only
/// bound it from one side there).
fn estimate_words(r: f64) -> String {
    let (low, high) = (lattice_ratio(0), lattice_ratio(LATTICE_LEN - 1));
    if r <= low * 1.001 {
        format!("at most {}", ratio_words(low))
    } else if r >= high * 0.999 {
        format!("at least {}", ratio_words(high))
    } else {
        ratio_words(r)
    }
}

pub(super) fn interval_words(interval: &RatioInterval, alpha: f64) -> String {
    let level = format!("{}%", ((1.0 - alpha) * 1000.0).round() / 10.0);
    let lower = (interval.lower > 0.0).then(|| ratio_words(interval.lower));
    match (lower, interval.upper.map(ratio_words)) {
        (Some(lower), Some(upper)) => format!("{lower} to {upper} at {level}"),
        (Some(lower), None) => format!("above {lower} at {level}"),
        (None, Some(upper)) => format!("below {upper} at {level}"),
        (None, None) => format!("any ratio still possible at {level}"),
    }
}

/// An e-value: one decimal below 10, whole numbers with separators up to a billion.
pub(crate) fn evidence_words(e: f64) -> String {
    if e.is_nan() || e < 0.0 {
        "0".into()
    } else if e < 10.0 {
        format!("{e:.1}")
    } else if e < 1e9 {
        count_words(e.round())
    } else {
        format!("{e:.1e}")
    }
}

/// A count with thousands separators: 1800 -> "1,800".
pub fn count_words(n: f64) -> String {
    if !n.is_finite() || n >= 1e18 {
        return format!("{n:e}");
    }
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Two significant digits: a forecast is a rough figure and should read as one.
pub(crate) fn round_two_digits(n: f64) -> f64 {
    if n.is_nan() || n < 10.0 || !n.is_finite() {
        return n.max(0.0).ceil();
    }
    let scale = 10f64.powi(n.log10().floor() as i32 - 1);
    (n / scale).round() * scale
}

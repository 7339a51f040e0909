//! The likelihood ratios behind the judge, kept in log space.
//!
//! Given an interval's bad events E of both versions together, the canary's share of
//! them is Binomial(E, θ(ρ)) with θ(ρ) = ρ·w / (ρ·w + 1 − w), where w is the canary's
//! share of the interval's requests and ρ the ratio of the canary's bad-event rate to
//! the primary's. The log-likelihood ratio of ρ against ρ = 1 then has a closed form,
//! `e_c·ln ρ − E·ln(1 + (ρ − 1)·w)`, with no binomial coefficient and no factorial, so
//! it stays exact for any count an `f64` can hold. docs/judge.md derives it.
//!
//! The judge keeps the running sum of that ratio on a fixed lattice of ρ (its
//! "profile"); every e-value, the estimate and the confidence interval are read off it.

use std::f64::consts::LN_2;

use super::counters::Interval;

/// Lattice spacing in ln ρ: eight points per doubling (neighbours 9% apart), fine
/// enough that the true ratio is never far from a point the mixture weighs.
pub(crate) const STEP: f64 = LN_2 / 8.0;
/// The lattice spans ρ from 2^-4 to 2^4: a ratio beyond 16× either way is reported as
/// "beyond 16×"; an e-process needs no finer answer to act.
pub(crate) const HALF_SPAN: i32 = 32;
/// Number of lattice points.
pub(crate) const LATTICE_LEN: usize = (2 * HALF_SPAN + 1) as usize;
/// Alternatives of every mixture, in lattice steps away from the tested value: ratios
/// 1.09, 1.19, 1.30, 1.41, 1.54, 1.68, 2, 2.38, 3.08, 4, 5.66 and 9.51. Denser near 1
/// where small regressions need a close alternative; each gets the weight 1/12.
pub(crate) const OFFSETS: [i32; 12] = [1, 2, 3, 4, 5, 6, 8, 10, 13, 16, 20, 26];

/// ρ at lattice index `k` (index `HALF_SPAN` is ρ = 1).
pub(crate) fn lattice_ratio(index: usize) -> f64 {
    ((index as f64 - HALF_SPAN as f64) * STEP).exp()
}

/// The ratio `OFFSETS[j]` steps up: the j-th alternative's distance from the null.
pub(crate) fn offset_ratio(j: usize) -> f64 {
    OFFSETS.get(j).map_or(1.0, |&o| (o as f64 * STEP).exp())
}

/// ln of the interval's likelihood ratio of ρ against ρ = 1 (zero when no bad event
/// happened: an interval without bad events carries no evidence either way).
pub(crate) fn interval_log_lr(interval: &Interval, rho: f64) -> f64 {
    let bad = interval.total_bad();
    let Some(w) = interval.canary_share() else {
        return 0.0;
    };
    // Without bad events, or with all requests on one version, every ρ explains the
    // interval equally well; return the exact zero rather than a rounding residue.
    if bad <= 0.0 || rho.is_nan() || rho <= 0.0 || !(w > 0.0 && w < 1.0) {
        return 0.0;
    }
    let value = interval.canary.bad * rho.ln() - bad * ((rho - 1.0) * w).ln_1p();
    if value.is_finite() { value } else { 0.0 }
}

/// ln Σ_j exp(terms_j) / n, with `n` the full number of alternatives so that a term
/// dropped at the lattice edge only lowers the e-value (it stays valid).
pub(crate) fn log_mean_exp(terms: impl Iterator<Item = f64> + Clone, n: usize) -> f64 {
    let max = terms.clone().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() || n == 0 {
        return if max == f64::INFINITY { max } else { 0.0 };
    }
    let sum: f64 = terms.map(|t| (t - max).exp()).sum();
    max + sum.ln() - (n as f64).ln()
}

/// ln of the mixture e-value against "ρ ≤ lattice(k)": alternatives above k.
pub(crate) fn log_mix_up(profile: &[f64], k: usize) -> f64 {
    let Some(&base) = profile.get(k) else {
        return 0.0;
    };
    let terms = OFFSETS
        .iter()
        .filter_map(move |&o| profile.get(k + o as usize))
        .map(move |&l| l - base);
    log_mean_exp(terms, OFFSETS.len())
}

/// ln of the mixture e-value against "ρ ≥ lattice(k)": alternatives below k.
pub(crate) fn log_mix_down(profile: &[f64], k: usize) -> f64 {
    let Some(&base) = profile.get(k) else {
        return 0.0;
    };
    let terms = OFFSETS
        .iter()
        .filter_map(move |&o| k.checked_sub(o as usize).and_then(|i| profile.get(i)))
        .map(move |&l| l - base);
    log_mean_exp(terms, OFFSETS.len())
}

/// Bounds on ρ that hold at every look at once with probability at least 1 − α:
/// `lower` is 0 and `upper` `None` while the data cannot exclude anything on that side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatioInterval {
    pub lower: f64,
    pub upper: Option<f64>,
}

/// Invert the one-sided mixtures over the lattice, α/2 per side.
///
/// The mixture against "ρ ≤ c" falls as c grows (each alternative's log ratio does), so
/// if it rejects at a lattice point c it would also reject at any true ρ below c: the
/// bound is valid between lattice points too, not only on them.
pub(crate) fn ratio_interval(profile: &[f64], alpha: f64) -> RatioInterval {
    let bar = (2.0 / alpha).ln();
    let lower = (0..profile.len())
        .filter(|&k| log_mix_up(profile, k) >= bar)
        .max()
        .map_or(0.0, lattice_ratio);
    let upper = (0..profile.len())
        .filter(|&k| log_mix_down(profile, k) >= bar)
        .min()
        .map(lattice_ratio);
    RatioInterval { lower, upper }
}

/// The ρ that best explains the data so far (maximum of the profile, refined between
/// lattice points by a parabola), or `None` while the profile is flat (no bad events).
pub(crate) fn estimate(profile: &[f64]) -> Option<f64> {
    let (k, &top) = profile
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))?;
    if profile.iter().all(|&l| l == top) {
        return None;
    }
    let shift = match (
        k.checked_sub(1).and_then(|i| profile.get(i)),
        profile.get(k + 1),
    ) {
        (Some(&left), Some(&right)) => {
            let curvature = left - 2.0 * top + right;
            if curvature < 0.0 {
                (0.5 * (left - right) / curvature).clamp(-0.5, 0.5)
            } else {
                0.0
            }
        }
        _ => 0.0,
    };
    Some(((k as f64 + shift - HALF_SPAN as f64) * STEP).exp())
}

/// Expected growth of ln(LR of `alt` against `null`) per canary request if the ratio
/// is `rho`, the primary's bad-event rate `base` and the canary's share `w`.
pub(crate) fn drift_per_request(rho: f64, base: f64, w: f64, alt: f64, null: f64) -> f64 {
    if !(w > 0.0 && w < 1.0 && base > 0.0 && alt > 0.0 && null > 0.0) {
        return 0.0;
    }
    let canary_bad = rho * base;
    let total_bad = base * (rho + (1.0 - w) / w);
    let value = canary_bad * (alt / null).ln()
        - total_bad * (((alt - 1.0) * w).ln_1p() - ((null - 1.0) * w).ln_1p());
    if value.is_finite() { value } else { 0.0 }
}

//! The judge's arithmetic on hand-computed cases, its counter handling, and seeded
//! simulations that check the guarantees (Ville's bound, interval coverage) hold.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Poisson};

use super::explain::{count_words, evidence_words, interval_words, ratio_words, round_two_digits};
use super::*;

fn config(alpha: f64) -> JudgeConfig {
    JudgeConfig::new(alpha, DEFAULT_MARGIN, 0.0).expect("valid config")
}

fn sample(canary: (f64, f64), primary: (f64, f64)) -> Sample {
    Sample::new(
        Counters::new(canary.0, canary.1),
        Counters::new(primary.0, primary.1),
    )
}

/// A judge that has seen one interval with these counts.
fn judged(canary: (f64, f64), primary: (f64, f64), config: &JudgeConfig) -> (JudgeState, Verdict) {
    let mut state = JudgeState::default();
    state.observe(config, Some(sample((0.0, 0.0), (0.0, 0.0))));
    let verdict = state.observe(config, Some(sample(canary, primary)));
    (state, verdict)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[test]
fn log_likelihood_ratio_is_exact_on_a_hand_computed_interval() {
    // 100 of 1000 requests to the canary, 3 of the 10 bad events: at ρ = 2 the ratio
    // is 3·ln 2 − 10·ln 1.1.
    let (state, _) = judged((100.0, 3.0), (900.0, 7.0), &config(0.01));
    let at_two = state.profile[evidence::HALF_SPAN as usize + 8];
    assert!(close(at_two, 1.126_339_743_636_587), "{at_two}");
    // The same ratio straight from the two binomial likelihoods, at every lattice point.
    let theta = |rho: f64| rho * 100.0 / (rho * 100.0 + 900.0);
    for (k, &l) in state.profile.iter().enumerate() {
        let rho = evidence::lattice_ratio(k);
        let direct = 3.0 * (theta(rho) / theta(1.0)).ln()
            + 7.0 * ((1.0 - theta(rho)) / (1.0 - theta(1.0))).ln();
        assert!(close(l, direct), "rho {rho}: {l} vs {direct}");
    }
    assert!(close(
        state.evidence(&config(0.01)).abort,
        2.694_643_123_949_011_6
    ));
}

#[test]
fn mixture_e_values_are_exact_on_hand_computed_cases() {
    // Equal traffic, four bad events all on the canary: the abort e-value is the mean
    // over the grid of (2ρ / (1 + ρ))^4.
    let (state, _) = judged((500.0, 4.0), (500.0, 0.0), &config(0.01));
    assert!(close(
        state.evidence(&config(0.01)).abort,
        4.054_014_026_119_222
    ));
    // Six bad events all on the primary: evidence that the canary is below 1.1×.
    let (state, _) = judged((500.0, 0.0), (500.0, 6.0), &config(0.01));
    assert!(close(
        state.evidence(&config(0.01)).promote,
        11.510_632_824_676_629
    ));
}

#[test]
fn an_interval_with_no_bad_events_leaves_the_evidence_unchanged() {
    let c = config(0.01);
    let (mut state, _) = judged((100.0, 3.0), (900.0, 7.0), &c);
    let before = state.clone();
    state.observe(&c, Some(sample((5_100.0, 3.0), (9_900.0, 7.0))));
    assert_eq!(state.profile, before.profile);
    assert_eq!(state.margin_profile, before.margin_profile);
    assert_eq!(
        (state.log_abort, state.log_promote),
        (before.log_abort, before.log_promote)
    );
    assert_eq!(state.canary.requests, 5_100.0);
}

#[test]
fn a_counter_reset_counts_the_new_value_as_the_increment() {
    assert_eq!(increase(100.0, 130.0), 30.0);
    assert_eq!(increase(100.0, 30.0), 30.0);
    let c = config(0.01);
    let mut state = JudgeState::default();
    state.observe(&c, Some(sample((1_000.0, 10.0), (5_000.0, 50.0))));
    state.observe(&c, Some(sample((40.0, 1.0), (5_600.0, 56.0))));
    assert_eq!(state.canary, Counters::new(40.0, 1.0));
    assert_eq!(state.primary, Counters::new(600.0, 6.0));
}

#[test]
fn a_missing_sample_makes_no_interval_and_the_next_covers_the_gap() {
    let c = config(0.01);
    let mut state = JudgeState::default();
    state.observe(&c, Some(sample((0.0, 0.0), (0.0, 0.0))));
    state.observe(&c, Some(sample((100.0, 1.0), (900.0, 9.0))));
    // Even with no minimum, a look without an interval does not let the canary move on.
    let verdict = state.observe(&c, None);
    assert!(
        matches!(verdict, Verdict::Insufficient { .. }),
        "{verdict:?}"
    );
    assert_eq!(state.last, Some(sample((100.0, 1.0), (900.0, 9.0))));
    state.observe(&c, Some(sample((300.0, 3.0), (2_700.0, 27.0))));
    assert_eq!(state.canary, Counters::new(300.0, 3.0));
    assert_eq!(state.primary, Counters::new(2_700.0, 27.0));
}

#[test]
fn malformed_values_count_as_a_missing_sample() {
    let c = config(0.01);
    for bad in [f64::NAN, f64::INFINITY, -1.0, 1e300, MAX_COUNTER * 2.0] {
        let mut state = JudgeState::default();
        state.observe(&c, Some(sample((0.0, 0.0), (0.0, 0.0))));
        state.observe(&c, Some(sample((bad, 0.0), (10.0, 1.0))));
        state.observe(&c, Some(sample((10.0, 0.0), (10.0, bad))));
        assert_eq!(state.canary, Counters::default(), "{bad}");
        state.observe(&c, Some(sample((20.0, 1.0), (20.0, 2.0))));
        assert_eq!(state.canary, Counters::new(20.0, 1.0), "{bad}");
    }
}

#[test]
fn bad_events_beyond_the_requests_of_an_interval_are_capped() {
    let (state, _) = judged((10.0, 25.0), (0.0, 4.0), &config(0.01));
    assert_eq!(state.canary, Counters::new(10.0, 10.0));
    assert_eq!(state.primary, Counters::new(0.0, 0.0));
    // All traffic on the canary: nothing to compare, so no evidence.
    assert!(state.profile.iter().all(|&l| l == 0.0));
}

#[test]
fn too_few_canary_requests_are_insufficient_until_they_add_up() {
    let c = JudgeConfig::new(0.01, 0.1, 100.0).expect("valid");
    let mut state = JudgeState::default();
    let first = state.observe(&c, Some(sample((0.0, 0.0), (0.0, 0.0))));
    assert!(matches!(first, Verdict::Insufficient { seen: 0.0, .. }));
    let report = state.report(&c);
    assert_eq!(
        explain(&first, &report),
        "insufficient data: no interval between two looks at the counters yet"
    );
    let second = state.observe(&c, Some(sample((60.0, 0.0), (540.0, 1.0))));
    assert!(matches!(
        second,
        Verdict::Insufficient {
            seen: 60.0,
            needed: 100.0,
            ..
        }
    ));
    assert_eq!(
        explain(&second, &state.report(&c)),
        "insufficient traffic: 60 canary requests since the last look that counted, 100 needed"
    );
    let third = state.observe(&c, Some(sample((120.0, 0.0), (1_080.0, 2.0))));
    assert!(matches!(third, Verdict::Continue { .. }), "{third:?}");
    let fourth = state.observe(&c, Some(sample((180.0, 0.0), (1_620.0, 3.0))));
    assert!(matches!(fourth, Verdict::Insufficient { seen: 60.0, .. }));
}

#[test]
fn a_clear_regression_aborts_with_its_numbers_in_words() {
    let c = JudgeConfig::default();
    let (state, verdict) = judged((1_000.0, 40.0), (9_000.0, 90.0), &c);
    assert!(matches!(verdict, Verdict::Abort { .. }), "{verdict:?}");
    let report = state.report(&c);
    let estimate = report.estimate.expect("an estimate");
    assert!((3.6..4.4).contains(&estimate), "{estimate}");
    assert!(report.interval.lower > 1.5 && report.interval.upper.is_some_and(|u| u < 8.0));
    let words = explain(&verdict, &report);
    assert!(
        words.starts_with("canary error rate 4.0× the primary's ("),
        "{words}"
    );
    assert!(words.ends_with("(abort at 100)"), "{words}");
}

#[test]
fn a_healthy_canary_with_much_traffic_is_promoted_early() {
    let c = JudgeConfig::default();
    let (state, verdict) = judged((50_000.0, 400.0), (50_000.0, 520.0), &c);
    assert!(matches!(verdict, Verdict::Promote { .. }), "{verdict:?}");
    let words = explain(&verdict, &state.report(&c));
    assert!(
        words.contains("that it is below 1.10× (promote at 100)"),
        "{words}"
    );
}

#[test]
fn an_undecided_look_says_how_many_more_requests_it_needs() {
    let c = JudgeConfig::default();
    let (state, verdict) = judged((1_000.0, 3.0), (9_000.0, 18.0), &c);
    assert!(matches!(verdict, Verdict::Continue { .. }), "{verdict:?}");
    let words = explain(&verdict, &state.report(&c));
    assert!(words.starts_with("not enough evidence yet: ~"), "{words}");
    assert!(
        words.contains("more canary requests at the current weight"),
        "{words}"
    );
    // No canary errors against a few on the primary: the estimate sits at the lattice's
    // lower end and says so.
    let (state, verdict) = judged((1_000.0, 0.0), (9_000.0, 20.0), &c);
    let words = explain(&verdict, &state.report(&c));
    assert!(
        words.contains("canary error rate at most 0.06× the primary's"),
        "{words}"
    );
    let (state, verdict) = judged((1_000.0, 0.0), (9_000.0, 0.0), &c);
    assert_eq!(
        explain(&verdict, &state.report(&c)),
        "not enough evidence yet: no bad events on either version so far"
    );
}

#[test]
fn interval_words_name_the_bounds_the_data_gave() {
    let words = |lower, upper| interval_words(&RatioInterval { lower, upper }, 0.01);
    assert_eq!(words(1.5, Some(3.0)), "1.50× to 3.0× at 99%");
    assert_eq!(words(1.5, None), "above 1.50× at 99%");
    assert_eq!(words(0.0, Some(1.2)), "below 1.20× at 99%");
    assert_eq!(words(0.0, None), "any ratio still possible at 99%");
}

#[test]
fn words_for_numbers() {
    assert_eq!(count_words(1_800.0), "1,800");
    assert_eq!(count_words(999.0), "999");
    assert_eq!(count_words(1_234_567.0), "1,234,567");
    assert_eq!(round_two_digits(1_834.0), 1_800.0);
    assert_eq!(round_two_digits(7.2), 8.0);
    assert_eq!(ratio_words(2.1), "2.1×");
    assert_eq!(ratio_words(0.97), "0.97×");
    assert_eq!(evidence_words(140.2), "140");
    assert_eq!(evidence_words(4.23), "4.2");
}

#[test]
fn invalid_configurations_are_refused_with_the_reason() {
    assert_eq!(
        JudgeConfig::new(0.0, 0.1, 1.0),
        Err(ConfigError::Alpha(0.0))
    );
    assert!(JudgeConfig::new(f64::NAN, 0.1, 1.0).is_err());
    assert_eq!(
        JudgeConfig::new(0.01, -0.1, 1.0),
        Err(ConfigError::Margin(-0.1))
    );
    assert!(JudgeConfig::new(0.01, 0.1, f64::INFINITY).is_err());
    let err = JudgeConfig::new(0.01, 0.1, -1.0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "minimum requests must be a number of at least 0, got -1"
    );
    assert_eq!(err.category(), "InvalidJudgeConfig");
}

#[test]
fn state_survives_a_round_trip_and_a_damaged_state_is_repaired() {
    let c = JudgeConfig::default();
    let (state, _) = judged((1_000.0, 9.0), (9_000.0, 60.0), &c);
    let json = serde_json::to_string(&state).expect("serializes");
    let back: JudgeState = serde_json::from_str(&json).expect("deserializes");
    // JSON may round the last bit of a float; nothing the judge decides depends on it.
    let drift = back
        .profile
        .iter()
        .zip(&state.profile)
        .map(|(a, b)| (a - b).abs());
    assert!(drift.fold(0.0, f64::max) < 1e-12);
    assert_eq!(
        (back.canary, back.last, back.margin),
        (state.canary, state.last, state.margin)
    );
    let mut damaged = state.clone();
    damaged.profile.truncate(3);
    damaged.pending_requests = f64::NAN;
    damaged.canary.bad = -4.0;
    let verdict = damaged.observe(&c, None);
    assert!(
        matches!(verdict, Verdict::Insufficient { .. }),
        "{verdict:?}"
    );
    assert_eq!(damaged.profile.len(), evidence::LATTICE_LEN);
    assert_eq!(damaged.canary, Counters::default());
}

#[test]
fn changing_the_margin_restarts_only_the_promotion_evidence() {
    let (mut state, _) = judged((1_000.0, 9.0), (9_000.0, 60.0), &JudgeConfig::default());
    let abort = state.log_abort;
    state.observe(&JudgeConfig::new(0.01, 0.2, 100.0).expect("valid"), None);
    assert_eq!(
        (state.margin, state.log_promote, state.log_abort),
        (0.2, 0.0, abort)
    );
}

#[test]
fn no_input_makes_it_panic() {
    let odd = [
        0.0,
        -0.0,
        1.0,
        7.5,
        -3.0,
        1e15,
        1e300,
        f64::NAN,
        f64::INFINITY,
        f64::MIN,
    ];
    let mut rng = SmallRng::seed_from_u64(7);
    let c = JudgeConfig::default();
    let mut state = JudgeState::default();
    for _ in 0..2_000 {
        let mut pick = || odd[rng.random_range(0..odd.len())];
        let s = sample((pick(), pick()), (pick(), pick()));
        let verdict = state.observe(&c, Some(s));
        let _ = explain(&verdict, &state.report(&c));
    }
    assert!(state.profile.iter().all(|l| l.is_finite()));
}

/// One seeded rollout with Poisson counts: 20 looks, the canary's weight rising from
/// 5% to 50%, 2,000 requests a look, primary bad-event rate 2%. Yields the verdict
/// and state after each look.
fn rollout(
    rng: &mut SmallRng,
    rho: f64,
    config: &JudgeConfig,
    mut each: impl FnMut(&Verdict, &JudgeState),
) {
    let (mut canary, mut primary) = (Counters::default(), Counters::default());
    let mut state = JudgeState::default();
    state.observe(config, Some(Sample::new(canary, primary)));
    for look in 0..20 {
        let w = 0.05 + 0.45 * look as f64 / 19.0;
        let draw =
            |rng: &mut SmallRng, mean: f64| Poisson::new(mean).map_or(0.0, |p| p.sample(rng));
        let (n_c, n_p) = (draw(rng, 2_000.0 * w), draw(rng, 2_000.0 * (1.0 - w)));
        canary.requests += n_c;
        canary.bad += draw(rng, n_c * 0.02 * rho).min(n_c);
        primary.requests += n_p;
        primary.bad += draw(rng, n_p * 0.02).min(n_p);
        let verdict = state.observe(config, Some(Sample::new(canary, primary)));
        each(&verdict, &state);
    }
}

/// At most α plus three standard errors of the estimated fraction.
fn within_alpha(hits: usize, runs: usize, alpha: f64) -> bool {
    let se = (alpha * (1.0 - alpha) / runs as f64).sqrt();
    (hits as f64 / runs as f64) <= alpha + 3.0 * se
}

#[test]
fn the_abort_e_process_is_a_supermartingale_under_the_null() {
    let c = config(0.1);
    let runs = 2_000;
    for rho in [1.0, 0.8] {
        let mut rng = SmallRng::seed_from_u64(20_260_101);
        let (mut crossed, mut sums) = (0, [0.0f64; 20]);
        for _ in 0..runs {
            let (mut ever, mut look) = (false, 0);
            rollout(&mut rng, rho, &c, |_, state| {
                ever |= state.log_abort >= c.bar().ln();
                sums[look] += state.log_abort.exp();
                look += 1;
            });
            crossed += usize::from(ever);
        }
        assert!(
            within_alpha(crossed, runs, 0.1),
            "rho {rho}: {crossed} of {runs}"
        );
        // The mean e-value never grows beyond 1 (by more than simulation noise).
        for (look, sum) in sums.iter().enumerate() {
            assert!(
                sum / runs as f64 <= 1.1,
                "rho {rho} look {look}: {}",
                sum / runs as f64
            );
        }
    }
}

#[test]
fn the_promotion_e_process_holds_alpha_at_the_margin() {
    let c = config(0.1);
    let runs = 2_000;
    let mut rng = SmallRng::seed_from_u64(42);
    let mut crossed = 0;
    for _ in 0..runs {
        let mut ever = false;
        rollout(&mut rng, 1.0 + DEFAULT_MARGIN, &c, |_, state| {
            ever |= state.log_promote >= c.bar().ln();
        });
        crossed += usize::from(ever);
    }
    assert!(within_alpha(crossed, runs, 0.1), "{crossed} of {runs}");
}

#[test]
fn the_interval_covers_the_true_ratio_at_every_look() {
    let c = config(0.1);
    let runs = 400;
    let mut rng = SmallRng::seed_from_u64(3);
    let mut missed = 0;
    for _ in 0..runs {
        let mut miss = false;
        rollout(&mut rng, 1.5, &c, |_, state| {
            let interval = state.report(&c).interval;
            miss |= interval.lower >= 1.5 || interval.upper.is_some_and(|u| u <= 1.5);
        });
        missed += usize::from(miss);
    }
    assert!(within_alpha(missed, runs, 0.1), "{missed} of {runs}");
}

#[test]
fn a_doubled_error_rate_is_caught_in_most_rollouts() {
    let c = JudgeConfig::default();
    let mut rng = SmallRng::seed_from_u64(11);
    let mut caught = 0;
    for _ in 0..200 {
        let mut hit = false;
        rollout(&mut rng, 2.0, &c, |v, _| {
            hit |= matches!(v, Verdict::Abort { .. })
        });
        caught += usize::from(hit);
    }
    assert!(caught >= 190, "{caught} of 200");
}

//! Seeded simulation: serin's threshold check against the evidence judge.
//!
//! `cargo bench --bench judge` (size of each scenario: `SERIN_SIM_ROLLOUTS`, default
//! 10,000). No cluster: each rollout is ten one-minute steps with the canary's weight
//! rising 5%, 10%, ... 50%; the traffic follows a daily pattern from a random time of
//! day; request counts are Poisson and bad events binomial per request. Both policies
//! see the same data: the counts of a look depend only on the rollout's seed, the look
//! number and the weight, so while the two policies sit at the same weight they see
//! identical requests and errors. The output is a Markdown table (docs/judge.md).

use std::f64::consts::TAU;
use std::time::Instant;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Binomial, Distribution, Poisson};
use serin::judge::{Counters, JudgeConfig, JudgeState, Sample, Verdict};

/// Canary weights of the ten steps.
const WEIGHTS: [f64; 10] = [0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.45, 0.50];
/// Requests per second to both versions together, averaged over a day.
const MEAN_RPS: f64 = 50.0;
/// The daily pattern: traffic swings ±60% around its mean over 24 hours.
const DAILY_SWING: f64 = 0.6;
/// Flagger's usual check: success rate of the canary at least 99%, five failures roll
/// back; a failed check holds the weight for another look.
const MIN_SUCCESS_PERCENT: f64 = 99.0;
const THRESHOLD: u32 = 5;
/// A rollout that has not finished after this many looks (ten times its ten steps) is
/// counted as stalled.
const MAX_LOOKS: usize = 100;

#[derive(Clone, Copy)]
enum Traffic {
    /// `MEAN_RPS` split by the weight.
    Shared,
    /// The canary receives this many requests per second at every weight.
    CanaryRps(f64),
}

#[derive(Clone, Copy)]
struct Scenario {
    name: &'static str,
    base: f64,
    ratio: f64,
    traffic: Traffic,
}

#[derive(Clone, Copy, Default)]
struct Outcome {
    rolled_back: bool,
    promoted_early: bool,
    stalled: bool,
    looks: usize,
    canary_requests: f64,
}

/// splitmix64: decorrelates the seeds of neighbouring rollouts and looks.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One rollout's world: its seed and the minute of the day it starts at.
struct World {
    seed: u64,
    start_minute: f64,
    scenario: Scenario,
}

impl World {
    fn new(scenario_index: u64, rollout: u64, scenario: Scenario) -> Self {
        let seed = mix(mix(scenario_index) ^ rollout);
        let start_minute = SmallRng::seed_from_u64(seed).random_range(0.0..1440.0);
        Self {
            seed,
            start_minute,
            scenario,
        }
    }

    /// Requests and bad events of both versions during look `look` at step `step`.
    fn counts(&self, look: usize, step: usize) -> (Counters, Counters) {
        let mut rng = SmallRng::seed_from_u64(mix(self.seed ^ mix((look * 64 + step) as u64)));
        let w = WEIGHTS[step];
        let daily = 1.0 + DAILY_SWING * (TAU * (self.start_minute + look as f64) / 1440.0).sin();
        let (canary_mean, primary_mean) = match self.scenario.traffic {
            Traffic::Shared => (
                MEAN_RPS * 60.0 * daily * w,
                MEAN_RPS * 60.0 * daily * (1.0 - w),
            ),
            Traffic::CanaryRps(rps) => (rps * 60.0 * daily, rps * 60.0 * daily * (1.0 - w) / w),
        };
        let n_c = poisson(&mut rng, canary_mean);
        let n_p = poisson(&mut rng, primary_mean);
        let s = &self.scenario;
        let e_c = binomial(&mut rng, n_c, (s.base * s.ratio).min(1.0));
        let e_p = binomial(&mut rng, n_p, s.base);
        (Counters::new(n_c, e_c), Counters::new(n_p, e_p))
    }
}

fn poisson(rng: &mut SmallRng, mean: f64) -> f64 {
    Poisson::new(mean).map_or(0.0, |d| d.sample(rng))
}

fn binomial(rng: &mut SmallRng, n: f64, p: f64) -> f64 {
    Binomial::new(n as u64, p).map_or(0.0, |d| d.sample(rng) as f64)
}

/// Flagger-style: each look checks the canary's success rate over the look; a look
/// without canary requests fails like Flagger's "no values found".
fn threshold_check(world: &World) -> Outcome {
    let (mut step, mut failed) = (0, 0);
    let mut out = Outcome::default();
    while out.looks < MAX_LOOKS {
        let (canary, _) = world.counts(out.looks, step);
        out.looks += 1;
        out.canary_requests += canary.requests;
        let success = 100.0 * (canary.requests - canary.bad) / canary.requests;
        if canary.requests > 0.0 && success >= MIN_SUCCESS_PERCENT {
            step += 1;
            if step == WEIGHTS.len() {
                return out;
            }
        } else {
            failed += 1;
            if failed >= THRESHOLD {
                out.rolled_back = true;
                return out;
            }
        }
    }
    out.stalled = true;
    out
}

/// The judge reads cumulative counters; the primary's start far from zero, as a
/// long-running service's do.
fn judge(world: &World, config: &JudgeConfig) -> Outcome {
    let mut canary = Counters::default();
    let mut primary = Counters::new(1e7, 1e7 * world.scenario.base);
    let mut state = JudgeState::default();
    state.observe(config, Some(Sample::new(canary, primary)));
    let mut step = 0;
    let mut out = Outcome::default();
    while out.looks < MAX_LOOKS {
        let (c, p) = world.counts(out.looks, step);
        out.looks += 1;
        out.canary_requests += c.requests;
        canary = Counters::new(canary.requests + c.requests, canary.bad + c.bad);
        primary = Counters::new(primary.requests + p.requests, primary.bad + p.bad);
        match state.observe(config, Some(Sample::new(canary, primary))) {
            Verdict::Abort { .. } => {
                out.rolled_back = true;
                return out;
            }
            Verdict::Promote { .. } => {
                out.promoted_early = step + 1 < WEIGHTS.len();
                return out;
            }
            Verdict::Insufficient { .. } => {}
            Verdict::Continue { .. } => {
                step += 1;
                if step == WEIGHTS.len() {
                    return out;
                }
            }
        }
    }
    out.stalled = true;
    out
}

/// Rolled back, with a 95% Wilson interval, in percent.
fn rate_with_interval(hits: usize, n: usize) -> String {
    let (n, p) = (n as f64, hits as f64 / n as f64);
    let z: f64 = 1.96;
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z / (1.0 + z * z / n) * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    format!(
        "{:.2}% [{:.2}, {:.2}]",
        100.0 * p,
        100.0 * (centre - half).max(0.0),
        100.0 * (centre + half).min(1.0)
    )
}

fn median(mut values: Vec<f64>) -> String {
    if values.is_empty() {
        return "-".into();
    }
    values.sort_by(f64::total_cmp);
    let m = values[values.len() / 2];
    format!("{m:.0}")
}

fn row(scenario: &Scenario, policy: &str, outcomes: &[Outcome]) -> String {
    let back: Vec<&Outcome> = outcomes.iter().filter(|o| o.rolled_back).collect();
    let count = |f: fn(&Outcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
    let share = |k: usize| format!("{:.1}%", 100.0 * k as f64 / outcomes.len() as f64);
    let finished = outcomes.iter().filter(|o| !o.rolled_back && !o.stalled);
    format!(
        "| {} | {policy} | {} | {} | {} | {} | {} | {} |",
        scenario.name,
        rate_with_interval(back.len(), outcomes.len()),
        median(back.iter().map(|o| o.looks as f64).collect()),
        median(back.iter().map(|o| o.canary_requests).collect()),
        share(count(|o| o.promoted_early)),
        median(finished.map(|o| o.looks as f64).collect()),
        share(count(|o| o.stalled)),
    )
}

fn scenarios() -> Vec<Scenario> {
    let s = |name, base, ratio, traffic| Scenario {
        name,
        base,
        ratio,
        traffic,
    };
    let low = Traffic::CanaryRps(1.0);
    vec![
        s("healthy, base 0.1%", 0.001, 1.0, Traffic::Shared),
        s("healthy, base 1%", 0.01, 1.0, Traffic::Shared),
        s("1.5× at base 0.1%", 0.001, 1.5, Traffic::Shared),
        s("2× at base 0.1%", 0.001, 2.0, Traffic::Shared),
        s("5× at base 0.1%", 0.001, 5.0, Traffic::Shared),
        s("1.5× at base 1%", 0.01, 1.5, Traffic::Shared),
        s("2× at base 1%", 0.01, 2.0, Traffic::Shared),
        s("5× at base 1%", 0.01, 5.0, Traffic::Shared),
        s("low traffic, healthy, base 0.1%", 0.001, 1.0, low),
        s("low traffic, healthy, base 1%", 0.01, 1.0, low),
        s("low traffic, 2× at base 1%", 0.01, 2.0, low),
        s("low traffic, 5× at base 1%", 0.01, 5.0, low),
    ]
}

fn main() {
    // `cargo bench` passes `--bench`; this harness takes no arguments.
    let rollouts: u64 = std::env::var("SERIN_SIM_ROLLOUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(10_000);
    let config = JudgeConfig::default();
    let started = Instant::now();
    println!(
        "judge: alpha {}, margin {}, min requests {}; threshold check: success >= {MIN_SUCCESS_PERCENT}%, threshold {THRESHOLD}",
        config.alpha(),
        config.margin(),
        config.min_requests()
    );
    println!(
        "{rollouts} rollouts per scenario; 10 one-minute steps, weight 5%..50%; {MEAN_RPS} req/s (±{}% daily) or 1 req/s to the canary (low traffic)\n",
        DAILY_SWING * 100.0
    );
    println!(
        "| scenario | policy | rolled back (95% CI) | median looks to rollback | median canary requests to rollback | promoted early | median looks to promote | stalled |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (i, scenario) in scenarios().into_iter().enumerate() {
        let worlds: Vec<World> = (0..rollouts)
            .map(|r| World::new(i as u64, r, scenario))
            .collect();
        let threshold: Vec<Outcome> = worlds.iter().map(threshold_check).collect();
        let judged: Vec<Outcome> = worlds.iter().map(|w| judge(w, &config)).collect();
        println!("{}", row(&scenario, "threshold", &threshold));
        println!("{}", row(&scenario, "judge", &judged));
    }
    println!("\nfinished in {:.1} s", started.elapsed().as_secs_f64());
}

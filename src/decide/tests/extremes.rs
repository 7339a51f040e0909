//! The decision survives any input: times at the ends of chrono's range (status is
//! writable by anyone who can write the Canary), the longest durations, and integers at
//! the ends of their range. It may refuse or wait, but it never panics.

use super::*;

const PHASES: [Phase; 11] = [
    Phase::Initializing,
    Phase::Initialized,
    Phase::Waiting,
    Phase::Progressing,
    Phase::WaitingPromotion,
    Phase::Promoting,
    Phase::Finalising,
    Phase::Succeeded,
    Phase::Failed,
    Phase::Terminating,
    Phase::Terminated,
];

fn times() -> [DateTime<Utc>; 3] {
    [DateTime::<Utc>::MIN_UTC, t(0), DateTime::<Utc>::MAX_UTC]
}

fn workloads() -> [Option<Workload>; 4] {
    [
        None,
        Some(ready("v2")),
        Some(rolling("v2")),
        Some(Workload {
            rollout: Rollout::Failed("ProgressDeadlineExceeded".into()),
            ..scaled_down("v1")
        }),
    ]
}

fn all_settings() -> Vec<Settings> {
    let mut out = Vec::new();
    for interval in [Duration::ZERO, Duration::from_secs(86_400), Duration::MAX] {
        for progress_deadline in [Duration::from_secs(1), Duration::MAX] {
            for promotion_step in [0, 1, i32::MAX] {
                out.push(Settings {
                    interval,
                    progress_deadline,
                    promotion_step,
                    threshold: i32::MAX,
                    ..settings()
                });
            }
        }
    }
    out
}

fn statuses() -> Vec<CanaryStatus> {
    let mut out = Vec::new();
    for phase in PHASES {
        for at in times() {
            for weight in [i32::MIN, -1, 0, 50, 101, i32::MAX] {
                out.push(CanaryStatus {
                    phase: Some(phase),
                    canary_weight: weight,
                    failed_checks: i32::MAX,
                    iterations: i32::MAX,
                    step_started_at: Some(at),
                    run_started_at: Some(at),
                    waiting_since: Some(at),
                    last_transition_time: Some(at),
                    ..Default::default()
                });
            }
        }
    }
    out
}

#[test]
fn the_decision_never_panics_on_extreme_inputs() {
    let checks = [
        None,
        Some(vec![check(Verdict::Pass, Some(100.0))]),
        Some(vec![check(Verdict::Fail, Some(f64::MIN))]),
    ];
    let mut decided = 0u32;
    for settings in all_settings() {
        let settings = Ok(settings);
        for status in statuses() {
            for now in times() {
                for target in workloads() {
                    for primary in [None, Some(ready("v1"))] {
                        for metrics in &checks {
                            let obs = Observation {
                                target: target.clone(),
                                primary: primary.clone(),
                                inputs: Inputs {
                                    metrics: metrics.clone(),
                                    ..Default::default()
                                },
                                ..Default::default()
                            };
                            let d = decide(&who(), &settings, &[], false, &status, &obs, now);
                            if let Some(plan) = &d.plan {
                                let _ = format!("{plan:?}");
                            }
                            decided += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(decided > 10_000, "{decided} decisions");
}

#[test]
fn a_step_due_beyond_the_end_of_time_waits_instead_of_panicking() {
    let mut c = Canary::progressing().with(|s| s.interval = Duration::MAX);
    let d = c.step(Some(ready("v2")), Some(ready("v1")), None, t(70));
    assert_eq!(d.next, Next::At(DateTime::<Utc>::MAX_UTC));
    assert_eq!(c.status.canary_weight, 10, "nothing advanced");
}

//! Past rollouts read off serin's own weight history, and the looks of each step. Pure:
//! the series comes in as (time, weight) points, already fetched.
//!
//! A rollout is a period where the canary's weight goes above 0 and back to 0; each
//! change of weight inside it starts a step. serin checks a step every analysis interval
//! and moves on once the checks pass, so a step held by failing checks lasts several
//! intervals: [`looks`] replays one check per interval, then one at the step's end.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

/// One point of the weight series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub at: DateTime<Utc>,
    pub weight: f64,
}

/// How a rollout's weight history ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum End {
    /// The weight went back to 0 (promoted or rolled back).
    Finished,
    /// The series stopped (serin not scraped, or stopped) while the weight was above 0.
    Gap,
    /// The weight is still above 0 at the end of the searched range.
    InProgress,
}

/// A span of constant canary weight inside a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Step {
    /// The canary's weight, or `None` for an explicit time range (weight unknown).
    pub weight: Option<f64>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// One past rollout: its steps in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rollout {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub ended: End,
    pub steps: Vec<Step>,
}

/// The rollouts in a weight series sorted by time. `max_gap` is the longest silence
/// (missing points) a rollout survives: beyond it the rollout is cut where the points
/// stopped, and marked [`End::Gap`].
pub fn find(series: &[Point], max_gap: Duration) -> Vec<Rollout> {
    let max_gap = TimeDelta::from_std(max_gap).unwrap_or(TimeDelta::MAX);
    let mut out = Vec::new();
    let mut current: Option<Rollout> = None;
    let mut last_at: Option<DateTime<Utc>> = None;
    for p in series.iter().filter(|p| p.weight.is_finite()) {
        if let (Some(r), Some(prev)) = (current.as_mut(), last_at)
            && p.at - prev > max_gap
        {
            close(r, prev, End::Gap);
            out.extend(current.take());
        }
        last_at = Some(p.at);
        match current.as_mut() {
            None if p.weight > 0.0 => current = Some(open(p)),
            None => {}
            Some(r) if p.weight <= 0.0 => {
                close(r, p.at, End::Finished);
                out.extend(current.take());
            }
            Some(r) => {
                let step = r.steps.last_mut();
                match step {
                    Some(s) if s.weight == Some(p.weight) => s.end = p.at,
                    Some(s) => {
                        s.end = p.at;
                        r.steps.push(Step {
                            weight: Some(p.weight),
                            start: p.at,
                            end: p.at,
                        });
                    }
                    None => r.steps.push(open(p).steps[0]),
                }
                r.end = p.at;
            }
        }
    }
    if let Some(mut r) = current {
        let end = r.end;
        close(&mut r, end, End::InProgress);
        out.push(r);
    }
    out
}

fn open(p: &Point) -> Rollout {
    Rollout {
        start: p.at,
        end: p.at,
        ended: End::InProgress,
        steps: vec![Step {
            weight: Some(p.weight),
            start: p.at,
            end: p.at,
        }],
    }
}

/// Ends the rollout (and its last step) at `at`.
fn close(r: &mut Rollout, at: DateTime<Utc>, how: End) {
    r.end = at;
    r.ended = how;
    if let Some(s) = r.steps.last_mut() {
        s.end = at;
    }
}

/// A rollout over an explicit time range: one step per `interval` (the last one may be
/// shorter), weights unknown.
pub fn from_range(start: DateTime<Utc>, end: DateTime<Utc>, interval: Duration) -> Rollout {
    let interval = TimeDelta::from_std(interval)
        .ok()
        .filter(|i| *i > TimeDelta::zero())
        .unwrap_or(TimeDelta::MAX);
    let mut steps = Vec::new();
    let mut at = start;
    while at < end {
        let next = at.checked_add_signed(interval).unwrap_or(end).min(end);
        steps.push(Step {
            weight: None,
            start: at,
            end: next,
        });
        at = next;
    }
    Rollout {
        start,
        end,
        ended: End::Finished,
        steps,
    }
}

/// When serin would have checked this step: every `interval` after its start, and at its
/// end (a check closer than half an interval to the end is folded into the end's).
pub fn looks(step: &Step, interval: Duration) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    if let Ok(interval) = TimeDelta::from_std(interval)
        && interval > TimeDelta::zero()
    {
        let half = interval / 2;
        let mut at = step.start;
        while let Some(next) = at.checked_add_signed(interval) {
            if next.checked_add_signed(half).is_none_or(|n| n > step.end) {
                break;
            }
            out.push(next);
            at = next;
        }
    }
    out.push(step.end);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn series(points: &[(i64, f64)]) -> Vec<Point> {
        points
            .iter()
            .map(|&(s, weight)| Point { at: t(s), weight })
            .collect()
    }

    const GAP: Duration = Duration::from_secs(30);

    #[test]
    fn each_excursion_above_zero_is_one_rollout_and_each_weight_change_a_step() {
        let s = series(&[
            (0, 0.0),
            (10, 20.0),
            (20, 20.0),
            (30, 40.0),
            (40, 60.0),
            (50, 0.0),
            (60, 0.0),
            (70, 20.0),
            (80, 0.0),
        ]);
        let found = find(&s, GAP);
        assert_eq!(found.len(), 2);
        let first = &found[0];
        assert_eq!(
            (first.start, first.end, first.ended),
            (t(10), t(50), End::Finished)
        );
        let steps: Vec<_> = first
            .steps
            .iter()
            .map(|s| (s.weight, s.start, s.end))
            .collect();
        assert_eq!(
            steps,
            vec![
                (Some(20.0), t(10), t(30)),
                (Some(40.0), t(30), t(40)),
                (Some(60.0), t(40), t(50)),
            ]
        );
        assert_eq!(found[1].steps.len(), 1);
        assert_eq!((found[1].start, found[1].end), (t(70), t(80)));
    }

    #[test]
    fn no_weight_above_zero_is_no_rollout() {
        assert!(find(&series(&[(0, 0.0), (10, 0.0)]), GAP).is_empty());
        assert!(find(&[], GAP).is_empty());
    }

    #[test]
    fn a_rollout_still_running_at_the_end_is_in_progress() {
        let found = find(&series(&[(0, 0.0), (10, 20.0), (20, 40.0)]), GAP);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].ended, End::InProgress);
        assert_eq!(found[0].end, t(20));
        assert_eq!(found[0].steps.last().map(|s| s.end), Some(t(20)));
    }

    #[test]
    fn a_long_silence_cuts_the_rollout_where_the_points_stopped() {
        let found = find(
            &series(&[(0, 20.0), (10, 20.0), (100, 40.0), (110, 0.0)]),
            GAP,
        );
        assert_eq!(found.len(), 2);
        assert_eq!((found[0].end, found[0].ended), (t(10), End::Gap));
        assert_eq!(found[1].start, t(100));
        assert_eq!(found[1].ended, End::Finished);
    }

    #[test]
    fn not_a_number_points_are_skipped() {
        let found = find(
            &series(&[(0, f64::NAN), (10, 20.0), (20, f64::NAN), (30, 0.0)]),
            GAP,
        );
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].start, found[0].end), (t(10), t(30)));
    }

    #[test]
    fn a_held_step_is_checked_every_interval_then_at_its_end() {
        let step = Step {
            weight: Some(20.0),
            start: t(0),
            end: t(31),
        };
        let ten = Duration::from_secs(10);
        assert_eq!(looks(&step, ten), vec![t(10), t(20), t(31)]);
        let short = Step { end: t(12), ..step };
        assert_eq!(looks(&short, ten), vec![t(12)]);
        assert_eq!(looks(&step, Duration::ZERO), vec![t(31)]);
    }

    #[test]
    fn a_range_is_cut_into_interval_steps() {
        let r = from_range(t(0), t(25), Duration::from_secs(10));
        let ends: Vec<_> = r.steps.iter().map(|s| (s.start, s.end)).collect();
        assert_eq!(ends, vec![(t(0), t(10)), (t(10), t(20)), (t(20), t(25))]);
        assert!(
            from_range(t(10), t(0), Duration::from_secs(10))
                .steps
                .is_empty()
        );
    }
}

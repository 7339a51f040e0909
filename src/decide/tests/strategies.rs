//! A/B testing and blue/green: iteration counting, the split of each step, promotion,
//! rollback, and a restart that resumes the iteration under way.

use super::*;
use crate::decide::strategy::Mirror;

fn ab() -> StrategyKind {
    StrategyKind::AbTesting {
        iterations: 3,
        matches: serde_json::json!([{"headers": {"x-canary": {"exact": "insider"}}}]),
    }
}

fn blue_green(mirror: Option<i32>) -> StrategyKind {
    StrategyKind::BlueGreen {
        iterations: 3,
        mirror,
    }
}

/// A canary with `kind`, initialised on "v1", whose analysis of "v2" began at t(10).
fn started(kind: StrategyKind) -> Canary {
    let mut c = Canary::initialized();
    c.settings.kind = kind;
    c.step(Some(scaled_down("v2")), Some(ready("v1")), None, t(5));
    let d = c.step(Some(ready("v2")), Some(ready("v1")), None, t(10));
    assert_eq!(
        Canary::messages(&d),
        vec!["Starting canary analysis for podinfo.test"]
    );
    assert_eq!((c.status.iterations, c.status.canary_weight), (1, 0));
    c
}

fn pass() -> Option<Vec<Measurement>> {
    Some(vec![check(Verdict::Pass, Some(100.0))])
}

fn fail() -> Option<Vec<Measurement>> {
    Some(vec![check(Verdict::Fail, Some(50.0))])
}

#[test]
fn ab_testing_routes_matched_traffic_for_each_iteration_then_promotes() {
    let mut c = started(ab());
    let d = c.step(Some(ready("v2")), Some(ready("v1")), None, t(10));
    let split = d.plan.unwrap().split;
    assert_eq!(
        (split.primary, split.canary),
        (100, 0),
        "unmatched traffic stays"
    );
    assert!(
        split.matches.is_some(),
        "matched traffic goes to the canary"
    );
    let d = c.step(Some(ready("v2")), Some(ready("v1")), pass(), t(70));
    assert_eq!(
        Canary::messages(&d),
        vec!["Advance podinfo.test canary iteration 1/3"]
    );
    assert_eq!(c.status.iterations, 2);
    c.step(Some(ready("v2")), Some(ready("v1")), pass(), t(130));
    assert_eq!(c.status.iterations, 3);
    let d = c.step(Some(ready("v2")), Some(ready("v1")), pass(), t(190));
    assert_eq!(c.status.phase(), Phase::Promoting);
    assert!(
        d.plan.unwrap().split.matches.is_some(),
        "until the primary runs v2"
    );
    assert_eq!(c.status.canary_weight, 0);
}

#[test]
fn ab_testing_sends_nothing_to_a_canary_that_cannot_serve() {
    let mut c = started(ab());
    let d = c.step(Some(rolling("v2")), Some(ready("v1")), None, t(20));
    assert!(d.plan.unwrap().split.matches.is_none());
}

#[test]
fn failed_iterations_roll_back_at_the_threshold_and_end_the_matches() {
    let mut c = started(ab());
    c.step(Some(ready("v2")), Some(ready("v1")), fail(), t(70));
    assert_eq!(
        (c.status.iterations, c.status.failed_checks),
        (1, 1),
        "held"
    );
    let d = c.step(Some(ready("v2")), Some(ready("v1")), fail(), t(130));
    assert_eq!(c.status.phase(), Phase::Failed);
    assert_eq!(c.status.iterations, 0);
    assert!(d.plan.unwrap().split.matches.is_none());
}

#[test]
fn blue_green_keeps_users_off_the_canary_then_switches_all_at_once() {
    let mut c = started(blue_green(None));
    for (i, at) in [(2, 70), (3, 130)] {
        let d = c.step(Some(ready("v2")), Some(ready("v1")), pass(), t(at));
        assert_eq!(c.status.iterations, i);
        let split = d.plan.unwrap().split;
        assert_eq!((split.primary, split.canary), (100, 0));
        assert_eq!(split.mirror, None);
    }
    let d = c.step(Some(ready("v2")), Some(ready("v1")), pass(), t(190));
    assert_eq!(
        Canary::messages(&d),
        vec![
            "Routing all traffic to canary",
            "Copying podinfo.test template spec to podinfo-primary.test"
        ]
    );
    assert_eq!(c.status.phase(), Phase::Promoting);
    let split = d.plan.unwrap().split;
    assert_eq!((split.primary, split.canary), (0, 100));
    let d = c.step(Some(ready("v2")), Some(ready("v2")), None, t(200));
    assert_eq!(c.status.phase(), Phase::Finalising);
    assert_eq!(
        d.plan.unwrap().split.canary,
        0,
        "back to the promoted primary"
    );
}

#[test]
fn blue_green_mirrors_during_the_iterations_only() {
    let mut c = started(blue_green(Some(50)));
    let d = c.step(Some(ready("v2")), Some(ready("v1")), None, t(20));
    assert_eq!(d.plan.unwrap().split.mirror, Some(Mirror { percent: 50 }));
    c.step(Some(ready("v2")), Some(ready("v1")), pass(), t(70));
    c.step(Some(ready("v2")), Some(ready("v1")), pass(), t(130));
    let d = c.step(Some(ready("v2")), Some(ready("v1")), pass(), t(190));
    assert_eq!(
        d.plan.unwrap().split.mirror,
        None,
        "no mirror once switched"
    );
}

#[test]
fn a_restart_mid_iteration_resumes_it_without_repeating() {
    let mut c = started(blue_green(None));
    c.step(Some(ready("v2")), Some(ready("v1")), pass(), t(70));
    assert_eq!(c.status.iterations, 2);
    // A new serin process reads the recorded status and decides again: nothing is due
    // before the iteration's interval, and no event is repeated.
    let recorded = c.status.clone();
    let d = c.step(Some(ready("v2")), Some(ready("v1")), None, t(100));
    assert_eq!(d.status, recorded);
    assert!(d.events.is_empty());
    assert_eq!(d.next, Next::At(t(130)));
    c.step(Some(ready("v2")), Some(ready("v1")), pass(), t(130));
    assert_eq!(
        c.status.iterations, 3,
        "the next iteration, not the same again"
    );
}

#[test]
fn a_new_revision_restarts_the_iterations() {
    let mut c = started(ab());
    c.step(Some(ready("v2")), Some(ready("v1")), pass(), t(70));
    c.step(Some(ready("v3")), Some(ready("v1")), None, t(80));
    assert_eq!(c.status.iterations, 0);
    assert_eq!(c.status.phase(), Phase::Progressing);
}

#[test]
fn session_affinity_gives_a_run_its_cookie_and_expires_it_after() {
    let mut c = Canary::initialized();
    c.settings.affinity = Some(crate::api::SessionAffinity {
        cookie_name: "canary".into(),
        max_age: Some(600),
        ..Default::default()
    });
    c.step(Some(scaled_down("v2")), Some(ready("v1")), None, t(5));
    let d = c.step(Some(ready("v2")), Some(ready("v1")), None, t(10));
    assert_eq!(
        c.status.session_affinity_cookie.as_deref(),
        Some("canary=v2")
    );
    let affinity = d.plan.unwrap().split.session_affinity.unwrap();
    assert_eq!(affinity.canary_cookie.as_deref(), Some("canary=v2"));
    assert_eq!(affinity.max_age_seconds, 600);
    for at in [70, 130, 190] {
        c.step(Some(ready("v2")), Some(ready("v1")), pass(), t(at));
    }
    assert_eq!(c.status.phase(), Phase::Promoting);
    c.step(Some(ready("v2")), Some(ready("v2")), None, t(200));
    let d = c.step(Some(scaled_down("v2")), Some(ready("v2")), None, t(210));
    assert_eq!(c.status.phase(), Phase::Succeeded);
    assert_eq!(c.status.session_affinity_cookie, None);
    assert_eq!(
        c.status.previous_session_affinity_cookie.as_deref(),
        Some("canary=v2")
    );
    let affinity = d.plan.unwrap().split.session_affinity.unwrap();
    assert_eq!(affinity.canary_cookie, None);
    assert_eq!(affinity.expired_cookie.as_deref(), Some("canary=v2"));
}

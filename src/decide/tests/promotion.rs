//! Promotion: the whole way, by steps, skipped analysis, and when it fails.

use super::*;

#[test]
fn the_whole_promotion() {
    let mut c = Canary::progressing();
    let pass = || Some(vec![check(Verdict::Pass, Some(100.0))]);
    c.step(Some(ready("v2")), Some(ready("v1")), pass(), t(70));
    c.step(Some(ready("v2")), Some(ready("v1")), pass(), t(130));
    assert_eq!(c.status.canary_weight, 30);
    let d = c.step(Some(ready("v2")), Some(ready("v1")), pass(), t(190));
    assert_eq!(d.status.phase(), Phase::Promoting);
    assert_eq!(
        Canary::messages(&d),
        vec!["Copying podinfo.test template spec to podinfo-primary.test"]
    );
    assert_eq!(
        d.status.canary_weight, 30,
        "the canary keeps its share while the primary rolls out"
    );
    let d = c.step(Some(ready("v2")), Some(rolling("v2")), None, t(195));
    assert_eq!(d.status.phase(), Phase::Promoting);
    let d = c.step(Some(ready("v2")), Some(ready("v2")), None, t(200));
    assert_eq!(d.status.phase(), Phase::Finalising);
    assert_eq!(d.status.canary_weight, 0);
    assert_eq!(Canary::messages(&d), vec!["Routing all traffic to primary"]);
    let d = c.step(Some(ready("v2")), Some(ready("v2")), None, t(201));
    assert_eq!(
        d.status.phase(),
        Phase::Finalising,
        "waits for the scale-down"
    );
    let d = c.step(Some(scaled_down("v2")), Some(ready("v2")), None, t(202));
    assert_eq!(d.status.phase(), Phase::Succeeded);
    assert_eq!(d.status.last_promoted_spec.as_deref(), Some("v2"));
    assert_eq!(
        Canary::messages(&d),
        vec!["Promotion completed! Scaling down podinfo.test"]
    );
    assert_eq!(
        d.status.condition(conditions::PROMOTED).unwrap().status,
        "True"
    );
}

#[test]
fn skip_analysis_promotes_as_soon_as_the_canary_is_ready() {
    let mut c = Canary::initialized().with(|s| s.skip_analysis = true);
    c.step(Some(scaled_down("v2")), Some(ready("v1")), None, t(5));
    let d = c.step(Some(ready("v2")), Some(ready("v1")), None, t(6));
    assert_eq!(d.status.phase(), Phase::Promoting);
    c.step(Some(ready("v2")), Some(ready("v2")), None, t(7));
    let d = c.step(Some(scaled_down("v2")), Some(ready("v2")), None, t(8));
    assert_eq!(
        Canary::messages(&d),
        vec!["Promotion completed! Canary analysis was skipped for podinfo.test"]
    );
}

#[test]
fn a_failed_promotion_leaves_traffic_on_the_healthy_canary() {
    let mut c = Canary::progressing().with(|s| s.steps = vec![10]);
    c.step(
        Some(ready("v2")),
        Some(ready("v1")),
        Some(vec![check(Verdict::Pass, Some(100.0))]),
        t(70),
    );
    assert_eq!(c.status.phase(), Phase::Promoting);
    c.step(Some(ready("v2")), Some(rolling("v2")), None, t(80));
    let d = c.step(Some(ready("v2")), Some(rolling("v2")), None, t(70 + 600));
    assert_eq!(d.status.phase(), Phase::Failed);
    assert_eq!(d.status.canary_weight, 100);
    assert!(
        d.events[0]
            .message
            .starts_with("Promotion of podinfo.test failed, primary not ready")
    );
}

#[test]
fn a_target_change_before_the_copy_restarts_instead_of_promoting_it() {
    let mut c = Canary::progressing().with(|s| s.steps = vec![10]);
    c.step(
        Some(ready("v2")),
        Some(ready("v1")),
        Some(vec![check(Verdict::Pass, Some(100.0))]),
        t(70),
    );
    let d = c.step(Some(rolling("v3")), Some(ready("v1")), None, t(71));
    assert_eq!(d.status.phase(), Phase::Progressing);
    assert_eq!(d.status.last_applied_spec.as_deref(), Some("v3"));
}

#[test]
fn step_weight_promotion_moves_traffic_back_by_steps() {
    let mut c = Canary::progressing().with(|s| {
        s.steps = vec![10, 50];
        s.promotion_step = 20;
    });
    let pass = || Some(vec![check(Verdict::Pass, Some(100.0))]);
    c.step(Some(ready("v2")), Some(ready("v1")), pass(), t(70));
    c.step(Some(ready("v2")), Some(ready("v1")), pass(), t(130));
    assert_eq!(c.status.phase(), Phase::Promoting);
    // The primary is ready at t(140): the first shift comes one interval later.
    let d = c.step(Some(ready("v2")), Some(ready("v2")), None, t(140));
    assert_eq!(
        (d.status.canary_weight, d.next.clone()),
        (50, Next::At(t(200)))
    );
    let d = c.step(Some(ready("v2")), Some(ready("v2")), None, t(200));
    assert_eq!(
        (d.status.canary_weight, Canary::messages(&d)),
        (30, vec!["Advance podinfo.test primary weight 70"])
    );
    c.step(Some(ready("v2")), Some(ready("v2")), None, t(260));
    let d = c.step(Some(ready("v2")), Some(ready("v2")), None, t(320));
    assert_eq!(
        (d.status.canary_weight, d.status.phase()),
        (0, Phase::Finalising)
    );
}

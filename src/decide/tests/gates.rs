//! Webhooks and gates in the decision: each hook type, open and closed, and what a
//! restart remembers of them.

use super::*;
use crate::api::{CanaryWebhook, HookType};

fn hook(name: &str, type_: HookType) -> CanaryWebhook {
    CanaryWebhook {
        name: name.into(),
        type_,
        url: "http://flagger-loadtester.test/gate/check".into(),
        ..Default::default()
    }
}

fn answer(name: &str, type_: HookType, passed: bool, at: DateTime<Utc>) -> HookCall {
    HookCall {
        name: name.into(),
        type_,
        passed,
        message: if passed {
            "HTTP 200".into()
        } else {
            "HTTP 403: Forbidden".into()
        },
        at,
    }
}

fn hooks(calls: Vec<HookCall>) -> Inputs {
    Inputs {
        metrics: None,
        hooks: Some(calls),
    }
}

fn step_inputs(pass: bool, calls: Vec<HookCall>) -> Inputs {
    let verdict = if pass { Verdict::Pass } else { Verdict::Fail };
    Inputs {
        metrics: Some(vec![check(verdict, Some(if pass { 100.0 } else { 50.0 }))]),
        hooks: Some(calls),
    }
}

fn with_hooks(list: Vec<CanaryWebhook>) -> Canary {
    let mut c = Canary::initialized();
    c.settings.webhooks = list;
    c
}

#[test]
fn confirm_rollout_closed_waits_and_a_restart_remembers_the_open_gate() {
    let mut c = with_hooks(vec![hook("approve", HookType::ConfirmRollout)]);
    let d = c.step(Some(scaled_down("v2")), Some(ready("v1")), None, t(5));
    assert_eq!(
        d.next,
        Next::Gather(Request::hooks(&[HookType::ConfirmRollout]))
    );
    let closed = hooks(vec![answer(
        "approve",
        HookType::ConfirmRollout,
        false,
        t(5),
    )]);
    let d = c.step_with(Some(scaled_down("v2")), Some(ready("v1")), closed, t(5));
    assert_eq!(d.status.phase(), Phase::Waiting);
    let cond = d.status.condition(conditions::PROMOTED).unwrap();
    assert_eq!(cond.message, "Canary is waiting for approval");
    assert_eq!(d.next, Next::At(t(65)));
    assert_eq!(
        d.status.last_applied_spec.as_deref(),
        Some("v1"),
        "not started"
    );
    // A restart within the interval does not call the gate again.
    let d = c.step(Some(scaled_down("v2")), Some(ready("v1")), None, t(30));
    assert_eq!(d.next, Next::At(t(65)));
    let d = c.step(Some(scaled_down("v2")), Some(ready("v1")), None, t(65));
    assert!(matches!(d.next, Next::Gather(_)));
    let open = hooks(vec![answer(
        "approve",
        HookType::ConfirmRollout,
        true,
        t(65),
    )]);
    let d = c.step_with(Some(scaled_down("v2")), Some(ready("v1")), open, t(65));
    assert_eq!(d.status.phase(), Phase::Progressing);
    assert_eq!(d.status.last_applied_spec.as_deref(), Some("v2"));
    assert!(d.status.webhooks[0].passed, "the opened gate is recorded");
}

#[test]
fn pre_rollout_runs_once_per_revision_and_its_failure_is_a_failed_check() {
    let mut c = with_hooks(vec![hook("smoke", HookType::PreRollout)]);
    c.step(Some(scaled_down("v2")), Some(ready("v1")), None, t(5));
    let d = c.step(Some(ready("v2")), Some(ready("v1")), None, t(10));
    assert_eq!(
        d.next,
        Next::Gather(Request::hooks(&[HookType::PreRollout]))
    );
    let failed = hooks(vec![HookCall {
        message: "HTTP 500: smoke test failed".into(),
        ..answer("smoke", HookType::PreRollout, false, t(10))
    }]);
    let d = c.step_with(Some(ready("v2")), Some(ready("v1")), failed, t(10));
    assert_eq!(d.status.failed_checks, 1);
    assert_eq!(
        d.status.canary_weight, 0,
        "no traffic before pre-rollout passes"
    );
    assert!(
        Canary::messages(&d)[0]
            .contains("pre-rollout hook smoke failed: HTTP 500: smoke test failed")
    );
    assert_eq!(d.next, Next::At(t(70)));
    let passed = hooks(vec![answer("smoke", HookType::PreRollout, true, t(70))]);
    let d = c.step_with(Some(ready("v2")), Some(ready("v1")), passed, t(70));
    assert_eq!(d.status.canary_weight, 10);
    // Passed for v2: a restarted serin does not call it again for this revision.
    let mut again = Canary {
        settings: c.settings.clone(),
        status: d.status.clone(),
        suspended: false,
        route_not_accepted: None,
    };
    again.status.canary_weight = 0;
    let d = again.step(Some(ready("v2")), Some(ready("v1")), None, t(71));
    assert_eq!(d.status.canary_weight, 10, "no second pre-rollout call");
}

#[test]
fn pre_rollout_failures_roll_back_at_the_threshold() {
    let mut c = with_hooks(vec![hook("smoke", HookType::PreRollout)]);
    c.step(Some(scaled_down("v2")), Some(ready("v1")), None, t(5));
    for at in [10, 70] {
        let failed = hooks(vec![answer("smoke", HookType::PreRollout, false, t(at))]);
        c.step_with(Some(ready("v2")), Some(ready("v1")), failed, t(at));
    }
    assert_eq!(c.status.phase(), Phase::Failed);
}

#[test]
fn a_step_asks_for_rollout_rollback_and_traffic_gates_and_a_failing_rollout_hook_fails_the_check() {
    let mut c = Canary::progressing();
    c.settings.webhooks = vec![
        hook("load", HookType::Rollout),
        hook("stop", HookType::Rollback),
        hook("more", HookType::ConfirmTrafficIncrease),
    ];
    let d = c.step(Some(ready("v2")), Some(ready("v1")), None, t(70));
    let Next::Gather(req) = d.next else {
        panic!("expected a gather, got {:?}", d.next)
    };
    assert!(req.metrics);
    for t_ in [
        HookType::Rollout,
        HookType::Rollback,
        HookType::ConfirmTrafficIncrease,
    ] {
        assert!(req.hooks.contains(t_), "{t_:?}");
    }
    assert!(!req.hooks.contains(HookType::ConfirmPromotion));
    let inputs = step_inputs(
        true,
        vec![
            answer("load", HookType::Rollout, false, t(70)),
            answer("stop", HookType::Rollback, false, t(70)),
            answer("more", HookType::ConfirmTrafficIncrease, true, t(70)),
        ],
    );
    let d = c.step_with(Some(ready("v2")), Some(ready("v1")), inputs, t(70));
    assert_eq!(d.status.failed_checks, 1);
    assert_eq!(d.status.canary_weight, 10);
    assert!(
        Canary::messages(&d)
            .iter()
            .any(|m| m.contains("rollout hook load failed"))
    );
}

#[test]
fn confirm_traffic_increase_closed_holds_the_weight_then_opens_an_interval_later() {
    let mut c = Canary::progressing();
    c.settings.webhooks = vec![hook("more", HookType::ConfirmTrafficIncrease)];
    let closed = step_inputs(
        true,
        vec![answer(
            "more",
            HookType::ConfirmTrafficIncrease,
            false,
            t(70),
        )],
    );
    let d = c.step_with(Some(ready("v2")), Some(ready("v1")), closed, t(70));
    assert_eq!(d.status.canary_weight, 10);
    assert_eq!(d.status.phase(), Phase::Progressing);
    assert_eq!(d.next, Next::At(t(130)));
    assert!(Canary::messages(&d)[0].contains("waiting for traffic increase approval"));
    let open = step_inputs(
        true,
        vec![answer(
            "more",
            HookType::ConfirmTrafficIncrease,
            true,
            t(130),
        )],
    );
    let d = c.step_with(Some(ready("v2")), Some(ready("v1")), open, t(130));
    assert_eq!(d.status.canary_weight, 20);
}

#[test]
fn confirm_promotion_closed_waits_while_metrics_still_run() {
    let mut c = Canary::progressing();
    c.settings.steps = vec![10];
    c.settings.webhooks = vec![hook("promote", HookType::ConfirmPromotion)];
    let closed = |at| {
        step_inputs(
            true,
            vec![answer("promote", HookType::ConfirmPromotion, false, t(at))],
        )
    };
    let d = c.step_with(Some(ready("v2")), Some(ready("v1")), closed(70), t(70));
    assert_eq!(d.status.phase(), Phase::WaitingPromotion);
    assert_eq!(d.status.canary_weight, 10);
    // Still waiting: the next look measures the metrics again, and a failure counts.
    let d = c.step(Some(ready("v2")), Some(ready("v1")), None, t(130));
    let Next::Gather(req) = d.next else {
        panic!("expected a gather")
    };
    assert!(req.metrics && req.hooks.contains(HookType::ConfirmPromotion));
    let failing = Inputs {
        metrics: Some(vec![check(Verdict::Fail, Some(50.0))]),
        hooks: Some(vec![answer(
            "promote",
            HookType::ConfirmPromotion,
            false,
            t(130),
        )]),
    };
    let d = c.step_with(Some(ready("v2")), Some(ready("v1")), failing, t(130));
    assert_eq!(d.status.failed_checks, 1);
    let open = step_inputs(
        true,
        vec![answer("promote", HookType::ConfirmPromotion, true, t(190))],
    );
    let d = c.step_with(Some(ready("v2")), Some(ready("v1")), open, t(190));
    assert_eq!(d.status.phase(), Phase::Promoting);
}

#[test]
fn an_answered_rollback_hook_rolls_back_at_once() {
    let mut c = Canary::progressing();
    c.settings.webhooks = vec![hook("stop", HookType::Rollback)];
    let inputs = step_inputs(true, vec![answer("stop", HookType::Rollback, true, t(70))]);
    let d = c.step_with(Some(ready("v2")), Some(ready("v1")), inputs, t(70));
    assert_eq!(d.status.phase(), Phase::Failed);
    assert_eq!(
        Canary::messages(&d)[0],
        "Rolling back podinfo.test manual webhook invoked"
    );
}

#[test]
fn post_rollout_is_called_once_after_the_run_ends() {
    let mut c = Canary::progressing();
    c.settings.webhooks = vec![hook("notify", HookType::PostRollout)];
    for at in [70, 130] {
        c.step(
            Some(ready("v2")),
            Some(ready("v1")),
            Some(vec![check(Verdict::Fail, Some(50.0))]),
            t(at),
        );
    }
    assert_eq!(c.status.phase(), Phase::Failed);
    let d = c.step(Some(scaled_down("v2")), Some(ready("v1")), None, t(131));
    assert_eq!(
        d.next,
        Next::Gather(Request::hooks(&[HookType::PostRollout]))
    );
    let failed = hooks(vec![answer("notify", HookType::PostRollout, false, t(131))]);
    let d = c.step_with(Some(scaled_down("v2")), Some(ready("v1")), failed, t(131));
    assert!(d.events[0].warning && d.events[0].reason == reasons::WEBHOOK_FAILED);
    let d = c.step(Some(scaled_down("v2")), Some(ready("v1")), None, t(500));
    assert_eq!(d.next, Next::Idle, "once per revision");
}

#[test]
fn a_rollback_hook_answered_while_waiting_for_promotion_rolls_back() {
    let mut c = Canary::progressing();
    c.settings.steps = vec![10];
    c.settings.webhooks = vec![
        hook("promote", HookType::ConfirmPromotion),
        hook("stop", HookType::Rollback),
    ];
    let calls = |stop: bool, at| {
        vec![
            answer("promote", HookType::ConfirmPromotion, false, t(at)),
            answer("stop", HookType::Rollback, stop, t(at)),
        ]
    };
    let d = c.step_with(
        Some(ready("v2")),
        Some(ready("v1")),
        step_inputs(true, calls(false, 70)),
        t(70),
    );
    assert_eq!(d.status.phase(), Phase::WaitingPromotion);
    let d = c.step(Some(ready("v2")), Some(ready("v1")), None, t(130));
    let Next::Gather(req) = d.next else {
        panic!("expected a gather")
    };
    assert!(
        req.hooks.contains(HookType::Rollback),
        "the rollback hook is asked while waiting"
    );
    let d = c.step_with(
        Some(ready("v2")),
        Some(ready("v1")),
        step_inputs(true, calls(true, 130)),
        t(130),
    );
    assert_eq!(d.status.phase(), Phase::Failed);
    assert_eq!(d.status.canary_weight, 0);
    assert_eq!(
        Canary::messages(&d)[0],
        "Rolling back podinfo.test manual webhook invoked"
    );
}

#[test]
fn a_closed_promotion_gate_holds_the_last_iteration_without_counting_on() {
    let mut c = with_hooks(vec![hook("promote", HookType::ConfirmPromotion)]);
    c.settings.kind = StrategyKind::AbTesting {
        iterations: 2,
        matches: serde_json::json!([{"headers": {"x-canary": {"exact": "insider"}}}]),
    };
    c.step(Some(scaled_down("v2")), Some(ready("v1")), None, t(5));
    c.step(Some(ready("v2")), Some(ready("v1")), None, t(10));
    assert_eq!(c.status.iterations, 1);
    let closed = |at| {
        step_inputs(
            true,
            vec![answer("promote", HookType::ConfirmPromotion, false, t(at))],
        )
    };
    c.step_with(Some(ready("v2")), Some(ready("v1")), closed(70), t(70));
    assert_eq!(c.status.iterations, 2);
    for at in [130, 190, 250] {
        let d = c.step_with(Some(ready("v2")), Some(ready("v1")), closed(at), t(at));
        assert_eq!(d.status.phase(), Phase::WaitingPromotion, "t({at})");
        assert_eq!(
            d.status.iterations, 2,
            "held at the last iteration, t({at})"
        );
        assert!(
            d.plan.unwrap().split.matches.is_some(),
            "matched traffic stays on the canary while held"
        );
    }
    let open = step_inputs(
        true,
        vec![answer("promote", HookType::ConfirmPromotion, true, t(310))],
    );
    let d = c.step_with(Some(ready("v2")), Some(ready("v1")), open, t(310));
    assert_eq!(d.status.phase(), Phase::Promoting);
}

#[test]
fn a_rollback_hook_answered_while_waiting_for_approval_fails_the_revision_once() {
    let mut c = with_hooks(vec![
        hook("approve", HookType::ConfirmRollout),
        hook("stop", HookType::Rollback),
    ]);
    c.step(Some(scaled_down("v2")), Some(ready("v1")), None, t(5));
    let closed = hooks(vec![answer(
        "approve",
        HookType::ConfirmRollout,
        false,
        t(5),
    )]);
    let d = c.step_with(Some(scaled_down("v2")), Some(ready("v1")), closed, t(5));
    assert_eq!(d.status.phase(), Phase::Waiting);
    let d = c.step(Some(scaled_down("v2")), Some(ready("v1")), None, t(65));
    assert_eq!(
        d.next,
        Next::Gather(Request::hooks(&[
            HookType::ConfirmRollout,
            HookType::Rollback
        ])),
        "while waiting, the rollback hook is asked with the gate"
    );
    let stop = hooks(vec![
        answer("approve", HookType::ConfirmRollout, false, t(65)),
        answer("stop", HookType::Rollback, true, t(65)),
    ]);
    let d = c.step_with(Some(scaled_down("v2")), Some(ready("v1")), stop, t(65));
    assert_eq!(d.status.phase(), Phase::Failed);
    assert_eq!(
        Canary::messages(&d)[0],
        "Rolling back podinfo.test manual webhook invoked"
    );
    assert_eq!(d.status.last_applied_spec.as_deref(), Some("v2"));
    // That revision is done with: no gate is asked again.
    let d = c.step(Some(scaled_down("v2")), Some(ready("v1")), None, t(130));
    assert_eq!(d.next, Next::Idle);
    assert_eq!(d.status.phase(), Phase::Failed);
}

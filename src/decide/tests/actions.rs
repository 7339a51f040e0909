//! People's actions in the decision: each applied once, in the same status as the
//! transition it causes, and refused with a reason a person understands.

use super::*;
use crate::api::{ActionKind, ActionOutcome, CanaryActionSpec, ManualGate};
use crate::decide::{ActionResult, PendingAction, action_reasons};

fn action(uid: &str, kind: ActionKind, revision: Option<&str>, reason: &str) -> PendingAction {
    PendingAction {
        uid: uid.into(),
        name: format!("{}-{uid}", kind.as_str()),
        spec: CanaryActionSpec {
            canary: "podinfo".into(),
            action: kind,
            revision: revision.map(Into::into),
            reason: (!reason.is_empty()).then(|| reason.into()),
            requested_by: "alice@example.com".into(),
            skip_analysis: (kind == ActionKind::Promote).then_some(true),
        },
    }
}

fn passing() -> Inputs {
    Inputs {
        metrics: Some(vec![check(Verdict::Pass, Some(100.0))]),
        hooks: None,
    }
}

impl Canary {
    /// A decision on target v2 / primary v1 with these actions pending.
    fn act(&mut self, actions: Vec<PendingAction>, inputs: Inputs, now: DateTime<Utc>) -> Decision {
        let obs = Observation {
            target: Some(ready("v2")),
            primary: Some(ready("v1")),
            inputs,
            actions,
            ..Default::default()
        };
        let d = decide(
            &who(),
            &Ok(self.settings.clone()),
            &[],
            self.suspended,
            &self.status,
            &obs,
            now,
        );
        self.status = d.status.clone();
        d
    }
}

fn result(d: &Decision) -> (ActionOutcome, &str) {
    let [r] = d.actions.as_slice() else {
        panic!("expected one result, got {:?}", d.actions)
    };
    (r.outcome, r.message.as_str())
}

/// Analysing v2 with one step and a manual promotion gate, held at it since t(70).
fn at_manual_promotion() -> Canary {
    let mut c = Canary::progressing().with(|s| {
        s.steps = vec![10];
        s.manual_approval = vec![ManualGate::ConfirmPromotion];
    });
    let d = c.act(vec![], passing(), t(70));
    assert_eq!(d.status.phase(), Phase::WaitingPromotion);
    let gate = d
        .status
        .awaiting
        .clone()
        .expect("the gate is recorded for the person");
    assert_eq!(
        (gate.gate.as_str(), gate.revision.as_str()),
        ("confirm-promotion", "v2")
    );
    assert!(gate.manual);
    c
}

#[test]
fn a_manual_promotion_gate_waits_without_any_webhook_and_an_approval_opens_it_now() {
    let mut c = at_manual_promotion();
    // Still closed an interval later, metrics passing: a manual gate waits for a person.
    let d = c.act(vec![], passing(), t(130));
    assert_eq!(d.status.phase(), Phase::WaitingPromotion);
    let approve = action("u1", ActionKind::Approve, Some("v2"), "checked dashboards");
    let d = c.act(vec![approve.clone()], Inputs::default(), t(140));
    assert_eq!(
        result(&d),
        (
            ActionOutcome::Applied,
            "opened confirm-promotion for revision v2"
        )
    );
    assert!(
        Canary::messages(&d).contains(&"Approved by alice@example.com: \"checked dashboards\"")
    );
    assert_eq!(d.status.approvals[0].by, "alice@example.com");
    assert_eq!(d.status.actions[0].uid, "u1");
    assert_eq!(d.status.awaiting, None);
    // The held step is due at once: its checks run now and the gate lets it through.
    let Next::Gather(req) = d.next else {
        panic!("expected the step now, got {:?}", d.next)
    };
    assert!(req.metrics);
    let d = c.act(vec![approve], passing(), t(140));
    assert_eq!(d.status.phase(), Phase::Promoting);
    // Replayed, not applied twice: the recorded outcome again, no second event.
    assert_eq!(result(&d).0, ActionOutcome::Applied);
    assert!(
        !d.events
            .iter()
            .any(|e| e.reason == action_reasons::APPROVED)
    );
    assert_eq!(d.status.actions.len(), 1);
}

#[test]
fn an_approval_for_another_revision_is_refused_and_opens_nothing() {
    let mut c = at_manual_promotion();
    let d = c.act(
        vec![action("u1", ActionKind::Approve, Some("v1"), "")],
        passing(),
        t(80),
    );
    let (outcome, message) = result(&d);
    assert_eq!(outcome, ActionOutcome::Refused);
    assert_eq!(
        message,
        "meant for revision v1, the Canary analysing revision v2"
    );
    assert!(
        d.events
            .iter()
            .any(|e| e.warning && e.reason == action_reasons::REFUSED)
    );
    assert!(d.status.approvals.is_empty());
    assert_eq!(d.status.phase(), Phase::WaitingPromotion);
}

#[test]
fn an_approval_of_an_old_revision_does_not_open_the_gate_of_a_newer_one() {
    let mut c = at_manual_promotion();
    c.act(
        vec![action("u1", ActionKind::Approve, Some("v2"), "")],
        Inputs::default(),
        t(80),
    );
    assert_eq!(c.status.approvals.len(), 1);
    // v3 replaces v2 before the promotion: its run starts from scratch, gate closed.
    let obs = |now| (Some(ready("v3")), Some(ready("v1")), now);
    let (target, primary, now) = obs(t(90));
    c.step(target, primary, None, now);
    assert!(c.status.approvals.is_empty(), "v2's approval is forgotten");
    let (target, primary, now) = obs(t(95));
    c.step(target, primary, None, now);
    let (target, primary, now) = obs(t(155));
    let d = c.step_with(target, primary, passing(), now);
    assert_eq!(d.status.phase(), Phase::WaitingPromotion);
    assert_eq!(
        d.status.awaiting.as_ref().map(|g| g.revision.as_str()),
        Some("v3")
    );
}

#[test]
fn nothing_to_approve_is_refused() {
    let mut c = Canary::progressing();
    let d = c.act(
        vec![action("u1", ActionKind::Approve, None, "")],
        Inputs::default(),
        t(20),
    );
    assert_eq!(
        result(&d),
        (
            ActionOutcome::Refused,
            "nothing to approve: no gate waits (phase Progressing)"
        )
    );
}

#[test]
fn abort_rolls_back_at_once_with_the_reason_in_the_event() {
    let mut c = Canary::progressing();
    let abort = action("u1", ActionKind::Abort, Some("v2"), "error budget burning");
    let d = c.act(vec![abort], Inputs::default(), t(20));
    assert_eq!(result(&d), (ActionOutcome::Applied, "rolled back"));
    assert_eq!(d.status.phase(), Phase::Failed);
    assert_eq!(d.status.canary_weight, 0);
    let msgs = Canary::messages(&d);
    assert!(msgs.contains(&"Aborted by alice@example.com: \"error budget burning\""));
    assert!(msgs.contains(
        &"Rolling back podinfo.test: Aborted by alice@example.com: \"error budget burning\""
    ));
    // The aborted revision does not start again.
    let d = c.act(vec![], Inputs::default(), t(30));
    assert_eq!(d.status.phase(), Phase::Failed);
}

#[test]
fn pause_holds_the_step_and_resume_continues_one_interval_later() {
    let mut c = Canary::progressing();
    let d = c.act(
        vec![action("p", ActionKind::Pause, None, "incident 42")],
        Inputs::default(),
        t(20),
    );
    assert_eq!(result(&d).0, ActionOutcome::Applied);
    let paused = d.status.paused.clone().expect("paused");
    assert_eq!(
        (paused.by.as_str(), paused.since),
        ("alice@example.com", t(20))
    );
    assert!(Canary::messages(&d)[0].starts_with("Paused by alice@example.com: \"incident 42\""));
    // Long after the step was due: nothing moves, nothing is measured.
    let d = c.act(vec![], Inputs::default(), t(500));
    assert_eq!((d.next.clone(), d.status.canary_weight), (Next::Idle, 10));
    // Other actions wait for the resume.
    let d = c.act(
        vec![action("a", ActionKind::Promote, Some("v2"), "x")],
        Inputs::default(),
        t(510),
    );
    assert_eq!(result(&d).0, ActionOutcome::Refused);
    let d = c.act(
        vec![action("r", ActionKind::Resume, None, "")],
        Inputs::default(),
        t(600),
    );
    assert_eq!(result(&d).0, ActionOutcome::Applied);
    assert_eq!(d.status.paused, None);
    assert_eq!(
        d.next,
        Next::At(t(660)),
        "the next step one interval after the resume"
    );
    let d = c.act(
        vec![action("r2", ActionKind::Resume, None, "")],
        Inputs::default(),
        t(610),
    );
    assert_eq!(
        result(&d),
        (ActionOutcome::Refused, "the rollout is not paused")
    );
}

#[test]
fn retry_analyses_a_failed_revision_again() {
    let mut c = Canary::progressing();
    let d = c.act(
        vec![action("r", ActionKind::Retry, Some("v2"), "")],
        Inputs::default(),
        t(15),
    );
    assert_eq!(result(&d).0, ActionOutcome::Refused, "nothing failed yet");
    c.act(
        vec![action("a", ActionKind::Abort, Some("v2"), "bad")],
        Inputs::default(),
        t(20),
    );
    assert_eq!(c.status.phase(), Phase::Failed);
    let d = c.act(
        vec![action(
            "r2",
            ActionKind::Retry,
            Some("v2"),
            "fixed the config",
        )],
        Inputs::default(),
        t(30),
    );
    assert_eq!(
        result(&d),
        (ActionOutcome::Applied, "analysing revision v2 again")
    );
    assert_eq!(d.status.phase(), Phase::Progressing);
    assert_eq!(
        (d.status.failed_checks, d.status.run_started_at),
        (0, Some(t(30)))
    );
}

#[test]
fn promote_skips_the_rest_of_the_analysis() {
    let mut c = Canary::progressing();
    let d = c.act(
        vec![action("p", ActionKind::Promote, Some("v2"), "hotfix")],
        Inputs::default(),
        t(20),
    );
    assert_eq!(result(&d).0, ActionOutcome::Applied);
    assert_eq!(d.status.phase(), Phase::Promoting);
    assert!(
        Canary::messages(&d)
            .contains(&"Promoted by alice@example.com: \"hotfix\", analysis skipped")
    );
}

#[test]
fn a_suspended_canary_refuses_actions() {
    let mut c = Canary::progressing();
    c.suspended = true;
    let d = c.act(
        vec![action("p", ActionKind::Pause, None, "")],
        Inputs::default(),
        t(20),
    );
    assert_eq!(
        d.actions,
        vec![ActionResult {
            uid: "p".into(),
            name: "pause-p".into(),
            outcome: ActionOutcome::Refused,
            message: "the Canary is suspended (spec.suspend is true)".into(),
        }]
    );
}

#[test]
fn the_actions_kept_in_status_are_bounded() {
    let mut c = Canary::progressing();
    for i in 0..15 {
        c.act(
            vec![action(&format!("u{i}"), ActionKind::Approve, None, "")],
            Inputs::default(),
            t(20 + i),
        );
    }
    assert_eq!(c.status.actions.len(), crate::api::ACTIONS_KEPT);
    assert_eq!(c.status.actions[0].uid, "u5");
}

#[test]
fn a_manual_rollout_gate_holds_quietly_until_approved() {
    let mut c =
        Canary::initialized().with(|s| s.manual_approval = vec![ManualGate::ConfirmRollout]);
    let d = c.act(vec![], Inputs::default(), t(5));
    assert_eq!(d.status.phase(), Phase::Waiting);
    assert_eq!(awaited_gate(&d), Some(("confirm-rollout", "v2")));
    // Woken again (any watch event): nothing changes, nothing is reported again.
    let before = c.status.clone();
    let d = c.act(vec![], Inputs::default(), t(6));
    assert_eq!((d.status, d.events, d.next), (before, vec![], Next::Idle));
    let d = c.act(
        vec![action("a", ActionKind::Approve, Some("v2"), "")],
        Inputs::default(),
        t(7),
    );
    assert_eq!(result(&d).0, ActionOutcome::Applied);
    assert_eq!(d.status.phase(), Phase::Progressing);
    assert_eq!(d.status.awaiting, None);
}

fn awaited_gate(d: &Decision) -> Option<(&str, &str)> {
    d.status
        .awaiting
        .as_ref()
        .map(|g| (g.gate.as_str(), g.revision.as_str()))
}

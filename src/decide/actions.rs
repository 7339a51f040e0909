//! Actions: what people ask of a rollout (`kubectl serin approve|abort|pause|resume|retry|
//! promote`, each a `CanaryAction`), decided like any other input.
//!
//! The controller passes the Canary's pending actions in [`Observation::actions`]
//! (oldest first); each is applied or refused here, and its effect lands in the same
//! status as the transition it causes: `status.actions` records its uid, who, what, when
//! and why, so an action is never applied twice (a restart finds its uid and only
//! reports the recorded outcome again). The gates a person may open are recorded in
//! `status.awaiting` when the run holds at one ([`Step::hold`]); an approval names the
//! revision it was given for and opens nothing for any other.

use chrono::Duration as ChronoDuration;

use super::*;
use crate::api::{
    ACTIONS_KEPT, ActionKind, ActionOutcome, ActionRecord, ApprovalStatus, CanaryActionSpec,
    GateStatus, HookType, PauseStatus,
};

/// Event reasons of the actions.
pub mod action_reasons {
    pub const APPROVED: &str = "Approved";
    pub const ABORTED: &str = "Aborted";
    pub const PAUSED: &str = "Paused";
    pub const RESUMED: &str = "Resumed";
    pub const RETRIED: &str = "Retried";
    pub const PROMOTED: &str = "PromotedByHand";
    pub const REFUSED: &str = "ActionRefused";
}
use action_reasons as r;

/// A CanaryAction not decided yet, as the controller read it.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingAction {
    pub uid: String,
    pub name: String,
    pub spec: CanaryActionSpec,
}

/// What became of one action: the controller writes it to the action's status.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionResult {
    pub uid: String,
    pub name: String,
    pub outcome: ActionOutcome,
    pub message: String,
}

/// Longest reason or message kept in status (the schema's bound).
const TEXT_LIMIT: usize = 1024;

fn cut(text: &str) -> String {
    if text.len() <= TEXT_LIMIT {
        return text.to_string();
    }
    let mut end = TEXT_LIMIT - 3;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// `Approved by alice@example.com: "checked dashboards"`.
fn by(verb: &str, a: &CanaryActionSpec) -> String {
    match a.reason.as_deref().filter(|r| !r.is_empty()) {
        Some(reason) => format!("{verb} by {}: {reason:?}", a.requested_by),
        None => format!("{verb} by {}", a.requested_by),
    }
}

fn short(revision: &str) -> &str {
    revision.get(..12).unwrap_or(revision)
}

impl Step<'_> {
    /// Decides every pending action in order; the run then goes on from the status they
    /// leave (an abort has rolled back, a retry started a run, an approval opened a gate).
    pub(super) fn apply_actions(
        &mut self,
        settings: &Settings,
        target: &Workload,
        actions: &[PendingAction],
    ) {
        for action in actions {
            if self.replay(action) {
                continue;
            }
            let verdict = self.apply(settings, target, &action.spec, &action.uid);
            self.decided(action, verdict);
        }
    }

    /// Refuses every pending action with the same reason (invalid spec, suspended, no
    /// target): nothing can be steered then, and the person must hear why.
    pub(super) fn refuse_actions(&mut self, actions: &[PendingAction], why: &str) {
        for action in actions {
            if !self.replay(action) {
                self.decided(action, Err(why.to_string()));
            }
        }
    }

    /// An action decided before (its uid is in status): its recorded outcome again.
    fn replay(&mut self, action: &PendingAction) -> bool {
        let Some(done) = self.status.actions.iter().find(|a| a.uid == action.uid) else {
            return false;
        };
        self.action_results.push(ActionResult {
            uid: action.uid.clone(),
            name: action.name.clone(),
            outcome: done.outcome,
            message: done.message.clone(),
        });
        true
    }

    fn decided(&mut self, action: &PendingAction, verdict: Result<String, String>) {
        let a = &action.spec;
        let (outcome, message) = match verdict {
            Ok(m) => (ActionOutcome::Applied, m),
            Err(m) => {
                self.warning(
                    r::REFUSED,
                    format!("{} by {} refused: {m}", a.action.as_str(), a.requested_by),
                );
                (ActionOutcome::Refused, m)
            }
        };
        let message = cut(&message);
        self.status.actions.push(ActionRecord {
            uid: action.uid.clone(),
            name: action.name.clone(),
            action: a.action,
            by: a.requested_by.clone(),
            reason: a.reason.as_deref().map(cut),
            revision: a.revision.clone(),
            outcome,
            message: message.clone(),
            at: self.now,
        });
        let extra = self.status.actions.len().saturating_sub(ACTIONS_KEPT);
        self.status.actions.drain(..extra);
        self.action_results.push(ActionResult {
            uid: action.uid.clone(),
            name: action.name.clone(),
            outcome,
            message,
        });
    }

    /// The revision an action must name: the awaited gate's, else the one analysed last.
    fn current_revision(&self, target: &Workload) -> Option<String> {
        if let Some(g) = &self.status.awaiting {
            return Some(g.revision.clone());
        }
        if self.status.phase() == Phase::Waiting {
            return Some(target.revision.clone());
        }
        self.status.last_applied_spec.clone()
    }

    /// Refuses an action meant for another revision than the current one.
    fn same_revision(&self, target: &Workload, a: &CanaryActionSpec) -> Result<(), String> {
        let (Some(meant), Some(now)) = (a.revision.as_deref(), self.current_revision(target))
        else {
            return Ok(());
        };
        if meant == now {
            return Ok(());
        }
        let doing = match self.status.phase() {
            Phase::Progressing | Phase::WaitingPromotion => "analysing",
            Phase::Waiting => "waiting to roll out",
            Phase::Failed => "has rolled back",
            _ => "is on",
        };
        Err(format!(
            "meant for revision {}, the Canary {doing} revision {}",
            short(meant),
            short(&now)
        ))
    }

    fn apply(
        &mut self,
        settings: &Settings,
        target: &Workload,
        a: &CanaryActionSpec,
        uid: &str,
    ) -> Result<String, String> {
        if let Some(p) = &self.status.paused
            && !matches!(a.action, ActionKind::Resume | ActionKind::Abort)
        {
            return Err(format!(
                "the rollout is paused by {} since {}: resume it first",
                p.by,
                p.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
        }
        match a.action {
            ActionKind::Pause => Ok(self.pause(a, uid)),
            ActionKind::Resume => self.resume(settings, a),
            ActionKind::Approve => {
                self.same_revision(target, a)?;
                self.approve(settings, a, uid)
            }
            ActionKind::Abort => {
                self.same_revision(target, a)?;
                self.abort(target, a)
            }
            ActionKind::Retry => {
                self.same_revision(target, a)?;
                self.retry(target, a)
            }
            ActionKind::Promote => {
                self.same_revision(target, a)?;
                self.promote_by_hand(a)
            }
        }
    }

    fn pause(&mut self, a: &CanaryActionSpec, uid: &str) -> String {
        if let Some(p) = &self.status.paused {
            return format!("already paused by {}", p.by);
        }
        self.status.paused = Some(PauseStatus {
            by: a.requested_by.clone(),
            reason: a.reason.as_deref().map(cut),
            since: self.now,
            action: uid.to_string(),
        });
        let text = by("Paused", a);
        self.normal(
            r::PAUSED,
            format!("{text}; {} holds its step", self.who.canary()),
        );
        format!(
            "paused at phase {}, weight {}",
            self.status.phase(),
            self.status.canary_weight
        )
    }

    fn resume(&mut self, settings: &Settings, a: &CanaryActionSpec) -> Result<String, String> {
        if self.status.paused.take().is_none() {
            return Err("the rollout is not paused".into());
        }
        // The next step comes one interval after the resume, not at once: the paused
        // time says nothing about the canary's health now.
        if matches!(
            self.status.phase(),
            Phase::Progressing | Phase::WaitingPromotion
        ) {
            self.status.step_started_at = Some(self.now);
        }
        if self.status.waiting_since.is_some() {
            self.status.waiting_since = Some(self.now);
        }
        let next = clock::after(self.now, settings.interval);
        self.normal(r::RESUMED, by("Resumed", a));
        Ok(format!(
            "resumed; next step at {}",
            next.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ))
    }

    fn approve(
        &mut self,
        settings: &Settings,
        a: &CanaryActionSpec,
        uid: &str,
    ) -> Result<String, String> {
        let Some(gate) = self.status.awaiting.take() else {
            return Err(format!(
                "nothing to approve: no gate waits (phase {})",
                self.status.phase()
            ));
        };
        self.status.approvals.push(ApprovalStatus {
            gate: gate.gate.clone(),
            revision: gate.revision.clone(),
            by: a.requested_by.clone(),
            reason: a.reason.as_deref().map(cut),
            at: self.now,
            action: uid.to_string(),
        });
        let extra = self.status.approvals.len().saturating_sub(8);
        self.status.approvals.drain(..extra);
        // The held step is due now: its checks run once more and the opened gate lets it
        // through, instead of waiting out the rest of the interval.
        if matches!(
            self.status.phase(),
            Phase::Progressing | Phase::WaitingPromotion
        ) {
            let interval =
                ChronoDuration::from_std(settings.interval).unwrap_or(ChronoDuration::zero());
            self.status.step_started_at = self.now.checked_sub_signed(interval).or(Some(self.now));
        }
        self.normal(r::APPROVED, by("Approved", a));
        Ok(format!(
            "opened {} for revision {}",
            gate.gate,
            short(&gate.revision)
        ))
    }

    fn abort(&mut self, target: &Workload, a: &CanaryActionSpec) -> Result<String, String> {
        match self.status.phase() {
            Phase::Progressing | Phase::WaitingPromotion => {}
            Phase::Waiting => {
                // Never started: the revision is marked analysed so it does not start.
                self.status.last_applied_spec = Some(target.revision.clone());
            }
            phase => {
                return Err(format!(
                    "nothing to abort: no analysis runs (phase {phase})"
                ));
            }
        }
        self.status.paused = None;
        let text = by("Aborted", a);
        self.warning(r::ABORTED, text.clone());
        let msg = format!("Rolling back {}: {text}", self.who.canary());
        self.rollback(msg);
        Ok("rolled back".into())
    }

    fn retry(&mut self, target: &Workload, a: &CanaryActionSpec) -> Result<String, String> {
        if self.status.phase() != Phase::Failed {
            return Err(format!(
                "nothing to retry: the last revision did not fail (phase {})",
                self.status.phase()
            ));
        }
        if self.status.last_applied_spec.as_ref() != Some(&target.revision) {
            return Err("nothing to retry: the target no longer runs the failed revision".into());
        }
        self.normal(r::RETRIED, by("Retried", a));
        self.start_run(target);
        Ok(format!(
            "analysing revision {} again",
            short(&target.revision)
        ))
    }

    fn promote_by_hand(&mut self, a: &CanaryActionSpec) -> Result<String, String> {
        if !matches!(
            self.status.phase(),
            Phase::Progressing | Phase::WaitingPromotion
        ) {
            return Err(format!(
                "nothing to promote: no analysis runs (phase {})",
                self.status.phase()
            ));
        }
        self.normal(
            r::PROMOTED,
            format!("{}, analysis skipped", by("Promoted", a)),
        );
        self.promote();
        Ok("promoting now, analysis skipped".into())
    }

    /// The run holds at `gate` for `revision`: recorded for the person who may open it.
    pub(super) fn await_gate(
        &mut self,
        settings: &Settings,
        gate: HookType,
        revision: &str,
        why: &str,
    ) {
        let since = match &self.status.awaiting {
            Some(g) if g.gate == gate.as_str() && g.revision == revision => g.since,
            _ => self.now,
        };
        self.status.awaiting = Some(GateStatus {
            gate: gate.as_str().to_string(),
            revision: revision.to_string(),
            manual: settings
                .manual_approval
                .iter()
                .any(|g| g.as_str() == gate.as_str()),
            message: cut(why),
            since,
        });
    }

    /// Whether the run already holds at `gate` of `revision`, a gate only a person opens
    /// (`analysis.manualApproval`) and not opened yet: nothing to ask, nothing to report
    /// again. Without this, every wake-up of a Waiting Canary would report the hold anew.
    pub(super) fn waits_for_person(
        &self,
        settings: &Settings,
        gate: HookType,
        revision: &str,
    ) -> bool {
        let manual = settings
            .manual_approval
            .iter()
            .any(|g| g.as_str() == gate.as_str());
        manual
            && !self.approved(gate, revision)
            && self
                .status
                .awaiting
                .as_ref()
                .is_some_and(|g| g.gate == gate.as_str() && g.revision == revision)
    }

    /// Whether a person opened `gate` for `revision`.
    pub(super) fn approved(&self, gate: HookType, revision: &str) -> bool {
        self.status
            .approvals
            .iter()
            .any(|a| a.gate == gate.as_str() && a.revision == revision)
    }

    /// The run moved on: the gate it held at is passed, and an approval of a traffic
    /// increase was for that one increase.
    pub(super) fn step_moved(&mut self) {
        self.status.awaiting = None;
        let increase = HookType::ConfirmTrafficIncrease.as_str();
        self.status.approvals.retain(|a| a.gate != increase);
    }
}

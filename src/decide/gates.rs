//! Gates and hooks: judging `analysis.webhooks` answers gathered for the decision.
//!
//! A hook is an input like a metric: the decision asks for the types it needs
//! ([`Request::hooks`]), the controller calls them, and the answers come back as
//! [`HookCall`]s. What an answer means is decided here and recorded in
//! `status.webhooks`, one entry per hook for the current revision. Gates that stay open
//! once opened (`confirm-rollout`, `confirm-promotion`) and hooks that run once per
//! revision (`pre-rollout`, `post-rollout`) are read from that record, so a restart
//! neither calls them again nor forgets them.

use super::inputs::{HookCall, HookSet};
use super::*;
use crate::api::{HookType, WebhookStatus};

/// Longest hook answer kept in status; the event carries the same text.
const STATUS_MESSAGE_LIMIT: usize = 256;

/// What the hooks of one type say.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Gate {
    /// No such hooks, or all of them passed.
    Open,
    /// At least one failed; the text names it with its answer.
    Closed(String),
    /// Not called yet for this decision: ask for them.
    Ask,
}

/// Types whose pass holds for the whole revision.
fn sticky(t: HookType) -> bool {
    matches!(
        t,
        HookType::ConfirmRollout
            | HookType::PreRollout
            | HookType::ConfirmPromotion
            | HookType::PostRollout
    )
}

impl Step<'_> {
    /// Whether hooks of type `t` must be called for `revision` (some exist and, for a
    /// type that holds per revision, not all passed yet).
    pub(super) fn needs(&self, settings: &Settings, t: HookType, revision: &str) -> bool {
        if self.approved(t, revision) {
            return false; // a person opened it: its webhooks are not asked any more
        }
        let mut hooks = settings.webhooks.iter().filter(|h| h.type_ == t).peekable();
        hooks.peek().is_some()
            && !(sticky(t) && hooks.all(|h| self.recorded_pass(&h.name, t, revision)))
    }

    fn recorded_pass(&self, name: &str, t: HookType, revision: &str) -> bool {
        self.status
            .webhooks
            .iter()
            .any(|w| w.name == name && w.type_ == t.as_str() && w.revision == revision && w.passed)
    }

    /// The verdict of the hooks of type `t`, recording the answers that came with `obs`.
    pub(super) fn gate(
        &mut self,
        settings: &Settings,
        obs: &Observation,
        t: HookType,
        revision: &str,
    ) -> Gate {
        if self.approved(t, revision) {
            return Gate::Open;
        }
        if let Some(why) = manual_gate(settings, t, &self.who.name) {
            return Gate::Closed(why);
        }
        if !self.needs(settings, t, revision) {
            return Gate::Open;
        }
        let calls: Vec<&HookCall> = obs
            .inputs
            .hooks
            .iter()
            .flatten()
            .filter(|c| c.type_ == t)
            .collect();
        if calls.is_empty() {
            return Gate::Ask;
        }
        let mut closed = None;
        for call in calls {
            self.record(call, revision);
            if !call.passed && t != HookType::Rollback {
                let text = format!("{} hook {} failed: {}", t.as_str(), call.name, call.message);
                closed.get_or_insert(text);
            }
        }
        closed.map_or(Gate::Open, Gate::Closed)
    }

    /// Whether a `rollback` hook answered 200-202 in the answers that came with `obs`.
    pub(super) fn rollback_requested(
        &mut self,
        obs: &Observation,
        revision: &str,
    ) -> Option<String> {
        let calls: Vec<HookCall> = obs
            .inputs
            .hooks
            .iter()
            .flatten()
            .filter(|c| c.type_ == HookType::Rollback)
            .cloned()
            .collect();
        let mut invoked = None;
        for call in &calls {
            self.record(call, revision);
            if call.passed {
                invoked.get_or_insert(call.name.clone());
            }
        }
        invoked
    }

    /// When hooks of type `t` may be called again: one interval after their last call
    /// for this revision, so a closed gate is asked once per interval, not per reconcile.
    pub(super) fn next_call(
        &self,
        settings: &Settings,
        t: HookType,
        revision: &str,
    ) -> Option<DateTime<Utc>> {
        self.status
            .webhooks
            .iter()
            .filter(|w| w.type_ == t.as_str() && w.revision == revision)
            .map(|w| w.last_call + settings.interval)
            .max()
            .filter(|due| *due > self.now)
    }

    fn record(&mut self, call: &HookCall, revision: &str) {
        let mut message = call.message.clone();
        if message.len() > STATUS_MESSAGE_LIMIT {
            let mut cut = STATUS_MESSAGE_LIMIT;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let entry = WebhookStatus {
            name: call.name.clone(),
            type_: call.type_.as_str().to_string(),
            revision: revision.to_string(),
            passed: call.passed,
            message,
            last_call: call.at,
        };
        let hooks = &mut self.status.webhooks;
        match hooks
            .iter_mut()
            .find(|w| w.name == entry.name && w.type_ == entry.type_)
        {
            Some(w) => *w = entry,
            None => hooks.push(entry),
        }
    }

    /// Forgets the calls made for other revisions when a run starts.
    pub(super) fn keep_hooks_of(&mut self, revision: &str) {
        self.status.webhooks.retain(|w| w.revision == revision);
    }

    /// The post-rollout hooks of a finished run, once per revision; Some(next) while
    /// they are still to be called.
    pub(super) fn post_rollout(&mut self, settings: &Settings, obs: &Observation) -> Option<Next> {
        if !matches!(self.status.phase(), Phase::Succeeded | Phase::Failed) {
            return None;
        }
        let revision = self.status.last_applied_spec.clone()?;
        // Called once per finished revision, whatever it answers: the run is over, and
        // retrying an idle Canary's hook would keep it busy for nothing.
        let called = self
            .status
            .webhooks
            .iter()
            .any(|w| w.type_ == HookType::PostRollout.as_str() && w.revision == revision);
        if called {
            return None;
        }
        match self.gate(settings, obs, HookType::PostRollout, &revision) {
            Gate::Ask => Some(Next::Gather(Request::hooks(&[HookType::PostRollout]))),
            Gate::Closed(why) => {
                self.warning(reasons::WEBHOOK_FAILED, why);
                None
            }
            Gate::Open => None,
        }
    }

    /// Holds at a closed gate (an event at each look, as Flagger does), looking again one
    /// interval on.
    pub(super) fn hold(
        &mut self,
        settings: &Settings,
        (phase, gate, revision): (Phase, HookType, &str),
        what: &str,
        why: &str,
    ) -> Next {
        self.await_gate(settings, gate, revision, why);
        self.normal(
            reasons::WAITING,
            format!("Halt {} advancement {what}: {why}", self.who.canary()),
        );
        self.set_phase(phase);
        self.status.step_started_at = Some(self.now);
        Next::At(self.now + settings.interval)
    }
}

/// Why a gate serin keeps closed for a person (`analysis.manualApproval`) is closed, or
/// None when the spec does not ask for one at `t`.
fn manual_gate(settings: &Settings, t: HookType, canary: &str) -> Option<String> {
    settings
        .manual_approval
        .iter()
        .any(|g| g.as_str() == t.as_str())
        .then(|| {
            format!(
                "{} waits for a manual approval (kubectl serin approve {canary})",
                t.as_str()
            )
        })
}

/// The hook types a due analysis step asks for, besides the metrics.
pub(super) fn step_hooks(
    step: &Step<'_>,
    settings: &Settings,
    revision: &str,
    last_step: bool,
) -> HookSet {
    let gate = if last_step {
        HookType::ConfirmPromotion
    } else {
        HookType::ConfirmTrafficIncrease
    };
    [HookType::Rollout, HookType::Rollback, gate]
        .into_iter()
        .filter(|t| step.needs(settings, *t, revision))
        .fold(HookSet::EMPTY, HookSet::with)
}

//! The decision: a pure function of (spec, status, observations, now) that returns the next
//! status, the events that explain the transition, and when to look again.
//!
//! It never does IO and never reads the clock. Besides the status it returns the [`Plan`]:
//! what the managed objects should look like (primary copy, apex selector, traffic split,
//! canary replicas), derived from that status and the observed workloads, so converge only
//! carries it out. The status is the single record of intent: recorded first, then carried
//! out, and carried out again after a restart. That is what keeps a killed serin from
//! losing or repeating a step.
//!
//! Layout: [`settings`] (the spec with defaults, the provider and target kind),
//! [`strategy`] (which traffic split each step gets), `run` (analysis steps),
//! `promotion` (promotion and its failure), [`plan`] (the desired objects' shape),
//! [`inputs`] (what a step asks to be gathered: metrics now) and [`verdict`] (judging
//! measurements). It imports nothing from `controller`, `router` or `metrics`.

mod actions;
mod affinity;
mod clock;
mod errored;
pub mod evidence;
mod gates;
mod gone;
pub mod inputs;
pub mod plan;
mod promotion;
mod routing;
mod run;
mod settings;
pub mod strategy;
mod strategy_check;
mod unsupported;
pub mod verdict;

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};

use crate::api::{CanaryStatus, Phase, conditions, reasons};
use crate::build::PRIMARY_SUFFIX;
pub use actions::{ActionResult, PendingAction, action_reasons};
pub use errored::MetricErrorPolicy;
pub use inputs::{HookCall, HookSet, Inputs, Measurement, Request};
pub use plan::Plan;
pub use settings::{Provider, Settings, SpecError, StrategyKind, TargetKind};
pub use strategy::{After, Strategy, TrafficSplit};
pub use unsupported::unsupported_fields;
pub use verdict::Outcome;

/// How far a workload's rollout has got.
#[derive(Debug, Clone, PartialEq)]
pub enum Rollout {
    /// Every replica of the current template is updated and available.
    Complete,
    /// Still rolling out; the text says what is missing.
    InProgress(String),
    /// Kubernetes gave up (`ProgressDeadlineExceeded`).
    Failed(String),
}

/// What the decision needs to know of a Deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Revision hash of the template (for the primary: of the template it was copied from).
    pub revision: String,
    /// `spec.replicas`.
    pub replicas: i32,
    pub rollout: Rollout,
    /// Whether it has available replicas to send traffic to.
    pub serving: bool,
}

/// Everything observed for one reconcile.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    pub target: Option<Workload>,
    pub primary: Option<Workload>,
    /// What was gathered because the decision asked for it ([`Next::Gather`]).
    pub inputs: Inputs,
    /// Why the autoscaler `autoscalerRef` names cannot be used (it does not exist).
    pub autoscaler_problem: Option<String>,
    /// Why the router's objects do not carry traffic yet (a parent has not accepted the
    /// route); the run holds its weight until this is None.
    pub route_not_accepted: Option<String>,
    /// Why the target cannot be managed (e.g. a selector without matchLabels); the
    /// Canary is then refused with `Valid=False` and nothing is written.
    pub target_problem: Option<String>,
    /// The Canary's CanaryActions not decided yet, oldest first.
    pub actions: Vec<PendingAction>,
}

/// Who the Canary is, for messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub name: String,
    pub namespace: String,
    pub target: String,
    pub generation: Option<i64>,
}

impl Identity {
    fn canary(&self) -> String {
        format!("{}.{}", self.name, self.namespace)
    }
    fn target(&self) -> String {
        format!("{}.{}", self.target, self.namespace)
    }
    fn primary(&self) -> String {
        format!("{}{PRIMARY_SUFFIX}.{}", self.target, self.namespace)
    }
}

/// An event to publish on the Canary once the new status is recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
}

/// When to reconcile again (watch events wake it earlier).
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Nothing is due; only a change wakes it.
    Idle,
    /// A step or a deadline is due then.
    At(DateTime<Utc>),
    /// A step is due but needs inputs: gather them and decide again with them.
    Gather(Request),
}

/// The outcome of a decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub status: CanaryStatus,
    pub events: Vec<Note>,
    pub next: Next,
    /// What the managed objects should look like; None when serin must leave them alone
    /// (suspended, invalid spec, no target).
    pub plan: Option<Plan>,
    /// What became of each pending action, to be written to the action.
    pub actions: Vec<ActionResult>,
}

/// Decides what comes next. `settings` is the spec's analysis settings, or why they are
/// unusable; `unsupported` lists the spec's fields serin does not implement.
pub fn decide(
    who: &Identity,
    settings: &Result<Settings, SpecError>,
    unsupported: &[&str],
    suspended: bool,
    status: &CanaryStatus,
    obs: &Observation,
    now: DateTime<Utc>,
) -> Decision {
    let mut d = Step::new(who, status, now);
    d.report_unsupported(unsupported);
    let settings = match settings {
        Ok(s) => s,
        Err(e) => {
            d.invalid(reasons::INVALID_SPEC, &e.to_string());
            d.refuse_actions(&obs.actions, &format!("the Canary's spec is invalid: {e}"));
            return d.finish(Next::Idle);
        }
    };
    if suspended {
        let why = "the Canary is suspended (spec.suspend is true)";
        d.refuse_actions(&obs.actions, why);
        return d.finish(Next::Idle);
    }
    let Some(target) = &obs.target else {
        if gone::in_run(status.phase()) {
            let msg = format!("target Deployment {} not found", who.target());
            d.refuse_actions(&obs.actions, &msg);
            let plan = d.target_gone(settings);
            let mut decision = d.finish(Next::Idle);
            decision.plan = Some(plan);
            return decision;
        }
        let msg = format!("target Deployment {} not found", who.target());
        d.refuse_actions(&obs.actions, &msg);
        d.invalid(reasons::TARGET_NOT_FOUND, &msg);
        return d.finish(Next::Idle);
    };
    if let Some(why) = &obs.target_problem {
        let msg = format!("target Deployment {}: {why}", who.target());
        d.refuse_actions(&obs.actions, &msg);
        d.invalid(reasons::INVALID_TARGET, &msg);
        return d.finish(Next::Idle);
    }
    match &obs.autoscaler_problem {
        // Not fatal: the canary still runs, with fixed replicas, and says so.
        Some(why) => d.invalid(reasons::AUTOSCALER_NOT_FOUND, why),
        None => d.status.remove_condition(conditions::VALID),
    }
    d.apply_actions(settings, target, &obs.actions);
    // A paused run holds everything (steps, deadlines, promotion) where it stands; the
    // plan below keeps the objects as the status says.
    let next = match d.status.phase() {
        _ if d.status.paused.is_some() => Next::Idle,
        Phase::Initializing => d.initializing(settings, obs.primary.as_ref()),
        Phase::Initialized | Phase::Succeeded | Phase::Failed | Phase::Waiting => {
            d.idle(settings, target, obs)
        }
        Phase::Progressing | Phase::WaitingPromotion => d.progressing(settings, target, obs),
        Phase::Promoting => d.promoting(settings, target, obs.primary.as_ref()),
        Phase::Finalising => d.finalising(settings, target),
        Phase::Terminating | Phase::Terminated => Next::Idle,
    };
    if !matches!(
        d.status.phase(),
        Phase::Waiting | Phase::Progressing | Phase::WaitingPromotion
    ) {
        d.status.awaiting = None;
    }
    let plan = plan::plan(
        &d.status,
        &settings.strategy(),
        target,
        obs.primary.as_ref(),
    );
    let mut decision = d.finish(next);
    decision.plan = Some(plan);
    decision
}

/// A decision being built: the next status and its events.
struct Step<'a> {
    who: &'a Identity,
    status: CanaryStatus,
    events: Vec<Note>,
    now: DateTime<Utc>,
    action_results: Vec<ActionResult>,
}

impl<'a> Step<'a> {
    fn new(who: &'a Identity, status: &CanaryStatus, now: DateTime<Utc>) -> Self {
        let mut status = status.clone();
        status.observed_generation = who.generation;
        Step {
            who,
            status,
            events: Vec::new(),
            now,
            action_results: Vec::new(),
        }
    }

    fn finish(self, next: Next) -> Decision {
        Decision {
            status: self.status,
            events: self.events,
            next,
            plan: None,
            actions: self.action_results,
        }
    }

    fn normal(&mut self, reason: &'static str, message: String) {
        self.events.push(Note {
            warning: false,
            reason,
            message,
        });
    }

    fn warning(&mut self, reason: &'static str, message: String) {
        self.events.push(Note {
            warning: true,
            reason,
            message,
        });
    }

    fn set_phase(&mut self, phase: Phase) {
        if self.status.phase != Some(phase) {
            self.status.phase = Some(phase);
            self.status.last_transition_time = Some(self.now);
        }
    }

    fn promoted(&mut self, status: &str, reason: Phase, message: &str) {
        let generation = self.who.generation;
        self.status.set_condition(
            conditions::PROMOTED,
            status,
            reason.as_str(),
            message,
            generation,
            self.now,
        );
    }

    /// Reports a spec problem once: the event goes out only when the condition changes.
    fn invalid(&mut self, reason: &'static str, message: &str) {
        let same = self
            .status
            .condition(conditions::VALID)
            .is_some_and(|c| c.message == message && c.status == conditions::FALSE);
        let generation = self.who.generation;
        self.status.set_condition(
            conditions::VALID,
            conditions::FALSE,
            reason,
            message,
            generation,
            self.now,
        );
        if !same {
            self.warning(reason, message.to_string());
        }
    }

    fn report_unsupported(&mut self, fields: &[&str]) {
        if fields.is_empty() {
            self.status.remove_condition(conditions::SUPPORTED);
            return;
        }
        let message = format!("fields not supported yet, ignored: {}", fields.join(", "));
        let same = self
            .status
            .condition(conditions::SUPPORTED)
            .is_some_and(|c| c.message == message);
        let generation = self.who.generation;
        self.status.set_condition(
            conditions::SUPPORTED,
            conditions::FALSE,
            reasons::UNSUPPORTED_FIELDS,
            &message,
            generation,
            self.now,
        );
        if !same {
            self.warning(reasons::UNSUPPORTED_FIELDS, message);
        }
    }

    /// Waits for a rollout; returns Ok(()) when complete, or Err(next) while waiting, or
    /// the failure text once the deadline (counted from the start of this wait) passed.
    fn wait(&mut self, rollout: &Rollout, settings: &Settings) -> Result<(), WaitOutcome> {
        match rollout {
            Rollout::Complete => {
                // A step judged right after a wait would read metrics from the wait:
                // the step clock starts again when the wait ends.
                if self.status.waiting_since.take().is_some() {
                    self.status.step_started_at = Some(self.now);
                }
                Ok(())
            }
            Rollout::Failed(why) => Err(WaitOutcome::Failed(why.clone())),
            Rollout::InProgress(why) => {
                let since = *self.status.waiting_since.get_or_insert(self.now);
                let deadline = clock::after(since, settings.progress_deadline);
                if self.now >= deadline {
                    Err(WaitOutcome::Failed(format!(
                        "{why} (waited since {}, progressDeadlineSeconds {})",
                        since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        settings.progress_deadline.as_secs()
                    )))
                } else {
                    Err(WaitOutcome::Waiting(Next::At(deadline)))
                }
            }
        }
    }
}

enum WaitOutcome {
    Waiting(Next),
    Failed(String),
}

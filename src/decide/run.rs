//! The analysis run: noticing a new revision, waiting for the canary, judging each step,
//! advancing through the strategy's steps, halting and rolling back.

use super::gates::{Gate, step_hooks};
use super::*;
use crate::api::HookType;

impl Step<'_> {
    pub(super) fn initializing(&mut self, settings: &Settings, primary: Option<&Workload>) -> Next {
        self.set_phase(Phase::Initializing);
        let Some(primary) = primary else {
            self.status.waiting_since.get_or_insert(self.now);
            return Next::Idle; // the primary's creation wakes us
        };
        match self.wait(&primary.rollout, settings) {
            Ok(()) => {
                self.set_phase(Phase::Initialized);
                self.status.canary_weight = 0;
                self.status.last_applied_spec = Some(primary.revision.clone());
                self.status.last_promoted_spec = Some(primary.revision.clone());
                self.promoted(
                    conditions::TRUE,
                    Phase::Initialized,
                    "Deployment initialization completed.",
                );
                self.normal(
                    reasons::INITIALIZED,
                    format!("Initialization done! {}", self.who.canary()),
                );
                Next::Idle
            }
            Err(WaitOutcome::Waiting(next)) => next,
            Err(WaitOutcome::Failed(why)) => {
                let message = format!("{} not ready: {why}", self.who.primary());
                let same = self
                    .status
                    .condition(conditions::PROMOTED)
                    .is_some_and(|c| c.message == message);
                self.promoted(conditions::FALSE, Phase::Initializing, &message);
                if !same {
                    self.warning(reasons::PRIMARY_NOT_READY, message);
                }
                Next::Idle
            }
        }
    }

    fn is_new_revision(&self, target: &Workload) -> bool {
        let rev = Some(&target.revision);
        rev != self.status.last_applied_spec.as_ref()
            && rev != self.status.last_promoted_spec.as_ref()
    }

    pub(super) fn idle(
        &mut self,
        settings: &Settings,
        target: &Workload,
        obs: &Observation,
    ) -> Next {
        if let Some(next) = self.post_rollout(settings, obs) {
            return next;
        }
        if !self.is_new_revision(target) {
            return Next::Idle;
        }
        let waiting = self.status.phase() == Phase::Waiting;
        if waiting && self.rollback_requested(obs, &target.revision).is_some() {
            // As in Flagger, a rollback hook is honoured while Waiting: the revision's run
            // ends Failed before it started, and is not asked for again.
            self.start_run(target);
            let msg = format!("Rolling back {} manual webhook invoked", self.who.canary());
            return self.rollback(msg);
        }
        if self.waits_for_person(settings, HookType::ConfirmRollout, &target.revision) {
            return Next::Idle; // the approval's CanaryAction wakes it
        }
        match self.gate(settings, obs, HookType::ConfirmRollout, &target.revision) {
            Gate::Open => {}
            Gate::Ask => {
                if waiting
                    && let Some(due) =
                        self.next_call(settings, HookType::ConfirmRollout, &target.revision)
                {
                    return Next::At(due);
                }
                if waiting && self.needs(settings, HookType::Rollback, &target.revision) {
                    return Next::Gather(Request::hooks(&[
                        HookType::ConfirmRollout,
                        HookType::Rollback,
                    ]));
                }
                return Next::Gather(Request::hooks(&[HookType::ConfirmRollout]));
            }
            Gate::Closed(why) => {
                self.promoted(
                    conditions::UNKNOWN,
                    Phase::Waiting,
                    "Canary is waiting for approval",
                );
                let at = (
                    Phase::Waiting,
                    HookType::ConfirmRollout,
                    target.revision.as_str(),
                );
                return self.hold(settings, at, "waiting for approval", &why);
            }
        }
        self.start_run(target);
        self.normal(
            reasons::NEW_REVISION,
            format!("New revision detected! Scaling up {}", self.who.target()),
        );
        self.promoted(
            conditions::UNKNOWN,
            Phase::Progressing,
            "New revision detected, progressing canary analysis.",
        );
        Next::Idle // the canary's rollout wakes us
    }

    /// The target went back to the promoted template during a run: the primary already
    /// runs it, so there is nothing to analyse; traffic returns to the primary.
    fn reverted(&mut self) -> Next {
        self.set_phase(Phase::Succeeded);
        self.end_session();
        self.status.canary_weight = 0;
        self.status.waiting_since = None;
        self.status.last_applied_spec = self.status.last_promoted_spec.clone();
        self.promoted(
            conditions::TRUE,
            Phase::Succeeded,
            "The target is back on the promoted revision.",
        );
        self.normal(
            reasons::REVERTED,
            format!(
                "{} is back on the promoted revision: run ended, all traffic to primary",
                self.who.target()
            ),
        );
        Next::Idle
    }

    /// The target changed during a run: analyse the new revision from the start.
    pub(super) fn restart(&mut self, target: &Workload) -> Next {
        self.start_run(target);
        self.normal(
            reasons::RESTART_ANALYSIS,
            format!(
                "New revision detected! Restarting analysis for {}",
                self.who.target()
            ),
        );
        Next::Idle
    }

    pub(super) fn start_run(&mut self, target: &Workload) {
        self.set_phase(Phase::Progressing);
        self.status.canary_weight = 0;
        self.status.failed_checks = 0;
        self.status.iterations = 0;
        self.status.last_applied_spec = Some(target.revision.clone());
        self.status.step_started_at = Some(self.now);
        self.status.run_started_at = Some(self.now);
        // A run starts by waiting for the canary to scale up and be ready: the wait (and
        // its progress deadline) starts now, in this write, not in a write of its own
        // when the next reconcile first sees the canary rolling.
        self.status.waiting_since = Some(self.now);
        self.status.last_failed_check = None;
        self.status.metrics.clear();
        self.keep_hooks_of(&target.revision);
        self.status.metric_errors = None;
        self.status.evidence = None;
        self.status
            .approvals
            .retain(|a| a.revision == target.revision);
        self.step_moved();
    }

    pub(super) fn progressing(
        &mut self,
        settings: &Settings,
        target: &Workload,
        obs: &Observation,
    ) -> Next {
        if Some(&target.revision) == self.status.last_promoted_spec.as_ref() {
            return self.reverted();
        }
        if Some(&target.revision) != self.status.last_applied_spec.as_ref() {
            return self.restart(target);
        }
        match self.wait(&target.rollout, settings) {
            Ok(()) => {}
            Err(WaitOutcome::Waiting(next)) => return next,
            Err(WaitOutcome::Failed(why)) => {
                let msg = format!(
                    "Rolling back {} progress deadline exceeded canary deployment {} not ready: {why}",
                    self.who.canary(),
                    self.who.target()
                );
                return self.rollback(msg);
            }
        }
        if let Some(next) = self.route_held(settings, obs) {
            return next;
        }
        if settings.skip_analysis {
            return self.promote();
        }
        let strategy = settings.strategy();
        let revision = target.revision.clone();
        if !strategy.started(&self.status) {
            match self.gate(settings, obs, HookType::PreRollout, &revision) {
                Gate::Open => {}
                Gate::Ask => {
                    if let Some(due) = self.next_call(settings, HookType::PreRollout, &revision) {
                        return Next::At(due);
                    }
                    return Next::Gather(Request::hooks(&[HookType::PreRollout]));
                }
                Gate::Closed(why) => return self.failed_check(settings, vec![why]),
            }
            self.normal(
                reasons::START_ANALYSIS,
                format!("Starting canary analysis for {}", self.who.target()),
            );
            self.begin_session(settings);
            return self.step_to(settings, &strategy, strategy.first());
        }
        let started = self.status.step_started_at.unwrap_or(self.now);
        let due = clock::after(started, settings.interval);
        if self.now < due {
            return Next::At(due);
        }
        let last_step = strategy.after(&self.status) == After::Promote;
        let Some(measured) = &obs.inputs.metrics else {
            return Next::Gather(Request {
                metrics: true,
                hooks: step_hooks(self, settings, &revision, last_step),
            });
        };
        if self.rollback_requested(obs, &revision).is_some() {
            let msg = format!("Rolling back {} manual webhook invoked", self.who.canary());
            return self.rollback(msg);
        }
        // Judged here, not where they were measured: the verdict is part of the decision
        // (modes, minimum requests and the evidence judge: `evidence`).
        let weighed = self.weigh(measured, &revision);
        self.status.step_started_at = Some(self.now);
        if errored::holds(&weighed.deciding, &settings.metric_errors) {
            return self.errored_check(settings, &weighed.deciding);
        }
        self.status.metric_errors = None;
        if let Some(why) = &weighed.abort {
            return self.rollback(format!("Rolling back {}: {why}", self.who.canary()));
        }
        let mut failed = weighed.failed.clone();
        if let Gate::Closed(why) = self.gate(settings, obs, HookType::Rollout, &revision) {
            failed.push(why);
        }
        if !failed.is_empty() {
            return self.failed_check(settings, failed);
        }
        if let Some(next) = self.hold_for_evidence(settings, &weighed) {
            return next;
        }
        let after = match &weighed.promote {
            Some(why) => {
                self.promote_early(why);
                After::Promote
            }
            None => strategy.after(&self.status),
        };
        self.step_after_checks(settings, obs, &strategy, after, &revision)
    }

    /// A step passed its checks: the gate of what comes next (`confirm-traffic-increase`
    /// before a weight increase, `confirm-promotion` before promotion), then that step.
    fn step_after_checks(
        &mut self,
        settings: &Settings,
        obs: &Observation,
        strategy: &Strategy<'_>,
        after: After,
        revision: &str,
    ) -> Next {
        let gate = match after {
            After::Weight(_) => HookType::ConfirmTrafficIncrease,
            After::Promote => HookType::ConfirmPromotion,
            After::Iteration(_) => return self.step_to(settings, strategy, after),
        };
        match self.gate(settings, obs, gate, revision) {
            Gate::Open | Gate::Ask => self.step_to(settings, strategy, after),
            Gate::Closed(why) if gate == HookType::ConfirmPromotion => {
                self.promoted(
                    conditions::UNKNOWN,
                    Phase::WaitingPromotion,
                    "Canary is waiting for promotion approval",
                );
                self.hold(
                    settings,
                    (Phase::WaitingPromotion, gate, revision),
                    "waiting for promotion approval",
                    &why,
                )
            }
            Gate::Closed(why) => self.hold(
                settings,
                (Phase::Progressing, gate, revision),
                "waiting for traffic increase approval",
                &why,
            ),
        }
    }

    fn step_to(&mut self, settings: &Settings, strategy: &Strategy<'_>, after: After) -> Next {
        match after {
            After::Weight(w) => self.advance(settings, w),
            After::Iteration(i) => self.iterate(settings, strategy, i),
            After::Promote => {
                if strategy.switches_at_promotion() {
                    self.status.canary_weight = 100;
                    self.normal(
                        reasons::ROUTE_CANARY,
                        "Routing all traffic to canary".into(),
                    );
                }
                self.promote()
            }
        }
    }

    /// Starts iteration `i` (1-based): the previous one passed its checks.
    fn iterate(&mut self, settings: &Settings, strategy: &Strategy<'_>, i: i32) -> Next {
        self.step_moved();
        self.status.iterations = i;
        self.status.step_started_at = Some(self.now);
        if i > 1 {
            let total = strategy.iterations().unwrap_or(i);
            self.normal(
                reasons::ADVANCE,
                format!(
                    "Advance {} canary iteration {}/{total}",
                    self.who.canary(),
                    i - 1
                ),
            );
        }
        Next::At(self.now + settings.interval)
    }

    fn advance(&mut self, settings: &Settings, weight: i32) -> Next {
        self.step_moved();
        self.status.canary_weight = weight;
        self.status.step_started_at = Some(self.now);
        self.normal(
            reasons::ADVANCE,
            format!("Advance {} canary weight {weight}", self.who.canary()),
        );
        Next::At(clock::after(self.now, settings.interval))
    }

    fn failed_check(&mut self, settings: &Settings, failed: Vec<String>) -> Next {
        self.status.failed_checks = self.status.failed_checks.saturating_add(1);
        self.status.last_failed_check = failed.first().cloned();
        for message in failed {
            self.warning(reasons::HALT, message);
        }
        if self.status.failed_checks >= settings.threshold {
            let msg = format!(
                "Rolling back {} failed checks threshold reached {}",
                self.who.canary(),
                self.status.failed_checks
            );
            return self.rollback(msg);
        }
        Next::At(clock::after(self.now, settings.interval))
    }

    pub(super) fn rollback(&mut self, message: String) -> Next {
        self.step_moved();
        self.warning(reasons::ROLLBACK, message);
        self.warning(
            reasons::FAILED,
            format!("Canary failed! Scaling down {}", self.who.target()),
        );
        self.set_phase(Phase::Failed);
        self.status.canary_weight = 0;
        self.status.iterations = 0;
        self.end_session();
        self.status.waiting_since = None;
        self.promoted(
            conditions::FALSE,
            Phase::Failed,
            "Canary analysis failed, Deployment scaled to zero.",
        );
        Next::Idle
    }
}

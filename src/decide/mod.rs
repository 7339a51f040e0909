//! The decision: a pure function of (spec, status, observations, now) that returns the next
//! status, the events that explain the transition, and when to look again.
//!
//! It never does IO and never reads the clock. The managed objects are derived from the
//! status it returns (see [`crate::build`] and `controller::converge`), so the status is the
//! single record of intent: recorded first, then carried out, and carried out again after a
//! restart. That is what keeps a killed serin from losing or repeating a step.

mod settings;
mod unsupported;
pub mod verdict;

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};

use crate::api::{CanaryStatus, MetricStatus, Phase, Verdict, conditions};
pub use settings::{Settings, SpecError};
pub use unsupported::unsupported_fields;

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
}

/// Everything observed for one reconcile.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    pub target: Option<Workload>,
    pub primary: Option<Workload>,
    /// Results of the metric checks; present only after the decision asked for them.
    pub checks: Option<Vec<MetricStatus>>,
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
    /// An analysis step is due: run the metric checks and decide again with them.
    RunChecks,
}

/// The outcome of a decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub status: CanaryStatus,
    pub events: Vec<Note>,
    pub next: Next,
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
            d.invalid("InvalidSpec", &e.to_string());
            return d.finish(Next::Idle);
        }
    };
    if suspended {
        return d.finish(Next::Idle);
    }
    let Some(target) = &obs.target else {
        let msg = format!("target Deployment {} not found", who.target());
        d.invalid("TargetNotFound", &msg);
        return d.finish(Next::Idle);
    };
    d.status.remove_condition(conditions::VALID);
    let next = match status.phase() {
        Phase::Initializing => d.initializing(settings, obs.primary.as_ref()),
        Phase::Initialized | Phase::Succeeded | Phase::Failed | Phase::Waiting => d.idle(target),
        Phase::Progressing | Phase::WaitingPromotion => d.progressing(settings, target, obs),
        Phase::Promoting => d.promoting(settings, target, obs.primary.as_ref()),
        Phase::Finalising => d.finalising(settings, target),
        Phase::Terminating | Phase::Terminated => Next::Idle,
    };
    d.finish(next)
}

/// A decision being built: the next status and its events.
struct Step<'a> {
    who: &'a Identity,
    status: CanaryStatus,
    events: Vec<Note>,
    now: DateTime<Utc>,
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
        }
    }

    fn finish(self, next: Next) -> Decision {
        Decision {
            status: self.status,
            events: self.events,
            next,
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
            .is_some_and(|c| c.message == message && c.status == "False");
        let generation = self.who.generation;
        self.status.set_condition(
            conditions::VALID,
            "False",
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
            "False",
            "UnsupportedFields",
            &message,
            generation,
            self.now,
        );
        if !same {
            self.warning("UnsupportedFields", message);
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
                let deadline = since + settings.progress_deadline;
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

    fn initializing(&mut self, settings: &Settings, primary: Option<&Workload>) -> Next {
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
                    "True",
                    Phase::Initialized,
                    "Deployment initialization completed.",
                );
                self.normal(
                    "Initialized",
                    format!("Initialization done! {}", self.who.canary()),
                );
                Next::Idle
            }
            Err(WaitOutcome::Waiting(next)) => next,
            Err(WaitOutcome::Failed(why)) => {
                let message = format!(
                    "{}-primary.{} not ready: {why}",
                    self.who.target, self.who.namespace
                );
                let same = self
                    .status
                    .condition(conditions::PROMOTED)
                    .is_some_and(|c| c.message == message);
                self.promoted("False", Phase::Initializing, &message);
                if !same {
                    self.warning("PrimaryNotReady", message);
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

    fn idle(&mut self, target: &Workload) -> Next {
        if !self.is_new_revision(target) {
            return Next::Idle;
        }
        self.start_run(target);
        self.normal(
            "NewRevision",
            format!("New revision detected! Scaling up {}", self.who.target()),
        );
        self.promoted(
            "Unknown",
            Phase::Progressing,
            "New revision detected, progressing canary analysis.",
        );
        Next::Idle // the canary's rollout wakes us; the deadline is set on the first wait
    }

    /// The target went back to the promoted template during a run: the primary already
    /// runs it, so there is nothing to analyse; traffic returns to the primary.
    fn reverted(&mut self) -> Next {
        self.set_phase(Phase::Succeeded);
        self.status.canary_weight = 0;
        self.status.waiting_since = None;
        self.status.last_applied_spec = self.status.last_promoted_spec.clone();
        self.promoted(
            "True",
            Phase::Succeeded,
            "The target is back on the promoted revision.",
        );
        self.normal(
            "Reverted",
            format!(
                "{} is back on the promoted revision: run ended, all traffic to primary",
                self.who.target()
            ),
        );
        Next::Idle
    }

    /// The target changed during a run: analyse the new revision from the start.
    fn restart(&mut self, target: &Workload) -> Next {
        self.start_run(target);
        self.normal(
            "RestartAnalysis",
            format!(
                "New revision detected! Restarting analysis for {}",
                self.who.target()
            ),
        );
        Next::Idle
    }

    fn start_run(&mut self, target: &Workload) {
        self.set_phase(Phase::Progressing);
        self.status.canary_weight = 0;
        self.status.failed_checks = 0;
        self.status.iterations = 0;
        self.status.last_applied_spec = Some(target.revision.clone());
        self.status.step_started_at = Some(self.now);
        self.status.run_started_at = Some(self.now);
        self.status.waiting_since = None;
        self.status.last_failed_check = None;
        self.status.metrics.clear();
    }

    fn progressing(&mut self, settings: &Settings, target: &Workload, obs: &Observation) -> Next {
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
        if settings.skip_analysis {
            return self.promote();
        }
        let weight = self.status.canary_weight;
        if weight == 0 {
            let first = settings.steps.first().copied().unwrap_or(100);
            self.normal(
                "StartAnalysis",
                format!("Starting canary analysis for {}", self.who.target()),
            );
            return self.advance(settings, first);
        }
        let started = self.status.step_started_at.unwrap_or(self.now);
        let due = started + settings.interval;
        if self.now < due {
            return Next::At(due);
        }
        let Some(checks) = &obs.checks else {
            return Next::RunChecks;
        };
        self.status.metrics = checks.clone();
        self.status.step_started_at = Some(self.now);
        let failed: Vec<String> = checks
            .iter()
            .filter_map(|c| verdict::explain(c, &self.who.canary(), &self.who.target()))
            .collect();
        if !failed.is_empty() {
            return self.failed_check(settings, failed);
        }
        match settings.next_weight(weight) {
            Some(w) => self.advance(settings, w),
            None => self.promote(),
        }
    }

    fn advance(&mut self, settings: &Settings, weight: i32) -> Next {
        self.status.canary_weight = weight;
        self.status.step_started_at = Some(self.now);
        self.normal(
            "Advance",
            format!("Advance {} canary weight {weight}", self.who.canary()),
        );
        Next::At(self.now + settings.interval)
    }

    fn failed_check(&mut self, settings: &Settings, failed: Vec<String>) -> Next {
        self.status.failed_checks += 1;
        self.status.last_failed_check = failed.first().cloned();
        for message in failed {
            self.warning("Halt", message);
        }
        if self.status.failed_checks >= settings.threshold {
            let msg = format!(
                "Rolling back {} failed checks threshold reached {}",
                self.who.canary(),
                self.status.failed_checks
            );
            return self.rollback(msg);
        }
        Next::At(self.now + settings.interval)
    }

    fn promote(&mut self) -> Next {
        self.set_phase(Phase::Promoting);
        self.status.step_started_at = Some(self.now);
        self.status.waiting_since = Some(self.now);
        self.promoted(
            "Unknown",
            Phase::Promoting,
            "Canary analysis completed, promoting.",
        );
        self.normal(
            "Promote",
            format!(
                "Copying {} template spec to {}-primary.{}",
                self.who.target(),
                self.who.target,
                self.who.namespace
            ),
        );
        Next::Idle // the primary's rollout wakes us
    }

    fn rollback(&mut self, message: String) -> Next {
        self.warning("RollBack", message);
        self.warning(
            "Failed",
            format!("Canary failed! Scaling down {}", self.who.target()),
        );
        self.set_phase(Phase::Failed);
        self.status.canary_weight = 0;
        self.status.waiting_since = None;
        self.promoted(
            "False",
            Phase::Failed,
            "Canary analysis failed, Deployment scaled to zero.",
        );
        Next::Idle
    }

    fn promoting(
        &mut self,
        settings: &Settings,
        target: &Workload,
        primary: Option<&Workload>,
    ) -> Next {
        let applied = self.status.last_applied_spec.clone();
        let copied = primary.is_some_and(|p| Some(&p.revision) == applied.as_ref());
        if !copied && Some(&target.revision) != applied.as_ref() {
            // The target changed before its template reached the primary: that revision
            // is gone, so analyse the new one instead of promoting something unanalysed.
            return self.restart(target);
        }
        let rollout = match primary {
            Some(p) if copied => p.rollout.clone(),
            _ => Rollout::InProgress("template not copied to the primary yet".into()),
        };
        match self.wait(&rollout, settings) {
            Ok(()) => {}
            Err(WaitOutcome::Waiting(next)) => return next,
            Err(WaitOutcome::Failed(why)) => return self.failed_promotion(target, why),
        }
        if settings.promotion_step == 0 {
            self.status.canary_weight = 0;
            self.normal("RoutePrimary", "Routing all traffic to primary".into());
            self.set_phase(Phase::Finalising);
            return Next::Idle;
        }
        let started = self.status.step_started_at.unwrap_or(self.now);
        if self.now < started + settings.interval {
            return Next::At(started + settings.interval);
        }
        let weight = (self.status.canary_weight - settings.promotion_step).max(0);
        self.status.canary_weight = weight;
        self.status.step_started_at = Some(self.now);
        self.normal(
            "Advance",
            format!(
                "Advance {} primary weight {}",
                self.who.canary(),
                100 - weight
            ),
        );
        if weight == 0 {
            self.set_phase(Phase::Finalising);
            return Next::Idle;
        }
        Next::At(self.now + settings.interval)
    }

    /// The primary did not take the new template in time. Traffic goes to whichever
    /// workload is healthy: the canary, which passed its analysis, if it is ready.
    fn failed_promotion(&mut self, target: &Workload, why: String) -> Next {
        self.warning(
            "PromotionFailed",
            format!(
                "Promotion of {} failed, primary not ready: {why}",
                self.who.target()
            ),
        );
        let canary_ready = target.rollout == Rollout::Complete && target.replicas > 0;
        self.set_phase(Phase::Failed);
        self.status.waiting_since = None;
        self.status.canary_weight = if canary_ready { 100 } else { 0 };
        let message = if canary_ready {
            "Promotion failed: the primary is not ready; all traffic stays on the canary."
        } else {
            "Promotion failed: neither the primary nor the canary is ready."
        };
        self.status.last_failed_check = Some(message.to_string());
        self.promoted("False", Phase::Failed, message);
        Next::Idle
    }

    fn finalising(&mut self, settings: &Settings, target: &Workload) -> Next {
        if target.replicas > 0 {
            return Next::Idle; // the scale-down wakes us
        }
        self.set_phase(Phase::Succeeded);
        self.status.canary_weight = 0;
        self.status.last_promoted_spec = self.status.last_applied_spec.clone();
        self.promoted(
            "True",
            Phase::Succeeded,
            "Canary analysis completed successfully, promotion finished.",
        );
        let message = if settings.skip_analysis {
            format!(
                "Promotion completed! Canary analysis was skipped for {}",
                self.who.target()
            )
        } else {
            format!("Promotion completed! Scaling down {}", self.who.target())
        };
        self.normal("Succeeded", message);
        Next::Idle
    }
}

enum WaitOutcome {
    Waiting(Next),
    Failed(String),
}

/// Whether every check passed (used by the telemetry).
pub fn all_passed(checks: &[MetricStatus]) -> bool {
    checks.iter().all(|c| c.verdict == Verdict::Pass)
}

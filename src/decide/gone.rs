//! The target was deleted during a run. The canary Service then selects no pods, so
//! any traffic still sent to it fails: all traffic goes back to the primary at once and
//! the run ends Failed, with a reason that says the target is gone. Outside a run a
//! missing target is only reported (`TargetNotFound`) and nothing is touched.

use super::*;

/// Whether `phase` is inside a run, where the canary may be receiving traffic.
pub(super) fn in_run(phase: Phase) -> bool {
    matches!(
        phase,
        Phase::Progressing | Phase::WaitingPromotion | Phase::Promoting | Phase::Finalising
    )
}

impl Step<'_> {
    /// Ends the run because the target is gone; returns the plan that routes everything
    /// to the primary and leaves the workloads alone.
    pub(super) fn target_gone(&mut self, settings: &Settings) -> Plan {
        let message = format!(
            "Rolling back {}: target Deployment {} was deleted during the run; all traffic to {}",
            self.who.canary(),
            self.who.target(),
            self.who.primary()
        );
        self.warning(reasons::ROLLBACK, message.clone());
        self.status.canary_weight = 0;
        self.status.waiting_since = None;
        self.status.last_failed_check = Some(message.clone());
        self.set_phase(Phase::Failed);
        self.promoted(conditions::FALSE, Phase::Failed, &message);
        Plan {
            copy_to_primary: None,
            apex_on_primary: true,
            create_routing: true,
            split: settings.strategy().split(&self.status, 0, false),
            canary_replicas: None,
            canary_in_use: false,
        }
    }
}

//! Promotion: copying the analysed template to the primary, moving traffic back to it,
//! and finalising. The meaning of a failed promotion (all traffic kept on the canary) is
//! defined here and only here; the plan asks [`keeps_canary`].

use super::*;

/// The canary weight of a failed promotion that left all traffic on the canary.
const ALL_ON_CANARY: i32 = 100;

/// Whether a failed promotion left all traffic on the canary: then the canary keeps its
/// replicas and the apex Service keeps selecting it.
pub(crate) fn keeps_canary(status: &CanaryStatus) -> bool {
    status.phase() == Phase::Failed && status.canary_weight >= ALL_ON_CANARY
}

impl Step<'_> {
    pub(super) fn promote(&mut self) -> Next {
        self.step_moved();
        self.set_phase(Phase::Promoting);
        self.status.step_started_at = Some(self.now);
        self.status.waiting_since = Some(self.now);
        self.promoted(
            conditions::UNKNOWN,
            Phase::Promoting,
            "Canary analysis completed, promoting.",
        );
        self.normal(
            reasons::PROMOTE,
            format!(
                "Copying {} template spec to {}",
                self.who.target(),
                self.who.primary()
            ),
        );
        Next::Idle // the primary's rollout wakes us
    }

    pub(super) fn promoting(
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
            self.normal(
                reasons::ROUTE_PRIMARY,
                "Routing all traffic to primary".into(),
            );
            self.set_phase(Phase::Finalising);
            return Next::Idle;
        }
        let started = self.status.step_started_at.unwrap_or(self.now);
        let due = clock::after(started, settings.interval);
        if self.now < due {
            return Next::At(due);
        }
        let weight = self
            .status
            .canary_weight
            .saturating_sub(settings.promotion_step)
            .clamp(0, 100);
        self.status.canary_weight = weight;
        self.status.step_started_at = Some(self.now);
        self.normal(
            reasons::ADVANCE,
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
        Next::At(clock::after(self.now, settings.interval))
    }

    /// The primary did not take the new template in time. Traffic goes to whichever
    /// workload is healthy: the canary, which passed its analysis, if it is ready.
    fn failed_promotion(&mut self, target: &Workload, why: String) -> Next {
        self.warning(
            reasons::PROMOTION_FAILED,
            format!(
                "Promotion of {} failed, primary not ready: {why}",
                self.who.target()
            ),
        );
        let canary_ready = target.rollout == Rollout::Complete && target.replicas > 0;
        self.set_phase(Phase::Failed);
        self.status.waiting_since = None;
        self.status.canary_weight = if canary_ready { ALL_ON_CANARY } else { 0 };
        let message = if canary_ready {
            "Promotion failed: the primary is not ready; all traffic stays on the canary."
        } else {
            "Promotion failed: neither the primary nor the canary is ready."
        };
        self.status.last_failed_check = Some(message.to_string());
        self.promoted(conditions::FALSE, Phase::Failed, message);
        Next::Idle
    }

    pub(super) fn finalising(&mut self, settings: &Settings, target: &Workload) -> Next {
        if target.replicas > 0 {
            return Next::Idle; // the scale-down wakes us
        }
        self.set_phase(Phase::Succeeded);
        self.status.canary_weight = 0;
        self.end_session();
        self.status.last_promoted_spec = self.status.last_applied_spec.clone();
        self.promoted(
            conditions::TRUE,
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
        self.normal(reasons::SUCCEEDED, message);
        Next::Idle
    }
}

//! `Canary.status`: Flagger's fields plus what makes serin explainable and restart-safe
//! (when the current step began, each metric's last verdict, the last failed check).
//!
//! Everything serin needs to resume after a restart lives here; the decision reads it and
//! writes the next one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Phase of a Canary, Flagger's names.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum Phase {
    /// Creating the primary and the routing objects.
    #[default]
    Initializing,
    /// Primary and routing in place, target scaled to zero; waiting for a new revision.
    Initialized,
    /// A new revision waits for its `confirm-rollout` gate.
    Waiting,
    /// A new revision is being analysed.
    Progressing,
    /// The analysis reached its last step and waits for its `confirm-promotion` gate.
    WaitingPromotion,
    /// The new revision is being copied into the primary and traffic moved back to it.
    Promoting,
    /// Traffic is back on the primary; the canary is being scaled down.
    Finalising,
    /// The last revision was promoted.
    Succeeded,
    /// The last revision was rolled back.
    Failed,
    /// The Canary is being deleted and the original objects restored.
    Terminating,
    /// The original objects were restored.
    Terminated,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Initializing => "Initializing",
            Phase::Initialized => "Initialized",
            Phase::Waiting => "Waiting",
            Phase::Progressing => "Progressing",
            Phase::WaitingPromotion => "WaitingPromotion",
            Phase::Promoting => "Promoting",
            Phase::Finalising => "Finalising",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
            Phase::Terminating => "Terminating",
            Phase::Terminated => "Terminated",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Observed state of a Canary.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStatus {
    /// Current phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// Percent of traffic routed to the canary.
    #[serde(default)]
    pub canary_weight: i32,
    /// Failed checks of the current run.
    #[serde(default)]
    pub failed_checks: i32,
    /// A/B testing and blue/green: the iteration under way (1-based; 0 before the analysis
    /// starts and after a rollback).
    #[serde(default)]
    pub iterations: i32,
    /// Session affinity: the canary's cookie (`name=value`) of the current run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_affinity_cookie: Option<String>,
    /// Session affinity: the cookie of the last run, expired on the clients that send it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_session_affinity_cookie: Option<String>,
    /// Revision hash of the target's pod template last seen by the analysis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_spec: Option<String>,
    /// Revision hash of the pod template last promoted into the primary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_promoted_spec: Option<String>,
    /// When the phase last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<DateTime<Utc>>,
    /// Conditions; type `Promoted` as in Flagger.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<CanaryCondition>,
    /// Generation of the spec this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the current step (or the current wait: canary ready, primary rollout) began.
    /// The next step is due one interval later; a wait fails one progress deadline later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_started_at: Option<DateTime<Utc>>,
    /// When the current (or last) rollout of a new revision began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_started_at: Option<DateTime<Utc>>,
    /// When the current wait (canary ready, primary rollout) began; cleared when it ends.
    /// The wait fails `progressDeadlineSeconds` after this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_since: Option<DateTime<Utc>>,
    /// Why the last check failed, with its numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failed_check: Option<String>,
    /// Last result of each metric check.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricStatus>,
    /// Last call of each webhook for the current revision: a restart neither calls a
    /// passed gate or pre-rollout hook again nor forgets that a gate was opened.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<WebhookStatus>,
    /// serin: consecutive checks whose query errored in this run; absent when the last
    /// check got answers. Errored checks hold the step instead of failing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_errors: Option<MetricErrors>,
    /// serin: the events of the latest transitions, written with them, so that each is
    /// published exactly once even when serin stops before publishing it.
    #[serde(default, skip_serializing_if = "super::EventLog::is_empty")]
    pub event_log: super::EventLog,
    /// serin: the evidence checks of the current run (holds for want of traffic, the
    /// judges' counters and e-values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<super::EvidenceStatus>,
    /// serin: the run is paused by a person (`kubectl serin pause`) and holds its step
    /// until resumed; absent otherwise. `spec.suspend` is left to Git.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<super::PauseStatus>,
    /// serin: the gate the run holds at, waiting for an approval; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awaiting: Option<super::GateStatus>,
    /// serin: the gates people opened for the current revision (`kubectl serin approve`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub approvals: Vec<super::ApprovalStatus>,
    /// serin: the last CanaryActions decided on, oldest first (at most 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub actions: Vec<super::ActionRecord>,
}

/// Last call of one webhook.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookStatus {
    /// Name of the webhook.
    pub name: String,
    /// Its type, e.g. `pre-rollout`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Revision (the payload's `checksum`) the call was made for.
    pub revision: String,
    /// Whether it answered 200-202.
    pub passed: bool,
    /// What happened, e.g. `HTTP 403: Forbidden`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// When it was last called.
    pub last_call: DateTime<Utc>,
}

/// Consecutive errored checks: how many, since when, and the last cause.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricErrors {
    /// Checks in a row whose query errored.
    #[schemars(range(min = 0, max = 2147483647))]
    pub count: i32,
    /// When the first of them was made.
    pub since: DateTime<Utc>,
    /// The last error, naming its cause.
    #[schemars(length(max = 4096))]
    pub last: String,
}

/// Verdict of one metric check.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub enum Verdict {
    /// The value is within its range.
    Pass,
    /// The value is outside its range.
    Fail,
    /// The query returned nothing (or NaN): usually no traffic reached the canary.
    NoData,
    /// The query could not be run (server unreachable, bad query, bad template).
    Error,
    /// serin: too few canary requests for the check to decide; the step holds.
    Insufficient,
}

/// Last result of one metric check.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricStatus {
    /// Metric name.
    pub name: String,
    /// Value returned by the query, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Smallest accepted value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Largest accepted value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Verdict of the check.
    pub verdict: Verdict,
    /// The query as sent.
    pub query: String,
    /// Explanation, e.g. the error of a failed query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the check ran.
    pub checked_at: DateTime<Utc>,
    /// serin: the metric's mode, when not `gate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<super::MetricMode>,
    /// serin: canary requests the check saw, when it needs a minimum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_seen: Option<f64>,
    /// serin: canary requests the check needs before it may decide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_needed: Option<f64>,
}

/// A status condition, Flagger's shape plus `observedGeneration`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryCondition {
    /// Condition type, e.g. `Promoted`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Machine-readable reason (for `Promoted`: the phase).
    #[serde(default)]
    pub reason: String,
    /// Human-readable explanation.
    #[serde(default)]
    pub message: String,
    /// When the condition was last written with a change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<DateTime<Utc>>,
    /// When `status` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<DateTime<Utc>>,
    /// Generation of the spec the condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl CanaryStatus {
    /// The phase, `Initializing` when none was recorded yet.
    pub fn phase(&self) -> Phase {
        self.phase.unwrap_or_default()
    }

    pub fn condition(&self, type_: &str) -> Option<&CanaryCondition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    /// Sets a condition, keeping its transition time when the status is unchanged and
    /// leaving everything untouched when nothing changed (so no write follows).
    pub fn set_condition(
        &mut self,
        type_: &str,
        status: &str,
        reason: &str,
        message: &str,
        generation: Option<i64>,
        now: DateTime<Utc>,
    ) {
        if let Some(c) = self.conditions.iter_mut().find(|c| c.type_ == type_) {
            if c.status == status
                && c.reason == reason
                && c.message == message
                && c.observed_generation == generation
            {
                return;
            }
            if c.status != status {
                c.last_transition_time = Some(now);
            }
            c.status = status.to_string();
            c.reason = reason.to_string();
            c.message = message.to_string();
            c.last_update_time = Some(now);
            c.observed_generation = generation;
            return;
        }
        self.conditions.push(CanaryCondition {
            type_: type_.to_string(),
            status: status.to_string(),
            reason: reason.to_string(),
            message: message.to_string(),
            last_update_time: Some(now),
            last_transition_time: Some(now),
            observed_generation: generation,
        });
    }

    pub fn remove_condition(&mut self, type_: &str) {
        self.conditions.retain(|c| c.type_ != type_);
    }
}

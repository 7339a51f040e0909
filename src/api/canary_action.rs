//! The `CanaryAction` kind: one request by a person to steer one Canary's rollout.
//!
//! Why an object of its own, and not a field or annotation on the Canary:
//! - GitOps tools own the Canary's spec (and revert what Git does not say); an action is
//!   not in Git, so Argo CD and Flux leave it alone (they only track what they applied).
//! - RBAC grants `create canaryactions` separately from `update canaries`: an operator may
//!   approve or abort without being allowed to change the analysis.
//! - The API server can vouch for who asked: the chart's ValidatingAdmissionPolicy refuses
//!   an action whose `spec.requestedBy` is not `request.userInfo.username`.
//! - It survives a restart of serin (it is stored until serin has applied it), and it is
//!   idempotent (serin records each applied action's uid in the Canary's status).
//!
//! An action names the revision it was meant for (`spec.revision`, the Canary's
//! `status.lastAppliedSpec` the person saw): an approval of revision A never opens the gate
//! of revision B. The spec is immutable once created.

use chrono::{DateTime, Utc};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// A person's request to steer one Canary: approve, abort, pause, resume, retry or
/// promote. Created by `kubectl serin`, applied and then cleaned up by serin.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "serin.dev",
    version = "v1beta1",
    kind = "CanaryAction",
    namespaced,
    status = "CanaryActionStatus",
    shortname = "cact",
    category = "serin",
    printcolumn = r#"{"name":"Canary","type":"string","jsonPath":".spec.canary"}"#,
    printcolumn = r#"{"name":"Action","type":"string","jsonPath":".spec.action"}"#,
    printcolumn = r#"{"name":"By","type":"string","jsonPath":".spec.requestedBy"}"#,
    printcolumn = r#"{"name":"Outcome","type":"string","jsonPath":".status.outcome"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self == oldSelf").message("a CanaryAction cannot be changed; create a new one"))]
#[x_kube(validation = Rule::new("!(self.action in ['abort', 'promote']) || (has(self.reason) && size(self.reason) > 0)").message("abort and promote need a reason"))]
#[x_kube(validation = Rule::new("self.action != 'promote' || (has(self.skipAnalysis) && self.skipAnalysis)").message("promote skips the analysis: set skipAnalysis: true to say so"))]
pub struct CanaryActionSpec {
    /// Name of the Canary, in the action's namespace.
    #[schemars(length(min = 1, max = 253))]
    pub canary: String,
    /// What to do.
    pub action: ActionKind,
    /// The revision the action is meant for: the Canary's `status.lastAppliedSpec` when
    /// the person acted. An action for another revision than the one under analysis is
    /// refused (its outcome says so). Empty for pause and resume, which apply to the
    /// Canary whatever its revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub revision: Option<String>,
    /// Why; shown in the Canary's status and event. Required for abort and promote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub reason: Option<String>,
    /// Who asked: the user name the API server knows the requester by (`kubectl serin`
    /// asks the API server with a SelfSubjectReview). Where the chart's admission policy
    /// is installed the API server refuses any other value; elsewhere it is self-declared.
    #[schemars(length(min = 1, max = 253))]
    pub requested_by: String,
    /// For promote: skip the remaining analysis. Must be true for promote (explicit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_analysis: Option<bool>,
}

/// The actions a person can take on a rollout.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    /// Open the current revision's open gate (confirm-rollout, confirm-traffic-increase
    /// or confirm-promotion, or serin's own manual approval).
    #[default]
    Approve,
    /// Roll the current revision back now.
    Abort,
    /// Freeze the rollout at its current step (without touching `spec.suspend`).
    Pause,
    /// Go on after a pause; the next step comes one interval later.
    Resume,
    /// Analyse a failed revision again.
    Retry,
    /// Promote the current revision now, skipping the remaining analysis.
    Promote,
}

impl ActionKind {
    /// The lower-case name, as written in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Approve => "approve",
            ActionKind::Abort => "abort",
            ActionKind::Pause => "pause",
            ActionKind::Resume => "resume",
            ActionKind::Retry => "retry",
            ActionKind::Promote => "promote",
        }
    }
}

/// What became of an action; written by serin once.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryActionStatus {
    /// `Applied` or `Refused`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<ActionOutcome>,
    /// In words: what serin did, or why it refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When serin applied or refused it (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
}

/// The outcome of an action.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum ActionOutcome {
    /// serin carried it out.
    Applied,
    /// serin did not (wrong revision, nothing to approve, no such Canary, ...).
    Refused,
}

/// Most actions kept in a Canary's `status.actions`: enough for `kubectl serin status` to
/// show the recent history and for serin to recognise an action it already decided (an
/// action is deleted soon after it is decided, long before ten newer ones arrive).
pub const ACTIONS_KEPT: usize = 10;

/// A Canary's rollout frozen by a person (`kubectl serin pause`): no step, no promotion,
/// no rollback until resumed. Kept in status, so it holds across restarts of serin.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PauseStatus {
    /// Who paused (the action's `requestedBy`).
    #[schemars(length(max = 253))]
    pub by: String,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub reason: Option<String>,
    /// When serin applied the pause.
    pub since: DateTime<Utc>,
    /// The uid of the CanaryAction that paused.
    #[schemars(length(max = 64))]
    pub action: String,
}

/// A gate the run holds at, waiting for a person (or its webhook) to open it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GateStatus {
    /// `confirm-rollout`, `confirm-traffic-increase` or `confirm-promotion`.
    #[schemars(length(max = 64))]
    pub gate: String,
    /// The revision the gate belongs to: an approval must name this revision.
    #[schemars(length(max = 64))]
    pub revision: String,
    /// Whether it waits for serin's own approval (`analysis.manualApproval`) rather than
    /// for a webhook only.
    #[serde(default)]
    pub manual: bool,
    /// Why it is closed, e.g. the webhook's answer.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 1024))]
    pub message: String,
    /// Since when the run holds at it.
    pub since: DateTime<Utc>,
}

/// A gate opened by a person for one revision.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalStatus {
    /// The gate opened.
    #[schemars(length(max = 64))]
    pub gate: String,
    /// The revision it was opened for; it opens nothing for any other.
    #[schemars(length(max = 64))]
    pub revision: String,
    /// Who approved.
    #[schemars(length(max = 253))]
    pub by: String,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub reason: Option<String>,
    /// When serin applied it.
    pub at: DateTime<Utc>,
    /// The uid of the CanaryAction.
    #[schemars(length(max = 64))]
    pub action: String,
}

/// One CanaryAction serin decided on: who asked what, when, why, and what became of it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionRecord {
    /// The CanaryAction's uid: an action whose uid is here is never applied again.
    #[schemars(length(max = 64))]
    pub uid: String,
    /// The CanaryAction's name.
    #[schemars(length(max = 253))]
    pub name: String,
    /// What was asked.
    pub action: ActionKind,
    /// Who asked.
    #[schemars(length(max = 253))]
    pub by: String,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub reason: Option<String>,
    /// The revision it was meant for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub revision: Option<String>,
    /// Applied or refused.
    pub outcome: ActionOutcome,
    /// What serin did, or why it refused.
    #[schemars(length(max = 1024))]
    pub message: String,
    /// When serin decided.
    pub at: DateTime<Utc>,
}

/// A gate serin keeps closed until a person approves it (`analysis.manualApproval`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ManualGate {
    /// Before a new revision is scaled up.
    ConfirmRollout,
    /// Before each weight increase.
    ConfirmTrafficIncrease,
    /// Before promotion.
    ConfirmPromotion,
}

impl ManualGate {
    /// The gate's name, as the webhook type of the same gate.
    pub fn as_str(self) -> &'static str {
        match self {
            ManualGate::ConfirmRollout => "confirm-rollout",
            ManualGate::ConfirmTrafficIncrease => "confirm-traffic-increase",
            ManualGate::ConfirmPromotion => "confirm-promotion",
        }
    }
}

//! The `serin.dev/v1beta1` API: `Canary`, `MetricTemplate`, `AlertProvider`, `CanaryAction`.
//!
//! Field names, defaults and meanings follow Flagger's `flagger.app/v1beta1`, so a
//! Flagger manifest moves over by changing its `apiVersion`. Fields serin does not
//! implement yet are still accepted by the schema (they are typed loosely, with
//! unknown fields preserved) and reported once through [`unsupported_fields`].
//!
//! This module owns the wire format only: no IO, no decisions.

// KubeSchema's derive generates `pub` helper items inside these private modules; the kinds
// themselves are re-exported below.
#[allow(unreachable_pub)]
mod alert_provider;
mod autoscaler;
#[allow(unreachable_pub)]
mod canary;
#[allow(unreachable_pub)]
mod canary_action;
pub mod duration;
mod event_log;
#[allow(unreachable_pub)]
mod gateway;
#[allow(unreachable_pub)]
mod http_match;
#[allow(unreachable_pub)]
mod judge;
mod metric_template;
mod refs;
mod schema;
#[allow(unreachable_pub)]
mod session_affinity;
mod status;
mod vocabulary;
#[allow(unreachable_pub)]
mod webhook;

pub use alert_provider::{
    AlertProvider, AlertProviderSpec, AlertProviderType, DEFAULT_ALERT_CHANNEL,
    DEFAULT_ALERT_USERNAME,
};
pub use autoscaler::{AutoscalerKind, AutoscalerRef, ScalerReplicas};
pub use canary::*;
pub use canary_action::{
    ACTIONS_KEPT, ActionKind, ActionOutcome, ActionRecord, ApprovalStatus, CanaryAction,
    CanaryActionSpec, CanaryActionStatus, GateStatus, ManualGate, PauseStatus,
};
pub use duration::{DurationError, parse_duration};
pub use event_log::{EventLog, MAX_UNPUBLISHED, RecordedEvent};
pub use gateway::GatewayRef;
pub use http_match::{HttpMatchRequest, StringMatch};
pub use judge::{
    EvidenceStatus, JudgeCompare, JudgeStatus, MAX_MIN_REQUESTS, MetricJudge, MetricMode,
};
pub use metric_template::{MetricTemplate, MetricTemplateProvider, MetricTemplateSpec, SecretRef};
pub use refs::TemplateRef;
pub use session_affinity::{DEFAULT_SESSION_MAX_AGE, SessionAffinity};
pub use status::*;
pub use vocabulary::{conditions, reasons};
pub use webhook::*;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

/// The API group of every serin kind.
pub const GROUP: &str = "serin.dev";

/// All CRDs serin serves, in the order `serin crd` prints them.
pub fn crds() -> Vec<CustomResourceDefinition> {
    use kube::CustomResourceExt;
    vec![
        Canary::crd(),
        MetricTemplate::crd(),
        AlertProvider::crd(),
        CanaryAction::crd(),
    ]
}

/// The CRDs as one multi-document YAML stream, as committed under `crds/`.
pub fn crds_yaml() -> Result<String, serde_saphyr::ser::Error> {
    let mut out = String::new();
    for crd in crds() {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(&crd)?);
    }
    Ok(out)
}

//! The body of a webhook call, as Flagger's `CanaryWebhookPayload`.
//!
//! Field names and order are Flagger's, so a receiver written for Flagger (the
//! loadtester, a chat bridge, an approval service) reads serin's calls unchanged.
//! `checksum` identifies the revision being rolled out: Flagger hashes the Canary's last
//! applied spec and tracked configs; serin sends its revision hash of the target's pod
//! template ([`crate::revision::revision_hash`]), which changes exactly when a new
//! revision starts, so receivers that key on it (deduplication, approvals) behave alike.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::Phase;

/// What a webhook receives.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct HookPayload {
    /// Name of the Canary.
    pub name: String,
    /// Namespace of the Canary.
    pub namespace: String,
    /// Phase of the Canary when the hook runs (`Progressing`, `Succeeded`, ...).
    pub phase: String,
    /// The revision being rolled out.
    pub checksum: String,
    /// The hook's metadata (for event hooks, with the event's fields); omitted when empty,
    /// as Flagger does.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// The payload of a gate, rollout, pre/post-rollout or rollback hook: the hook's own
/// metadata, unchanged.
pub fn payload(
    name: &str,
    namespace: &str,
    phase: Phase,
    checksum: &str,
    metadata: &BTreeMap<String, String>,
) -> HookPayload {
    HookPayload {
        name: name.to_owned(),
        namespace: namespace.to_owned(),
        phase: phase.as_str().to_owned(),
        checksum: checksum.to_owned(),
        metadata: metadata.clone(),
    }
}

/// The payload of an `event` hook: `eventMessage`, `eventType` (`Normal` or `Warning`)
/// and `timestamp` (milliseconds since the epoch, as text), plus the hook's own metadata
/// where it does not collide with those three (the event's fields win, as in Flagger).
/// The clock is a parameter so that the payload is a pure function.
#[allow(clippy::too_many_arguments)]
pub fn event_payload(
    name: &str,
    namespace: &str,
    phase: Phase,
    checksum: &str,
    metadata: &BTreeMap<String, String>,
    message: &str,
    event_type: &str,
    timestamp_millis: i64,
) -> HookPayload {
    let mut out = payload(name, namespace, phase, checksum, metadata);
    out.metadata.insert("eventMessage".into(), message.into());
    out.metadata.insert("eventType".into(), event_type.into());
    out.metadata
        .insert("timestamp".into(), timestamp_millis.to_string());
    out
}

//! `status.eventLog`: the events of a Canary's transitions, kept in the same status write
//! as the transition itself, so that an event survives a crash or a refused publish
//! between the status write and the event write.
//!
//! Event `n` of a Canary is published under a name derived from the Canary's uid and `n`
//! (see `controller::events`): publishing it twice is refused by the API server as
//! AlreadyExists, so each event goes out at most once, and an event still listed in
//! `unpublished` is published again after a restart.

use serde::{Deserialize, Serialize};

/// How many unpublished events the log keeps; beyond this (an events API refusing writes
/// for many transitions in a row) the oldest are dropped, with a log line.
pub const MAX_UNPUBLISHED: usize = 16;

/// The events recorded by this Canary's transitions.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventLog {
    /// How many events the transitions of this Canary recorded so far; the n-th is
    /// published as Event `<canary>.<uid prefix>.<n>`.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub recorded: i64,
    /// The recorded events not yet known to be published when this status was written
    /// (at most 16): serin publishes them, again after a restart, at most once each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub unpublished: Vec<RecordedEvent>,
}

impl EventLog {
    pub fn is_empty(&self) -> bool {
        self.recorded == 0 && self.unpublished.is_empty()
    }
}

/// One recorded event, as it is published.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordedEvent {
    /// Its number among the Canary's events (1-based).
    #[schemars(range(min = 1))]
    pub seq: i64,
    /// A Warning event (otherwise Normal).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub warning: bool,
    /// The event's reason, e.g. `Synced`.
    #[schemars(length(max = 128))]
    pub reason: String,
    /// The event's message.
    #[schemars(length(max = 1024))]
    pub message: String,
}

//! Transition events: each event a decision records is published exactly once, even when
//! serin stops (or the events API refuses the write) between the status write and the
//! event write.
//!
//! How, without an extra API write per step:
//! - the status write that records a transition also appends its events to
//!   `status.eventLog` (a counter and the events not yet known as published), so the
//!   event exists as soon as the transition does;
//! - event `n` of a Canary is created under the name [`name`] derives from the Canary's
//!   uid and `n`: a second create of the same event is refused as AlreadyExists, which
//!   counts as published, so an event goes out at most once;
//! - which events were published is remembered in memory ([`Published`]); the log drops
//!   them at the next status write that happens anyway. After a restart that memory is
//!   empty: the next reconcile publishes the log's events again, and the ones already out
//!   answer AlreadyExists. In steady state this costs no API call.
//!
//! The Event is the one kube-runtime's `Recorder` writes (`events.k8s.io/v1`, same
//! reporting controller and instance, `eventTime`, the message as note and action), so
//! `kubectl describe canary` and `kubectl get events` show it as before; only its name is
//! chosen, and it never becomes a series (each transition is its own event).

use std::collections::{BTreeSet, HashMap};
use std::sync::{LazyLock, Mutex};

use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::{Resource, ResourceExt};
use tracing::{info, warn};

use super::record::truncate;
use crate::api::{Canary, EventLog, MAX_UNPUBLISHED, RecordedEvent};
use crate::decide::Note;

/// The reporting controller of every event, as the `Recorder` serin used before.
pub(super) const CONTROLLER: &str = "serin";
/// Object names are DNS subdomains of at most 253 characters.
const MAX_NAME: usize = 253;

/// The name of event `seq` of the Canary `canary` whose uid is `uid`, e.g.
/// `podinfo.3f2a9c1e.0000000007`. The uid keeps a recreated Canary of the same name from
/// meeting the events of the one before; a long Canary name is cut to fit. The number is
/// zero-padded so that names sort in the order of the transitions: the API server lists
/// objects by name, and `kubectl describe` keeps that order for events with equal (or
/// no) deprecated timestamps, so `.10` must not come before `.2`.
pub fn name(canary: &str, uid: &str, seq: i64) -> String {
    let prefix: String = uid
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect::<String>()
        .to_ascii_lowercase();
    let suffix = format!(".{prefix}.{seq:010}");
    let room = MAX_NAME.saturating_sub(suffix.len());
    let mut head: &str = &canary[..canary.len().min(room)];
    // A cut name must still end with an alphanumeric character.
    head = head.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    format!("{head}{suffix}")
}

/// The log to write with a decision's status: the events still unpublished (those not
/// in `published`) followed by the decision's `notes`, numbered after the last recorded.
/// Keeps at most [`MAX_UNPUBLISHED`], dropping the oldest (returned, to be logged).
pub(crate) fn append(
    old: &EventLog,
    published: &BTreeSet<i64>,
    notes: &[Note],
) -> (EventLog, Vec<RecordedEvent>) {
    let mut unpublished: Vec<RecordedEvent> = old
        .unpublished
        .iter()
        .filter(|e| !published.contains(&e.seq))
        .cloned()
        .collect();
    let mut recorded = old.recorded.max(0);
    for note in notes {
        recorded = recorded.saturating_add(1);
        unpublished.push(RecordedEvent {
            seq: recorded,
            warning: note.warning,
            reason: note.reason.to_string(),
            // The API refuses notes over 1 KiB; status.metrics keeps the whole query.
            message: truncate(&note.message, 1024),
        });
    }
    let excess = unpublished.len().saturating_sub(MAX_UNPUBLISHED);
    let dropped = unpublished.drain(..excess).collect();
    (
        EventLog {
            recorded,
            unpublished,
        },
        dropped,
    )
}

/// The events of each Canary (by uid) known to be published since this process started.
#[derive(Default)]
pub(super) struct Published(Mutex<HashMap<String, BTreeSet<i64>>>);

impl Published {
    pub(super) fn of(&self, uid: &str) -> BTreeSet<i64> {
        self.0
            .lock()
            .map(|m| m.get(uid).cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    fn mark(&self, uid: &str, seq: i64) {
        if let Ok(mut m) = self.0.lock() {
            m.entry(uid.to_string()).or_default().insert(seq);
        }
    }

    /// Forgets what `log` no longer lists: the memory stays as small as the logs.
    pub(super) fn keep_only(&self, uid: &str, log: &EventLog) {
        if let Ok(mut m) = self.0.lock() {
            let listed: BTreeSet<i64> = log.unpublished.iter().map(|e| e.seq).collect();
            let empty = m.get_mut(uid).is_some_and(|set| {
                set.retain(|s| listed.contains(s));
                set.is_empty()
            });
            if empty {
                m.remove(uid);
            }
        }
    }
}

/// Publishes the events of `log` not known as published. Returns false when some could
/// not be written (they stay in the log; the caller retries soon).
pub(super) async fn publish(
    canary: &Canary,
    client: &kube::Client,
    published: &Published,
    log: &EventLog,
) -> bool {
    let uid = canary.uid().unwrap_or_default();
    let known = published.of(&uid);
    let mut all = true;
    for event in log.unpublished.iter().filter(|e| !known.contains(&e.seq)) {
        match create(canary, client, &uid, event).await {
            Ok(()) => published.mark(&uid, event.seq),
            Err(e) => {
                warn!(error = %e, seq = event.seq, reason = %event.reason, "could not publish event; retrying");
                all = false;
            }
        }
    }
    all
}

/// Creates the Event; AlreadyExists means it was published before.
async fn create(
    canary: &Canary,
    client: &kube::Client,
    uid: &str,
    event: &RecordedEvent,
) -> Result<(), kube::Error> {
    let ns = canary.namespace().unwrap_or_default();
    let api: Api<Event> = Api::namespaced(client.clone(), &ns);
    let object = Event {
        metadata: ObjectMeta {
            name: Some(name(&canary.name_any(), uid, event.seq)),
            namespace: Some(ns),
            ..Default::default()
        },
        type_: Some(if event.warning { "Warning" } else { "Normal" }.into()),
        reason: Some(event.reason.clone()),
        note: Some(event.message.clone()),
        // `action` is required and at most 128 bytes; the `Recorder` serin used before
        // put the message there too.
        action: Some(truncate(&event.message, 128)),
        event_time: Some(MicroTime(Timestamp::now())),
        regarding: Some(canary.object_ref(&())),
        reporting_controller: Some(CONTROLLER.into()),
        reporting_instance: Some(INSTANCE.clone()),
        ..Default::default()
    };
    match api.create(&PostParams::default(), &object).await {
        Ok(_) => {
            if event.warning {
                warn!(reason = %event.reason, "{}", event.message);
            } else {
                info!(reason = %event.reason, "{}", event.message);
            }
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

/// The reporting instance: the host name, as the `Recorder` reports it (the pod's name).
pub(super) static INSTANCE: LazyLock<String> = LazyLock::new(|| {
    hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| CONTROLLER.to_string())
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::reasons;

    fn note(message: &str) -> Note {
        Note {
            warning: false,
            reason: reasons::ADVANCE,
            message: message.into(),
        }
    }

    #[test]
    fn names_are_stable_valid_and_fit() {
        let uid = "3F2A9C1E-77aa-4bb0-9c1d-0123456789ab";
        assert_eq!(name("podinfo", uid, 7), "podinfo.3f2a9c1e.0000000007");
        assert!(
            name("podinfo", uid, 9) < name("podinfo", uid, 10),
            "names sort by number"
        );
        assert_eq!(name("podinfo", uid, 7), name("podinfo", uid, 7));
        assert_ne!(name("podinfo", uid, 7), name("podinfo", "99999999-x", 7));
        let long = format!("{}-b", "a".repeat(250));
        let cut = name(&long, uid, i64::MAX);
        assert!(cut.len() <= MAX_NAME, "{}", cut.len());
        assert!(cut.starts_with("aaaa") && cut.ends_with(&format!(".{}", i64::MAX)));
        assert!(!cut.contains("-."), "{cut}");
    }

    #[test]
    fn a_transition_appends_its_events_and_drops_the_published_ones() {
        let (log, dropped) = append(&EventLog::default(), &BTreeSet::new(), &[note("a")]);
        assert!(dropped.is_empty());
        assert_eq!(log.recorded, 1);
        assert_eq!(log.unpublished[0].seq, 1);
        // Event 1 was not published (a crash, a refused write): it stays, event 2 joins.
        let (log, _) = append(&log, &BTreeSet::new(), &[note("b")]);
        let seqs: Vec<i64> = log.unpublished.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 2]);
        // Both published: the next write with news lists only the new event.
        let (log, _) = append(&log, &BTreeSet::from([1, 2]), &[note("c")]);
        assert_eq!(log.recorded, 3);
        let seqs: Vec<i64> = log.unpublished.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [3]);
        // A write without events keeps the count.
        let (log, _) = append(&log, &BTreeSet::from([3]), &[]);
        assert_eq!((log.recorded, log.unpublished.len()), (3, 0));
    }

    #[test]
    fn the_log_stays_bounded() {
        let notes: Vec<Note> = (0..40).map(|i| note(&format!("step {i}"))).collect();
        let (log, dropped) = append(&EventLog::default(), &BTreeSet::new(), &notes);
        assert_eq!(log.unpublished.len(), MAX_UNPUBLISHED);
        assert_eq!(dropped.len(), 40 - MAX_UNPUBLISHED);
        assert_eq!(log.unpublished.last().map(|e| e.seq), Some(40));
        assert_eq!(log.recorded, 40);
    }

    #[test]
    fn memory_forgets_what_the_log_no_longer_lists() {
        let p = Published::default();
        p.mark("u", 1);
        p.mark("u", 2);
        let (log, _) = append(
            &EventLog {
                recorded: 2,
                unpublished: Vec::new(),
            },
            &BTreeSet::new(),
            &[note("c")],
        );
        p.keep_only("u", &log);
        assert!(p.of("u").is_empty());
        assert!(p.0.lock().unwrap().is_empty());
    }
}

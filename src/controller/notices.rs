//! Notices: the events that are not transitions (an undecodable Canary, a failed
//! reconcile, the steps of a revert on deletion). Transitions go through [`super::events`].
//!
//! Each notice is an `events.k8s.io/v1` Event with the same fields kube-runtime's
//! `Recorder` wrote (reporting controller `serin`, the host name as instance, `eventTime`,
//! the name `<object>.<nanoseconds in hex>`), and the same series semantics: the same
//! notice (object, type, reason, action, note) published again within six minutes
//! patches the first Event's `series` (count, last observed time) instead of creating
//! another, so `kubectl describe` shows one line with a count.
//!
//! Unlike the `Recorder`, which kept every event of the last six minutes and scanned all
//! of them on every publish, the memory of notices is bounded ([`CAP`] entries) and a
//! publish costs one map lookup: a notice forgotten early is created anew rather than
//! counted, which only splits a series. The callers publish rarely anyway (a failure
//! only when its message changes, a revert step once).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use super::events::{CONTROLLER, INSTANCE};

/// How long a notice counts as a repeat of the same one (the `Recorder`'s six minutes).
const TTL: Duration = Duration::from_secs(6 * 60);
/// The most notices remembered for series.
const CAP: usize = 256;

/// A notice to publish.
pub(super) struct Notice<'a> {
    pub warning: bool,
    pub reason: &'a str,
    pub action: &'a str,
    pub note: String,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    namespace: String,
    name: String,
    uid: String,
    warning: bool,
    reason: String,
    action: String,
    note: String,
}

struct Seen {
    event: String,
    count: i32,
    at: Instant,
}

/// Publishes notices; see the module documentation.
pub struct Notices {
    client: kube::Client,
    seen: Mutex<Memory>,
}

/// The bounded memory of recent notices.
#[derive(Default)]
struct Memory(HashMap<Key, Seen>);

impl Memory {
    /// The event name and next count when `key` repeats a notice still remembered.
    fn repeat(&mut self, key: &Key, now: Instant) -> Option<(String, i32)> {
        match self.0.get(key) {
            Some(s) if now.duration_since(s.at) < TTL => Some((s.event.clone(), s.count + 1)),
            Some(_) => {
                self.0.remove(key);
                None
            }
            None => None,
        }
    }

    /// Remembers a publication. When full, forgets the expired notices, then the oldest:
    /// the scan is over at most [`CAP`] entries and only when full.
    fn remember(&mut self, key: Key, event: String, count: i32, now: Instant) {
        if self.0.len() >= CAP && !self.0.contains_key(&key) {
            self.0.retain(|_, s| now.duration_since(s.at) < TTL);
            if self.0.len() >= CAP
                && let Some(oldest) = self
                    .0
                    .iter()
                    .min_by_key(|(_, s)| s.at)
                    .map(|(k, _)| k.clone())
            {
                self.0.remove(&oldest);
            }
        }
        self.0.insert(
            key,
            Seen {
                event,
                count,
                at: now,
            },
        );
    }
}

impl Notices {
    pub fn new(client: kube::Client) -> Self {
        Self {
            client,
            seen: Mutex::default(),
        }
    }

    /// Publishes `notice` about `regarding` (in its namespace): a new Event, or the next
    /// count of the same notice's series.
    pub(super) async fn publish(
        &self,
        regarding: &ObjectReference,
        notice: Notice<'_>,
    ) -> Result<(), kube::Error> {
        let namespace = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let key = Key {
            namespace: namespace.clone(),
            name: regarding.name.clone().unwrap_or_default(),
            uid: regarding.uid.clone().unwrap_or_default(),
            warning: notice.warning,
            reason: notice.reason.to_string(),
            action: notice.action.to_string(),
            note: notice.note.clone(),
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        let now = Timestamp::now();
        let repeat = self
            .seen
            .lock()
            .ok()
            .and_then(|mut m| m.repeat(&key, Instant::now()));
        let (event, count) = match repeat {
            Some((event, count)) => {
                let patch = json!({"series": {"count": count, "lastObservedTime": MicroTime(now)}});
                api.patch(&event, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
                (event, count)
            }
            None => {
                let event = format!(
                    "{}.{:x}",
                    regarding.name.as_deref().unwrap_or(CONTROLLER),
                    now.as_nanosecond()
                );
                let object = Event {
                    metadata: ObjectMeta {
                        name: Some(event.clone()),
                        namespace: Some(namespace),
                        ..Default::default()
                    },
                    type_: Some(if notice.warning { "Warning" } else { "Normal" }.into()),
                    reason: Some(notice.reason.into()),
                    note: Some(notice.note),
                    action: Some(notice.action.into()),
                    event_time: Some(MicroTime(now)),
                    regarding: Some(regarding.clone()),
                    reporting_controller: Some(CONTROLLER.into()),
                    reporting_instance: Some(INSTANCE.clone()),
                    ..Default::default()
                };
                api.create(&PostParams::default(), &object).await?;
                (event, 1)
            }
        };
        if let Ok(mut m) = self.seen.lock() {
            m.remember(key, event, count, Instant::now());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(note: &str) -> Key {
        Key {
            namespace: "ns".into(),
            name: "podinfo".into(),
            uid: "u".into(),
            warning: true,
            reason: "ReconcileFailed".into(),
            action: "Reconcile".into(),
            note: note.into(),
        }
    }

    #[test]
    fn a_repeat_within_six_minutes_continues_the_series() {
        let mut m = Memory::default();
        let t0 = Instant::now();
        assert!(m.repeat(&key("a"), t0).is_none());
        m.remember(key("a"), "podinfo.1".into(), 1, t0);
        assert_eq!(m.repeat(&key("a"), t0), Some(("podinfo.1".into(), 2)));
        m.remember(key("a"), "podinfo.1".into(), 2, t0);
        assert_eq!(m.repeat(&key("a"), t0), Some(("podinfo.1".into(), 3)));
        // Another note is another event.
        assert!(m.repeat(&key("b"), t0).is_none());
        // Past the TTL the same notice starts a new event.
        assert!(m.repeat(&key("a"), t0 + TTL).is_none());
        assert!(m.0.is_empty());
    }

    #[test]
    fn the_memory_stays_bounded() {
        let mut m = Memory::default();
        let t0 = Instant::now();
        for i in 0..CAP * 4 {
            let at = t0 + Duration::from_millis(i as u64);
            m.remember(key(&i.to_string()), format!("e{i}"), 1, at);
            assert!(m.0.len() <= CAP);
        }
        // The newest are the ones kept.
        let last = CAP * 4 - 1;
        assert!(m.repeat(&key(&last.to_string()), t0).is_some());
        assert!(m.repeat(&key("0"), t0).is_none());
    }
}

//! Memo: what converge built last time for each Canary, so that a reconcile whose inputs
//! did not change neither builds nor hashes anything.
//!
//! Most reconciles change nothing: a Deployment's status update (a pod became ready) wakes
//! its Canary, which decides the same as before. Building the desired objects means
//! serialising the target's pod template, three Services and the routing objects into
//! JSON and hashing each ([`crate::build::stamp`]); at a thousand Canaries that was most
//! of serin's CPU. What they are built from is known and cheap to compare:
//!
//! - the Canary's spec, by `metadata.generation` (the API server bumps it on every spec
//!   change, and only then: status has its own subresource), and its uid;
//! - the target's spec, by uid and `metadata.generation` (bumped on every change of a
//!   Deployment's spec or annotations, never by its status; a scale bumps it too, which
//!   costs one rebuild);
//! - the plan (primary copy and its replicas, the apex's selection, the traffic split);
//! - the apex Service and the routing objects as cached, by resourceVersion (a takeover
//!   keeps their original spec).
//!
//! When all of that is what it was and every object still carries the hash it was built
//! with (or is missing and would not be created), converge has nothing to write and
//! skips the building. Anything else builds as before, and [`Memo::remember`] keeps the
//! new key and hashes once every apply went through. Without a generation (an object
//! from a source that does not set it) nothing is remembered: the memo only ever saves
//! work, never changes what is written.
//!
//! The target's revision hash (the same serialisation of its template) is remembered the
//! same way, by uid and generation.
//!
//! Entries are dropped when their Canary is deleted, and any entry unused for
//! [`FORGET_AFTER`] is swept: forgetting costs one rebuild.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt;

use crate::build::Desired;
use crate::decide::Plan;

/// How often entries unused for [`FORGET_AFTER`] are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// An entry unused this long is forgotten (its Canary was most likely deleted while the
/// watch was down, so no delete event came).
const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// What the desired objects of one Canary are built from; see the module doc.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Key {
    canary_generation: i64,
    target: (String, i64),
    plan: Plan,
    apex: Option<String>,
    routing: Vec<String>,
}

impl Key {
    /// The key, or None when a generation is missing (then nothing is remembered).
    pub(super) fn of(
        canary_generation: Option<i64>,
        target: &Deployment,
        plan: &Plan,
        apex_rv: Option<&str>,
        routing_rvs: impl Iterator<Item = String>,
    ) -> Option<Key> {
        Some(Key {
            canary_generation: canary_generation?,
            target: (target.uid()?, target.metadata.generation?),
            plan: plan.clone(),
            apex: apex_rv.map(str::to_string),
            routing: routing_rvs.collect(),
        })
    }
}

/// Where converge finds an object it built in the snapshot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Place {
    Primary,
    Service,
    Routing,
}

/// One object converge built: where it is found in the snapshot (with its kind and
/// name), the hash it carries, and whether it is created only with
/// [`Plan::create_routing`] (the apex Service and the routing objects).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Built {
    pub place: Place,
    pub kind: String,
    pub name: String,
    pub hash: String,
    pub needs_create_routing: bool,
}

impl Built {
    pub(super) fn of(place: Place, desired: &Desired, needs_create_routing: bool) -> Built {
        Built {
            place,
            kind: desired.resource.kind.clone(),
            name: desired.name.clone(),
            hash: desired.hash.clone(),
            needs_create_routing,
        }
    }
}

#[derive(Debug)]
struct Entry {
    /// The target's (uid, generation) and its revision hash.
    revision: Option<(String, i64, String)>,
    built: Option<(Key, Vec<Built>)>,
    used: Instant,
}

impl Default for Entry {
    fn default() -> Entry {
        Entry {
            revision: None,
            built: None,
            used: Instant::now(),
        }
    }
}

/// Per Canary (by uid): see the module doc.
#[derive(Default)]
pub(super) struct Memo {
    entries: Mutex<HashMap<String, Entry>>,
    swept: Mutex<Option<Instant>>,
}

impl Memo {
    /// The revision hash of `target` (the target of the Canary `uid`), computed with
    /// `compute` only when its uid or generation changed.
    pub(super) fn revision(
        &self,
        uid: &str,
        target: &Deployment,
        compute: impl FnOnce(&Deployment) -> String,
    ) -> String {
        let (Some(tuid), Some(generation)) = (target.uid(), target.metadata.generation) else {
            return compute(target);
        };
        if let Ok(mut entries) = self.entries.lock()
            && let Some(entry) = entries.get_mut(uid)
            && let Some((u, g, revision)) = &entry.revision
            && *u == tuid
            && *g == generation
        {
            entry.used = Instant::now();
            return revision.clone();
        }
        let revision = compute(target);
        if let Ok(mut entries) = self.entries.lock() {
            let entry = entries.entry(uid.to_string()).or_default();
            entry.revision = Some((tuid, generation, revision.clone()));
            entry.used = Instant::now();
        }
        self.sweep();
        revision
    }

    /// Whether the objects built for `key` last time all still stand: each is `in_place`
    /// (the cached object carries its hash, or it is missing and would not be created).
    pub(super) fn unchanged(
        &self,
        uid: &str,
        key: &Key,
        in_place: impl Fn(&Built) -> bool,
    ) -> bool {
        let Ok(mut entries) = self.entries.lock() else {
            return false;
        };
        let Some(entry) = entries.get_mut(uid) else {
            return false;
        };
        let Some((k, built)) = &entry.built else {
            return false;
        };
        if k != key || !built.iter().all(in_place) {
            return false;
        }
        entry.used = Instant::now();
        true
    }

    /// Remembers what converge built for `key`, after every apply went through.
    pub(super) fn remember(&self, uid: &str, key: Key, built: Vec<Built>) {
        if let Ok(mut entries) = self.entries.lock() {
            let entry = entries.entry(uid.to_string()).or_default();
            entry.built = Some((key, built));
            entry.used = Instant::now();
        }
        self.sweep();
    }

    /// Forgets a deleted Canary.
    pub(super) fn forget(&self, uid: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(uid);
        }
    }

    fn sweep(&self) {
        let Ok(mut swept) = self.swept.lock() else {
            return;
        };
        if swept.is_some_and(|at| at.elapsed() < SWEEP_EVERY) {
            return;
        }
        *swept = Some(Instant::now());
        drop(swept);
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, e| e.used.elapsed() < FORGET_AFTER);
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.lock().map(|m| m.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::TrafficSplit;

    fn target(uid: &str, generation: Option<i64>) -> Deployment {
        let mut d = Deployment::default();
        d.metadata.uid = Some(uid.into());
        d.metadata.generation = generation;
        d
    }

    fn plan(weight: i32) -> Plan {
        Plan {
            copy_to_primary: None,
            apex_on_primary: true,
            create_routing: true,
            split: TrafficSplit::weighted(weight),
            canary_replicas: None,
            canary_in_use: false,
        }
    }

    fn key(generation: i64, t: &Deployment, weight: i32, vs_rv: &str) -> Key {
        Key::of(
            Some(generation),
            t,
            &plan(weight),
            Some("10"),
            [vs_rv.to_string()].into_iter(),
        )
        .expect("a key")
    }

    fn built(hash: &str) -> Vec<Built> {
        vec![Built {
            place: Place::Routing,
            kind: "VirtualService".into(),
            name: "podinfo".into(),
            hash: hash.into(),
            needs_create_routing: true,
        }]
    }

    #[test]
    fn the_same_inputs_with_everything_in_place_skip_the_build() {
        let memo = Memo::default();
        let t = target("t-1", Some(3));
        assert!(
            !memo.unchanged("c-1", &key(1, &t, 10, "7"), |_| true),
            "nothing yet"
        );
        memo.remember("c-1", key(1, &t, 10, "7"), built("h1"));
        assert!(memo.unchanged("c-1", &key(1, &t, 10, "7"), |b| b.hash == "h1"));
        assert!(
            !memo.unchanged("c-1", &key(1, &t, 10, "7"), |_| false),
            "an object lost its hash (edited, deleted): build"
        );
        assert!(
            !memo.unchanged("c-2", &key(1, &t, 10, "7"), |_| true),
            "another Canary"
        );
    }

    #[test]
    fn any_changed_input_builds_again() {
        let memo = Memo::default();
        let t = target("t-1", Some(3));
        memo.remember("c-1", key(1, &t, 10, "7"), built("h1"));
        let all = |_: &Built| true;
        assert!(
            !memo.unchanged("c-1", &key(2, &t, 10, "7"), all),
            "Canary spec"
        );
        let t4 = target("t-1", Some(4));
        assert!(
            !memo.unchanged("c-1", &key(1, &t4, 10, "7"), all),
            "target spec"
        );
        let other = target("t-2", Some(3));
        assert!(
            !memo.unchanged("c-1", &key(1, &other, 10, "7"), all),
            "a new target"
        );
        assert!(
            !memo.unchanged("c-1", &key(1, &t, 20, "7"), all),
            "the split"
        );
        assert!(
            !memo.unchanged("c-1", &key(1, &t, 10, "8"), all),
            "the routing"
        );
        assert!(
            memo.unchanged("c-1", &key(1, &t, 10, "7"), all),
            "all as it was"
        );
    }

    #[test]
    fn no_generation_no_memo() {
        let t = target("t-1", None);
        assert!(Key::of(Some(1), &t, &plan(0), None, std::iter::empty()).is_none());
        let t = target("t-1", Some(1));
        assert!(Key::of(None, &t, &plan(0), None, std::iter::empty()).is_none());
        let memo = Memo::default();
        let calls = std::cell::Cell::new(0);
        let compute = |_: &Deployment| {
            calls.set(calls.get() + 1);
            "r".to_string()
        };
        memo.revision("c-1", &target("t-1", None), compute);
        memo.revision("c-1", &target("t-1", None), compute);
        assert_eq!(calls.get(), 2, "computed every time");
    }

    #[test]
    fn the_revision_is_computed_once_per_target_generation() {
        let memo = Memo::default();
        let calls = std::cell::Cell::new(0);
        let compute = |_: &Deployment| {
            calls.set(calls.get() + 1);
            format!("r{}", calls.get())
        };
        assert_eq!(memo.revision("c-1", &target("t-1", Some(2)), compute), "r1");
        assert_eq!(memo.revision("c-1", &target("t-1", Some(2)), compute), "r1");
        assert_eq!(memo.revision("c-1", &target("t-1", Some(3)), compute), "r2");
        assert_eq!(memo.revision("c-1", &target("t-2", Some(3)), compute), "r3");
        assert_eq!(calls.get(), 3);
        memo.forget("c-1");
        assert_eq!(memo.len(), 0);
    }

    #[test]
    fn unused_entries_are_swept() {
        let memo = Memo::default();
        let t = target("t-1", Some(3));
        memo.remember("c-1", key(1, &t, 10, "7"), built("h1"));
        let long_ago = Instant::now()
            .checked_sub(FORGET_AFTER + SWEEP_EVERY)
            .expect("an instant long ago");
        for e in memo.entries.lock().unwrap().values_mut() {
            e.used = long_ago;
        }
        *memo.swept.lock().unwrap() = Some(long_ago);
        memo.remember("c-2", key(1, &t, 10, "7"), built("h1"));
        assert_eq!(memo.len(), 1);
    }
}

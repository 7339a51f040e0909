//! Memo: what converge built last time for each Canary, so that a reconcile whose inputs
//! did not change neither builds nor hashes anything.
//!
//! Most reconciles change nothing: a Deployment's status update (a pod became ready) wakes
//! its Canary, which decides the same as before. Building the desired objects means
//! serialising the target's pod template, three Services and the routing objects into
//! JSON and hashing each ([`crate::build::stamp`]); at a thousand Canaries that was most
//! of serin's CPU. What each group of objects is built from is known and cheap to compare
//! ([`Key`]):
//!
//! - all: the Canary's spec, by `metadata.generation` (the API server bumps it on every
//!   spec change, and only then: status has its own subresource);
//! - the primary: the target's spec, by uid and `metadata.generation` (bumped on every
//!   change of a Deployment's spec or annotations, never by its status; a scale bumps it
//!   too, which costs one rebuild), and the replicas the plan gives it;
//! - the Services: the target (its selector), the apex Service's [`Origin`] and whether
//!   the apex selects the primary;
//! - the routing objects: the traffic split and each cached routing object's [`Origin`].
//!
//! An [`Origin`] is what `build::original` reads of an object serin may take over: the
//! spec it saved, or that the object is serin's own (then serin's own patches, which
//! change its resourceVersion, change nothing here), or else the object's
//! resourceVersion.
//!
//! When a group's key is what it was and every object of it still carries the hash it
//! was built with (or is missing and would not be created), converge skips building it.
//! Anything else builds as before, and [`Memo::remember`] keeps the new key and hashes
//! once every apply of the group went through. Without a generation (an object from a
//! source that does not set it) nothing is remembered: the memo only ever saves work,
//! never changes what is written.
//!
//! The target's revision hash (the same serialisation of its template) is remembered the
//! same way, by uid and generation.
//!
//! Entries are dropped when their Canary is deleted, and any entry unused for
//! [`FORGET_AFTER`] is swept: forgetting costs one rebuild.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::hash::{Hash, Hasher};

use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt;
use kube::api::ObjectMeta;

use super::pending::Sweeps;
use crate::api::Canary;
use crate::build::{Desired, ORIGINAL};
use crate::decide::TrafficSplit;
use crate::router::RoutingObjects;

/// How often entries unused for [`FORGET_AFTER`] are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// An entry unused this long is forgotten (its Canary was most likely deleted while the
/// watch was down, so no delete event came).
const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// What an object serin may take over contributes to what is built from it; see the
/// module doc.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Origin {
    Missing,
    /// The spec serin saved, by its hash.
    Saved(u64),
    /// Serin's own object, nothing saved.
    Own,
    /// Someone else's object, by resourceVersion.
    Foreign(Option<String>),
}

impl Origin {
    /// The origin of `meta`, mirroring `build::original` for the Canary `uid`.
    pub(super) fn of(meta: Option<&ObjectMeta>, uid: &str) -> Origin {
        let Some(meta) = meta else {
            return Origin::Missing;
        };
        if let Some(saved) = meta.annotations.as_ref().and_then(|a| a.get(ORIGINAL)) {
            let mut h = std::hash::DefaultHasher::new();
            saved.hash(&mut h);
            return Origin::Saved(h.finish());
        }
        let ours = meta.owner_references.iter().flatten().any(|o| o.uid == uid);
        if ours {
            Origin::Own
        } else {
            Origin::Foreign(meta.resource_version.clone())
        }
    }
}

/// What one group of desired objects is built from; see the module doc.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Key {
    Primary {
        canary: i64,
        target: (String, i64),
        replicas: i32,
    },
    Services {
        canary: i64,
        target: (String, i64),
        apex: Origin,
        apex_on_primary: bool,
    },
    Routing {
        canary: i64,
        split: TrafficSplit,
        objects: Vec<Origin>,
    },
}

/// The three groups of objects converge builds, each remembered apart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Group {
    Primary = 0,
    Services = 1,
    Routing = 2,
}

impl Key {
    fn target(target: &Deployment) -> Option<(String, i64)> {
        Some((target.uid()?, target.metadata.generation?))
    }

    /// The primary's key; None without generations (then nothing is remembered).
    pub(super) fn primary(canary: &Canary, target: &Deployment, replicas: i32) -> Option<Key> {
        Some(Key::Primary {
            canary: canary.metadata.generation?,
            target: Key::target(target)?,
            replicas,
        })
    }

    pub(super) fn services(
        canary: &Canary,
        target: &Deployment,
        apex: Option<&ObjectMeta>,
        apex_on_primary: bool,
    ) -> Option<Key> {
        Some(Key::Services {
            canary: canary.metadata.generation?,
            target: Key::target(target)?,
            apex: Origin::of(apex, &canary.uid().unwrap_or_default()),
            apex_on_primary,
        })
    }

    pub(super) fn routing(
        canary: &Canary,
        split: &TrafficSplit,
        observed: &RoutingObjects,
    ) -> Option<Key> {
        let uid = canary.uid().unwrap_or_default();
        Some(Key::Routing {
            canary: canary.metadata.generation?,
            split: split.clone(),
            objects: observed
                .iter()
                .map(|o| Origin::of(Some(&o.metadata), &uid))
                .collect(),
        })
    }

    fn group(&self) -> Group {
        match self {
            Key::Primary { .. } => Group::Primary,
            Key::Services { .. } => Group::Services,
            Key::Routing { .. } => Group::Routing,
        }
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
/// [`crate::decide::Plan::create_routing`] (the apex Service and the routing objects).
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
    /// Per [`Group`]: the key and what was built for it.
    built: [Option<(Key, Vec<Built>)>; 3],
    used: Instant,
}

impl Default for Entry {
    fn default() -> Entry {
        Entry {
            revision: None,
            built: [None, None, None],
            used: Instant::now(),
        }
    }
}

/// Per Canary (by uid): see the module doc.
#[derive(Default)]
pub(super) struct Memo {
    entries: Mutex<HashMap<String, Entry>>,
    swept: Sweeps,
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

    /// Whether the objects of `key`'s group built for that same key last time all still
    /// stand: each is `in_place` (the cached object carries its hash, or it is missing
    /// and would not be created).
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
        let Some((k, built)) = &entry.built[key.group() as usize] else {
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
            let group = key.group() as usize;
            entry.built[group] = Some((key, built));
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
        if !self.swept.due(SWEEP_EVERY) {
            return;
        }
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
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    fn canary(generation: Option<i64>) -> Canary {
        let mut c: Canary = serde_json::from_value(serde_json::json!({
            "apiVersion": "serin.dev/v1beta1", "kind": "Canary",
            "metadata": {"name": "podinfo", "namespace": "test", "uid": "c-1"},
            "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
                     "service": {"port": 80}}
        }))
        .expect("canary");
        c.metadata.generation = generation;
        c
    }

    fn target(uid: &str, generation: Option<i64>) -> Deployment {
        let mut d = Deployment::default();
        d.metadata.uid = Some(uid.into());
        d.metadata.generation = generation;
        d
    }

    fn meta(rv: &str, owner: Option<&str>, saved: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            resource_version: Some(rv.into()),
            owner_references: owner.map(|uid| {
                vec![OwnerReference {
                    uid: uid.into(),
                    ..Default::default()
                }]
            }),
            annotations: saved.map(|s| [(ORIGINAL.to_string(), s.to_string())].into()),
            ..Default::default()
        }
    }

    fn services(c: &Canary, t: &Deployment, apex: Option<&ObjectMeta>) -> Key {
        Key::services(c, t, apex, true).expect("a key")
    }

    fn built(hash: &str) -> Vec<Built> {
        vec![Built {
            place: Place::Service,
            kind: "Service".into(),
            name: "podinfo".into(),
            hash: hash.into(),
            needs_create_routing: true,
        }]
    }

    #[test]
    fn the_same_inputs_with_everything_in_place_skip_the_build() {
        let memo = Memo::default();
        let (c, t) = (canary(Some(1)), target("t-1", Some(3)));
        let key = services(&c, &t, None);
        assert!(!memo.unchanged("c-1", &key, |_| true), "nothing yet");
        memo.remember("c-1", key.clone(), built("h1"));
        assert!(memo.unchanged("c-1", &key, |b| b.hash == "h1"));
        assert!(
            !memo.unchanged("c-1", &key, |_| false),
            "an object lost its hash (edited, deleted): build"
        );
        assert!(!memo.unchanged("c-2", &key, |_| true), "another Canary");
        let routing = Key::routing(&c, &TrafficSplit::weighted(0), &Default::default());
        assert!(
            !memo.unchanged("c-1", &routing.expect("a key"), |_| true),
            "groups are remembered apart"
        );
    }

    #[test]
    fn any_changed_input_builds_again() {
        let memo = Memo::default();
        let (c, t) = (canary(Some(1)), target("t-1", Some(3)));
        memo.remember("c-1", services(&c, &t, None), built("h1"));
        let all = |_: &Built| true;
        let unchanged = |key: Key| memo.unchanged("c-1", &key, all);
        assert!(
            !unchanged(services(&canary(Some(2)), &t, None)),
            "Canary spec"
        );
        assert!(
            !unchanged(services(&c, &target("t-1", Some(4)), None)),
            "target spec"
        );
        assert!(
            !unchanged(services(&c, &target("t-2", Some(3)), None)),
            "new target"
        );
        let foreign = meta("7", None, None);
        assert!(
            !unchanged(services(&c, &t, Some(&foreign))),
            "an apex to take over"
        );
        assert!(
            !unchanged(Key::services(&c, &t, None, false).expect("a key")),
            "the apex selection"
        );
        assert!(unchanged(services(&c, &t, None)), "all as it was");
    }

    #[test]
    fn serins_own_writes_do_not_change_an_origin() {
        let own = |rv| Origin::of(Some(&meta(rv, Some("c-1"), None)), "c-1");
        assert_eq!(own("7"), own("9"), "a patch of serin's own object");
        let saved = |rv, spec| Origin::of(Some(&meta(rv, Some("c-1"), Some(spec))), "c-1");
        assert_eq!(
            saved("7", "{}"),
            saved("9", "{}"),
            "taken over, patched again"
        );
        assert_ne!(
            saved("7", "{}"),
            saved("7", "{\"a\":1}"),
            "a different saved spec"
        );
        let foreign = |rv| Origin::of(Some(&meta(rv, Some("other"), None)), "c-1");
        assert_ne!(foreign("7"), foreign("9"), "someone else's object, edited");
        assert_eq!(Origin::of(None, "c-1"), Origin::Missing);
    }

    #[test]
    fn no_generation_no_memo() {
        let t = target("t-1", Some(1));
        assert!(Key::primary(&canary(None), &t, 1).is_none());
        assert!(Key::primary(&canary(Some(1)), &target("t-1", None), 1).is_none());
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
        let (c, t) = (canary(Some(1)), target("t-1", Some(3)));
        memo.remember("c-1", services(&c, &t, None), built("h1"));
        let long_ago = Instant::now()
            .checked_sub(FORGET_AFTER + SWEEP_EVERY)
            .expect("an instant long ago");
        for e in memo.entries.lock().unwrap().values_mut() {
            e.used = long_ago;
        }
        *memo.swept.0.lock().unwrap() = Some(long_ago);
        memo.remember("c-2", services(&c, &t, None), built("h1"));
        assert_eq!(memo.len(), 1);
    }
}

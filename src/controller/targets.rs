//! Canaries by target: which Canaries a Deployment event wakes, without scanning them all.
//!
//! Every Deployment event (a kubelet's status update included) has to find the Canaries
//! that target that Deployment. A scan over the Canary cache costs O(canaries) per event,
//! so O(canaries²) over a rollout of all of them: at a thousand Canaries that scan was a
//! fifth of serin's CPU. The index is fed by the Canary watch itself (before the events
//! reach the Controller), so it is never behind the cache the reconciles read.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use kube::Resource;
use kube::core::DeserializeGuard;
use kube::runtime::watcher::Event;

use crate::api::Canary;

/// (namespace, name)
type Key = (String, String);

#[derive(Default)]
struct Maps {
    /// Canaries by (namespace, target name).
    by_target: HashMap<Key, BTreeSet<String>>,
    /// The target of each Canary (namespace, canary name), to move it when it changes.
    target_of: HashMap<Key, String>,
}

impl Maps {
    fn insert(&mut self, namespace: String, canary: String, target: String) {
        let key = (namespace.clone(), canary.clone());
        if let Some(old) = self.target_of.get(&key) {
            if *old == target {
                return;
            }
            let old = old.clone();
            self.remove_from(&namespace, &canary, &old);
        }
        self.by_target
            .entry((namespace, target.clone()))
            .or_default()
            .insert(canary);
        self.target_of.insert(key, target);
    }

    fn remove(&mut self, namespace: &str, canary: &str) {
        if let Some(target) = self
            .target_of
            .remove(&(namespace.to_string(), canary.to_string()))
        {
            self.remove_from(namespace, canary, &target);
        }
    }

    fn remove_from(&mut self, namespace: &str, canary: &str, target: &str) {
        let key = (namespace.to_string(), target.to_string());
        if let Some(set) = self.by_target.get_mut(&key) {
            set.remove(canary);
            if set.is_empty() {
                self.by_target.remove(&key);
            }
        }
    }
}

/// The index; cheap to clone (shared).
#[derive(Clone, Default)]
pub(crate) struct TargetIndex {
    live: Arc<RwLock<Maps>>,
    /// A relist in progress: filled by `InitApply`, swapped in at `InitDone`, so a
    /// relist never shows a half-empty index.
    relist: Arc<RwLock<Option<Maps>>>,
}

fn entry(canary: &DeserializeGuard<Canary>) -> Option<(String, String, String)> {
    let namespace = canary.meta().namespace.clone()?;
    let name = canary.meta().name.clone()?;
    // An undecodable Canary has no target to index; it is reported elsewhere.
    let target = canary.0.as_ref().ok()?.spec.target_ref.name.clone();
    Some((namespace, name, target))
}

impl TargetIndex {
    /// Follows one event of the Canary watch.
    pub(crate) fn observe(&self, event: &Event<DeserializeGuard<Canary>>) {
        match event {
            Event::Apply(c) => self.apply(c),
            Event::Delete(c) => {
                if let (Some(ns), Some(name)) =
                    (c.meta().namespace.as_deref(), c.meta().name.as_deref())
                {
                    write(&self.live).remove(ns, name);
                }
            }
            Event::Init => *write(&self.relist) = Some(Maps::default()),
            Event::InitApply(c) => {
                if let Some((ns, name, target)) = entry(c)
                    && let Some(maps) = write(&self.relist).as_mut()
                {
                    maps.insert(ns, name, target);
                }
            }
            Event::InitDone => {
                if let Some(maps) = write(&self.relist).take() {
                    *write(&self.live) = maps;
                }
            }
        }
    }

    fn apply(&self, canary: &DeserializeGuard<Canary>) {
        match entry(canary) {
            Some((ns, name, target)) => write(&self.live).insert(ns, name, target),
            None => {
                // Now undecodable: it targets nothing serin can act on.
                if let (Some(ns), Some(name)) = (
                    canary.meta().namespace.as_deref(),
                    canary.meta().name.as_deref(),
                ) {
                    write(&self.live).remove(ns, name);
                }
            }
        }
    }

    /// Names of the Canaries in `namespace` that target the workload `target`.
    pub(crate) fn canaries(&self, namespace: &str, target: &str) -> Vec<String> {
        let maps = self.live.read().unwrap_or_else(|e| e.into_inner());
        maps.by_target
            .get(&(namespace.to_string(), target.to_string()))
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// A poisoned lock only means a panic elsewhere mid-update of plain maps; the maps are
/// still usable, and the next relist rebuilds them.
fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canary(ns: &str, name: &str, target: &str) -> DeserializeGuard<Canary> {
        serde_json::from_value(json!({
            "apiVersion": "serin.dev/v1beta1", "kind": "Canary",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                     "service": {"port": 80}}
        }))
        .expect("canary")
    }

    fn undecodable(ns: &str, name: &str) -> DeserializeGuard<Canary> {
        serde_json::from_value(json!({
            "apiVersion": "serin.dev/v1beta1", "kind": "Canary",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"targetRef": 7}
        }))
        .expect("guarded")
    }

    #[test]
    fn follows_apply_retarget_and_delete() {
        let index = TargetIndex::default();
        index.observe(&Event::Apply(canary("a", "c1", "web")));
        index.observe(&Event::Apply(canary("a", "c2", "web")));
        index.observe(&Event::Apply(canary("b", "c1", "web")));
        assert_eq!(index.canaries("a", "web"), ["c1", "c2"]);
        assert_eq!(index.canaries("b", "web"), ["c1"]);
        index.observe(&Event::Apply(canary("a", "c2", "api")));
        assert_eq!(index.canaries("a", "web"), ["c1"]);
        assert_eq!(index.canaries("a", "api"), ["c2"]);
        index.observe(&Event::Delete(canary("a", "c1", "web")));
        assert!(index.canaries("a", "web").is_empty());
        index.observe(&Event::Apply(undecodable("a", "c2")));
        assert!(index.canaries("a", "api").is_empty());
    }

    #[test]
    fn a_relist_replaces_the_index_only_when_done() {
        let index = TargetIndex::default();
        index.observe(&Event::Apply(canary("a", "gone", "web")));
        index.observe(&Event::Init);
        index.observe(&Event::InitApply(canary("a", "kept", "web")));
        // Mid-relist, the old index still answers.
        assert_eq!(index.canaries("a", "web"), ["gone"]);
        index.observe(&Event::InitDone);
        assert_eq!(index.canaries("a", "web"), ["kept"]);
    }
}

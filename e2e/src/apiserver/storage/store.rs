//! Object storage: one ordered map per storage key, a global resourceVersion, the change
//! feed watches read (broadcast + a bounded history for resuming), and two indexes (uid,
//! owner uid -> dependents) so deletes and garbage collection never scan every object.
//!
//! Everything here runs under the server's one mutex; no method does work proportional to
//! the number of stored objects except listing one collection.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use tokio::sync::broadcast;

/// A stored object with its JSON encoding, made once on first use: lists and watches
/// send the same bytes to every reader instead of serializing the object again.
#[derive(Debug)]
pub struct Obj {
    value: Value,
    json: OnceLock<Bytes>,
}

impl Obj {
    pub fn new(value: Value) -> Self {
        Self {
            value,
            json: OnceLock::new(),
        }
    }

    pub fn json(&self) -> &Bytes {
        self.json
            .get_or_init(|| Bytes::from(serde_json::to_vec(&self.value).unwrap_or_default()))
    }

    pub fn to_value(&self) -> Value {
        self.value.clone()
    }
}

impl std::ops::Deref for Obj {
    type Target = Value;

    fn deref(&self) -> &Value {
        &self.value
    }
}

/// (namespace, name); the namespace is empty for cluster-scoped objects.
pub type ObjKey = (String, String);

/// A (storage key, object key) pair.
pub type Location = (String, ObjKey);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One committed change, as watches see it (storage form).
#[derive(Debug)]
pub struct Change {
    pub rv: u64,
    pub kind: ChangeKind,
    pub object: Arc<Obj>,
    /// The object before the change (for selector transitions).
    pub old: Option<Arc<Obj>>,
}

/// The live change feed of one collection.
pub type Feed = broadcast::Receiver<Arc<Change>>;

/// Why a watch cannot start where it asked to.
#[derive(Debug)]
pub struct TooOld {
    pub requested: u64,
    /// The newest resourceVersion still too old (a real watch cache names the same:
    /// its list revision, or the revision before its oldest kept event).
    pub floor: u64,
}

const BROADCAST_CAPACITY: usize = 8192;

struct Collection {
    objects: BTreeMap<ObjKey, Arc<Obj>>,
    history: VecDeque<Arc<Change>>,
    /// Every change with rv > `floor` is still in `history`.
    floor: u64,
    tx: broadcast::Sender<Arc<Change>>,
}

impl Collection {
    /// A new collection has seen no change yet, so its history is complete from rv 0.
    fn new() -> Self {
        let (tx, _) = broadcast::channel(BROADCAST_CAPACITY);
        Self {
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            floor: 0,
            tx,
        }
    }
}

pub struct Store {
    collections: HashMap<String, Collection>,
    rv: u64,
    history_cap: usize,
    /// The highest rv whose change has been sent to watchers (read without the lock).
    published: Arc<AtomicU64>,
    uids: HashMap<String, Location>,
    dependents: HashMap<String, BTreeSet<Location>>,
}

pub fn key_of(obj: &Value) -> ObjKey {
    let meta = &obj["metadata"];
    (
        meta["namespace"].as_str().unwrap_or_default().to_string(),
        meta["name"].as_str().unwrap_or_default().to_string(),
    )
}

pub fn uid_of(obj: &Value) -> &str {
    obj["metadata"]["uid"].as_str().unwrap_or_default()
}

pub fn rv_of(obj: &Value) -> u64 {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn owner_uids(obj: &Value) -> Vec<String> {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r["uid"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

impl Store {
    pub fn new(history_cap: usize, published: Arc<AtomicU64>) -> Self {
        Self {
            collections: HashMap::new(),
            rv: 1,
            history_cap: history_cap.max(1),
            published,
            uids: HashMap::new(),
            dependents: HashMap::new(),
        }
    }

    pub fn current_rv(&self) -> u64 {
        self.rv
    }

    fn collection(&mut self, storage: &str) -> &mut Collection {
        self.collections
            .entry(storage.to_string())
            .or_insert_with(Collection::new)
    }

    pub fn get(&self, storage: &str, key: &ObjKey) -> Option<Arc<Obj>> {
        self.collections.get(storage)?.objects.get(key).cloned()
    }

    pub fn get_by_uid(&self, uid: &str) -> Option<(Location, Arc<Obj>)> {
        let loc = self.uids.get(uid)?;
        let obj = self.get(&loc.0, &loc.1)?;
        Some((loc.clone(), obj))
    }

    /// Objects of one collection, in key order, optionally within one namespace and after a key.
    pub fn list(
        &self,
        storage: &str,
        namespace: Option<&str>,
        after: Option<&ObjKey>,
    ) -> Vec<Arc<Obj>> {
        let Some(coll) = self.collections.get(storage) else {
            return Vec::new();
        };
        use std::ops::Bound::{Excluded, Included, Unbounded};
        // Keys sort by namespace first: one namespace is one contiguous range.
        let ns_start = namespace.map(|ns| (ns.to_string(), String::new()));
        let lower = match (after, &ns_start) {
            (Some(after), Some(start)) if after < start => Included(start.clone()),
            (Some(after), _) => Excluded(after.clone()),
            (None, Some(start)) => Included(start.clone()),
            (None, None) => Unbounded,
        };
        coll.objects
            .range::<ObjKey, _>((lower, Unbounded))
            .take_while(|(k, _)| namespace.is_none_or(|ns| k.0 == ns))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Keys of every object in `namespace`, over all collections.
    pub fn keys_in_namespace(&self, namespace: &str) -> Vec<Location> {
        let mut out = Vec::new();
        for (storage, coll) in &self.collections {
            let start = (namespace.to_string(), String::new());
            for (key, _) in coll.objects.range(start..) {
                if key.0 != namespace {
                    break;
                }
                out.push((storage.clone(), key.clone()));
            }
        }
        out
    }

    pub fn count(&self, storage: &str) -> usize {
        self.collections.get(storage).map_or(0, |c| c.objects.len())
    }

    /// Dependents (by ownerReferences) of the object with this uid.
    pub fn dependents_of(&self, uid: &str) -> Vec<Location> {
        self.dependents
            .get(uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Stores `obj` with a new resourceVersion and tells the watchers.
    pub fn put(&mut self, storage: &str, mut obj: Value) -> Arc<Obj> {
        self.rv += 1;
        let rv = self.rv;
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        let key = key_of(&obj);
        let obj = Arc::new(Obj::new(obj));
        let old = self
            .collection(storage)
            .objects
            .insert(key.clone(), obj.clone());
        if let Some(old) = &old {
            self.unindex(storage, &key, old);
        }
        self.index(storage, &key, &obj);
        let kind = if old.is_some() {
            ChangeKind::Modified
        } else {
            ChangeKind::Added
        };
        self.publish(
            storage,
            Change {
                rv,
                kind,
                object: obj.clone(),
                old,
            },
        );
        obj
    }

    /// Removes an object; watchers get it, with the deletion's resourceVersion, as DELETED.
    pub fn remove(&mut self, storage: &str, key: &ObjKey) -> Option<Arc<Obj>> {
        let old = self.collections.get_mut(storage)?.objects.remove(key)?;
        self.unindex(storage, key, &old);
        self.rv += 1;
        let rv = self.rv;
        let mut last = old.to_value();
        last["metadata"]["resourceVersion"] = json!(rv.to_string());
        let last = Arc::new(Obj::new(last));
        self.publish(
            storage,
            Change {
                rv,
                kind: ChangeKind::Deleted,
                object: last.clone(),
                old: Some(old),
            },
        );
        Some(last)
    }

    /// Opens the collection of a newly served kind, its history starting now: like a
    /// real server's watch cache, which starts from a list at the current revision, it
    /// answers a watch from any earlier resourceVersion with "too old". An existing
    /// collection is left as it is.
    pub fn open_collection(&mut self, storage: &str) {
        let floor = self.rv;
        self.collections
            .entry(storage.to_string())
            .or_insert_with(|| Collection {
                floor,
                ..Collection::new()
            });
    }

    /// Forgets a whole (empty) collection: its watchers' streams end.
    pub fn drop_collection(&mut self, storage: &str) {
        self.collections.remove(storage);
    }

    fn index(&mut self, storage: &str, key: &ObjKey, obj: &Value) {
        let loc: Location = (storage.to_string(), key.clone());
        let uid = uid_of(obj);
        if !uid.is_empty() {
            self.uids.insert(uid.to_string(), loc.clone());
        }
        for owner in owner_uids(obj) {
            self.dependents
                .entry(owner)
                .or_default()
                .insert(loc.clone());
        }
    }

    fn unindex(&mut self, storage: &str, key: &ObjKey, obj: &Value) {
        let loc: Location = (storage.to_string(), key.clone());
        self.uids.remove(uid_of(obj));
        for owner in owner_uids(obj) {
            if let Some(set) = self.dependents.get_mut(&owner) {
                set.remove(&loc);
                if set.is_empty() {
                    self.dependents.remove(&owner);
                }
            }
        }
    }

    fn publish(&mut self, storage: &str, change: Change) {
        let cap = self.history_cap;
        let rv = change.rv;
        let change = Arc::new(change);
        let coll = self.collection(storage);
        coll.history.push_back(change.clone());
        while coll.history.len() > cap {
            if let Some(evicted) = coll.history.pop_front() {
                coll.floor = evicted.rv;
            }
        }
        // No receiver is fine: nobody watches this collection right now.
        let _ = coll.tx.send(change);
        self.published.store(rv, Ordering::Release);
    }

    /// Starts a watch: the changes after `since` still in history, and a receiver for the
    /// rest (subscribed under the same lock, so nothing falls in between).
    pub fn watch_from(
        &mut self,
        storage: &str,
        since: u64,
    ) -> Result<(Vec<Arc<Change>>, Feed), TooOld> {
        let coll = self.collection(storage);
        if since < coll.floor {
            return Err(TooOld {
                requested: since,
                floor: coll.floor,
            });
        }
        let backlog = coll
            .history
            .iter()
            .filter(|c| c.rv > since)
            .cloned()
            .collect();
        Ok((backlog, coll.tx.subscribe()))
    }

    /// Starts a watch from "now": the current objects and a receiver for what follows.
    pub fn watch_now(
        &mut self,
        storage: &str,
    ) -> (Vec<Arc<Obj>>, broadcast::Receiver<Arc<Change>>) {
        let coll = self.collection(storage);
        let objects = coll.objects.values().cloned().collect();
        (objects, coll.tx.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with(objects: &[(&str, &str)]) -> Store {
        let mut store = Store::new(2, Arc::new(AtomicU64::new(0)));
        for (ns, name) in objects {
            store.put(
                "c",
                json!({"metadata": {"namespace": ns, "name": name, "uid": format!("{ns}-{name}")}}),
            );
        }
        store
    }

    fn names(objs: &[Arc<Obj>]) -> Vec<String> {
        objs.iter().map(|o| key_of(o).1).collect()
    }

    #[test]
    fn lists_one_namespace_and_continues_after_a_key() {
        let store = store_with(&[("a", "1"), ("b", "2"), ("b", "3"), ("c", "4")]);
        assert_eq!(names(&store.list("c", Some("b"), None)), ["2", "3"]);
        let after = ("b".to_string(), "2".to_string());
        assert_eq!(names(&store.list("c", Some("b"), Some(&after))), ["3"]);
        let before = ("a".to_string(), "1".to_string());
        assert_eq!(
            names(&store.list("c", Some("b"), Some(&before))),
            ["2", "3"]
        );
        assert_eq!(names(&store.list("c", None, Some(&after))), ["3", "4"]);
    }

    #[test]
    fn history_is_bounded_and_indexes_follow_removals() {
        let mut store = store_with(&[("a", "1"), ("a", "2"), ("a", "3")]);
        assert!(
            store.watch_from("c", 1).is_err(),
            "evicted changes answer too old"
        );
        let (backlog, _) = store.watch_from("c", 3).expect("recent enough");
        assert_eq!(backlog.len(), 1);
        assert!(store.get_by_uid("a-1").is_some());
        store.remove("c", &("a".to_string(), "1".to_string()));
        assert!(store.get_by_uid("a-1").is_none());
        assert_eq!(store.count("c"), 2);
    }
}

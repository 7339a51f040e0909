//! The state behind the server's one mutex (store + registry + IP allocator) and the
//! commit step of every write: checks that need the lock (existence, namespace lifecycle,
//! stale resourceVersion), allocations, and the follow-ups of a change (CRD registration,
//! deletion once the last finalizer is gone).
//!
//! Admission (defaulting, validation, patching) happens before, outside the lock, on a
//! snapshot; a commit whose snapshot went stale is refused with [`Commit::Stale`] and the
//! caller recomputes.

use std::sync::Arc;

use serde_json::{Value, json};

use super::builtins;
use super::crd;
use super::ipalloc::Allocator;
use super::registry::{Registry, ResourceDef, View};
use super::store::{Obj, ObjKey, Store, key_of, rv_of};
use crate::apiserver::error::{ApiError, ApiResult};
use crate::apiserver::events::{core_to_events, events_to_core};

pub struct Cluster {
    pub store: Store,
    pub registry: Registry,
    pub ips: Allocator,
}

/// Why a commit did not happen.
#[derive(Debug)]
pub enum Commit {
    /// The object changed since the snapshot the write was computed from.
    Stale,
    Api(ApiError),
}

impl From<ApiError> for Commit {
    fn from(e: ApiError) -> Self {
        Commit::Api(e)
    }
}

/// The served form of a stored object.
pub fn to_served(def: &ResourceDef, version: &str, stored: &Value) -> Value {
    match def.view {
        View::CoreEvent => events_to_core(stored),
        View::Plain => {
            let mut obj = stored.clone();
            obj["apiVersion"] = json!(def.api_version(version));
            obj["kind"] = json!(def.kind);
            obj
        }
    }
}

/// The stored form of a served object.
pub fn to_stored(def: &ResourceDef, served: Value) -> Value {
    match def.view {
        View::CoreEvent => core_to_events(&served),
        View::Plain => {
            let mut obj = served;
            obj["apiVersion"] = json!(def.api_version(&def.storage_version));
            obj
        }
    }
}

/// Equal but for resourceVersion and the times of managedFields entries.
fn same_content(new: &Value, current: &Value) -> bool {
    let (Some(a), Some(b)) = (new.as_object(), current.as_object()) else {
        return new == current;
    };
    let strip = |meta: &Value| {
        let mut meta = meta.clone();
        if let Some(m) = meta.as_object_mut() {
            m.remove("resourceVersion");
        }
        for entry in meta["managedFields"].as_array_mut().into_iter().flatten() {
            if let Some(e) = entry.as_object_mut() {
                e.remove("time");
            }
        }
        meta
    };
    let keys_equal = a.len() == b.len() && a.keys().all(|k| b.contains_key(k));
    keys_equal
        && a.iter()
            .all(|(k, v)| k == "metadata" || b.get(k) == Some(v))
        && strip(&new["metadata"]) == strip(&current["metadata"])
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Cluster {
    pub fn new(store: Store) -> Self {
        let mut cluster = Self {
            store,
            registry: builtins::registry(),
            ips: Allocator::default(),
        };
        for ns in builtins::INITIAL_NAMESPACES {
            let obj = json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": ns, "uid": uuid::Uuid::new_v4().to_string(),
                    "creationTimestamp": now_rfc3339(), "labels": {"kubernetes.io/metadata.name": ns}},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"},
            });
            cluster.store.put("/namespaces", obj);
        }
        cluster
    }

    pub fn get(&self, def: &ResourceDef, key: &ObjKey) -> Option<Arc<Obj>> {
        self.store.get(&def.storage, key)
    }

    /// Refuses content in a missing or terminating namespace, as the NamespaceLifecycle
    /// admission plugin does.
    fn check_namespace(&self, def: &ResourceDef, namespace: &str, name: &str) -> ApiResult<()> {
        if !def.namespaced {
            return Ok(());
        }
        let Some(ns) = self
            .store
            .get("/namespaces", &(String::new(), namespace.to_string()))
        else {
            return Err(ApiError::not_found("", "namespaces", namespace));
        };
        if !ns["metadata"]["deletionTimestamp"].is_null() {
            return Err(ApiError::forbidden(format!(
                "{} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
                def.qualified(),
            )));
        }
        Ok(())
    }

    /// Stores a new object (served form, admitted); `dry_run` only checks.
    pub fn commit_create(
        &mut self,
        def: &ResourceDef,
        served: Value,
        dry_run: bool,
    ) -> ApiResult<Arc<Obj>> {
        let key = key_of(&served);
        if self.get(def, &key).is_some() {
            return Err(ApiError::already_exists(&def.group, &def.plural, &key.1));
        }
        self.check_namespace(def, &key.0, &key.1)?;
        let mut stored = to_stored(def, served);
        if def.storage == "/services" {
            self.ips.allocate(&mut stored, dry_run)?;
        }
        if dry_run {
            return Ok(Arc::new(Obj::new(stored)));
        }
        let stored = self.store.put(&def.storage, stored);
        self.after_write(def, &stored);
        Ok(stored)
    }

    /// Replaces an object whose stored resourceVersion must still be `base_rv`.
    pub fn commit_update(
        &mut self,
        def: &ResourceDef,
        served: Value,
        base_rv: u64,
        dry_run: bool,
    ) -> Result<Arc<Obj>, Commit> {
        let key = key_of(&served);
        let Some(current) = self.get(def, &key) else {
            return Err(ApiError::not_found(&def.group, &def.plural, &key.1).into());
        };
        if rv_of(&current) != base_rv {
            return Err(Commit::Stale);
        }
        let stored = to_stored(def, served);
        // A write that changes nothing stores nothing (no new resourceVersion, no event).
        if same_content(&stored, &current) {
            return Ok(current);
        }
        if dry_run {
            return Ok(Arc::new(Obj::new(stored)));
        }
        if self.finalized(&stored) {
            let removed = self
                .remove(def, &key)
                .unwrap_or_else(|| Arc::new(Obj::new(stored)));
            return Ok(removed);
        }
        let stored = self.store.put(&def.storage, stored);
        self.after_write(def, &stored);
        Ok(stored)
    }

    /// An object being deleted whose finalizers are all gone.
    pub fn finalized(&self, obj: &Value) -> bool {
        let meta = &obj["metadata"];
        let empty = |v: &Value| v.as_array().is_none_or(Vec::is_empty);
        !meta["deletionTimestamp"].is_null()
            && empty(&meta["finalizers"])
            && empty(&obj["spec"]["finalizers"])
    }

    /// Follow-ups of a stored change: CRDs (re)register their kinds; an object whose
    /// owners are all gone is garbage (the collector would delete it within seconds).
    fn after_write(&mut self, def: &ResourceDef, stored: &Value) {
        if def.storage == crd::CRD_STORAGE {
            crd::register(&mut self.registry, stored);
            if let Some(storage) = crd::storage_of_crd(stored) {
                self.store.open_collection(&storage);
            }
        }
        let owners = stored["metadata"]["ownerReferences"].as_array();
        let dangling = owners.is_some_and(|refs| {
            !refs.is_empty()
                && refs.iter().all(|r| {
                    let uid = r["uid"].as_str().unwrap_or_default();
                    self.store.get_by_uid(uid).is_none()
                })
        });
        if dangling {
            self.delete_dependent(&def.storage, &key_of(stored));
        }
    }

    /// Stores a modified object, or removes it when it is finalized.
    pub fn put_or_remove(&mut self, def: &ResourceDef, stored: Value) -> Arc<Obj> {
        if self.finalized(&stored) {
            let key = key_of(&stored);
            return self
                .remove(def, &key)
                .unwrap_or_else(|| Arc::new(Obj::new(stored)));
        }
        let stored = self.store.put(&def.storage, stored);
        self.after_write(def, &stored);
        stored
    }

    /// The served definition for a storage key (for follow-ups that only know storage).
    pub fn def_for_storage(&self, storage: &str) -> Option<Arc<ResourceDef>> {
        self.registry.by_storage(storage)
    }
}

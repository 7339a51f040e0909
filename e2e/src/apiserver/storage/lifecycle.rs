//! Deletion: preconditions, finalizers and `deletionTimestamp`, propagation policies
//! (background, foreground, orphan), garbage collection of dependents, namespace
//! termination and the cleanup of a deleted CRD's objects.
//!
//! A real cluster runs the garbage collector, namespace and CRD controllers asynchronously;
//! here they run synchronously inside the delete (or the update that removes the last
//! finalizer), which is one valid schedule of theirs.

use std::sync::Arc;

use serde_json::{Value, json};

use super::cluster::{Cluster, now_rfc3339};
use super::crd;
use super::registry::ResourceDef;
use super::store::{Obj, ObjKey, uid_of};
use crate::apiserver::error::{ApiError, ApiResult};

pub const FOREGROUND: &str = "foregroundDeletion";
pub const ORPHAN: &str = "orphan";
const NAMESPACES: &str = "/namespaces";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    #[default]
    Background,
    Foreground,
    Orphan,
}

impl Propagation {
    pub fn parse(s: &str) -> ApiResult<Self> {
        match s {
            "Background" => Ok(Self::Background),
            "Foreground" => Ok(Self::Foreground),
            "Orphan" => Ok(Self::Orphan),
            other => Err(ApiError::bad_request(format!(
                "propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
            ))),
        }
    }
}

/// The parts of `DeleteOptions` the sandbox honours.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub propagation: Option<Propagation>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
}

fn finalizers(obj: &Value) -> Vec<String> {
    obj["metadata"]["finalizers"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn is_deleting(obj: &Value) -> bool {
    !obj["metadata"]["deletionTimestamp"].is_null()
}

impl Cluster {
    /// DELETE of one object; returns the object as it is after the call (stored form).
    pub fn delete(
        &mut self,
        def: &ResourceDef,
        key: &ObjKey,
        opts: &DeleteOptions,
    ) -> ApiResult<Value> {
        let Some(current) = self.get(def, key) else {
            return Err(ApiError::not_found(&def.group, &def.plural, &key.1));
        };
        if def.storage == NAMESPACES {
            refuse_immortal(&key.1)?;
        }
        check_preconditions(def, &current, opts)?;
        if opts.dry_run {
            return Ok((*current).clone());
        }
        if def.storage == NAMESPACES {
            return Ok((*self.delete_namespace(def, &current)).clone());
        }
        let policy = opts.propagation.unwrap_or_default();
        Ok((*self.delete_with(def, key, current, policy)).clone())
    }

    fn delete_with(
        &mut self,
        def: &ResourceDef,
        key: &ObjKey,
        current: Arc<Obj>,
        policy: Propagation,
    ) -> Arc<Obj> {
        let uid = uid_of(&current).to_string();
        if policy == Propagation::Orphan {
            self.orphan_dependents(&uid);
        }
        let mut current = current;
        if policy == Propagation::Foreground && !self.store.dependents_of(&uid).is_empty() {
            current = self.mark_deleting(def, &current, Some(FOREGROUND));
            for (storage, dep_key) in self.store.dependents_of(&uid) {
                self.delete_dependent(&storage, &dep_key);
            }
            self.check_foreground_owner(&uid);
            return self.get(def, key).unwrap_or(current);
        }
        if !finalizers(&current).is_empty() {
            return self.mark_deleting(def, &current, None);
        }
        self.remove(def, key).unwrap_or(current)
    }

    /// Sets `deletionTimestamp` (once) and optionally adds a finalizer.
    fn mark_deleting(
        &mut self,
        def: &ResourceDef,
        current: &Arc<Obj>,
        finalizer: Option<&str>,
    ) -> Arc<Obj> {
        let mut obj = current.to_value();
        if !is_deleting(&obj) {
            obj["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
            obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            if def.generation {
                let generation = obj["metadata"]["generation"].as_i64().unwrap_or(0);
                obj["metadata"]["generation"] = json!(generation + 1);
            }
        }
        if let Some(f) = finalizer
            && !finalizers(&obj).iter().any(|x| x == f)
        {
            let mut list = finalizers(&obj);
            list.push(f.to_string());
            obj["metadata"]["finalizers"] = json!(list);
        }
        // A repeated delete of an object already waiting changes nothing.
        if obj == ***current {
            return current.clone();
        }
        let stored = self.put_or_remove(def, obj);
        if def.storage == crd::CRD_STORAGE
            && self.get(def, &super::store::key_of(&stored)).is_some()
        {
            self.cleanup_crd(&stored);
        }
        stored
    }

    /// Removes an object now and runs what follows a removal.
    pub fn remove(&mut self, def: &ResourceDef, key: &ObjKey) -> Option<Arc<Obj>> {
        let removed = self.store.remove(&def.storage, key)?;
        self.after_remove(&def.storage, &removed);
        Some(removed)
    }

    fn after_remove(&mut self, storage: &str, removed: &Value) {
        if storage == "/services" {
            self.ips.release(removed);
        }
        if storage == crd::CRD_STORAGE {
            crd::unregister(&mut self.registry, &mut self.store, removed);
        }
        let uid = uid_of(removed).to_string();
        self.collect_dependents(&uid);
        let owners: Vec<String> = removed["metadata"]["ownerReferences"]
            .as_array()
            .map(|refs| {
                refs.iter()
                    .filter_map(|r| r["uid"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        for owner in owners {
            self.check_foreground_owner(&owner);
        }
        let namespace = removed["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if !namespace.is_empty() {
            self.try_finalize_namespace(&namespace);
        }
        if let Some(crd_name) = crd::crd_name_for_storage(storage) {
            self.try_finalize_crd(&crd_name);
        }
    }

    /// Garbage collection: dependents whose owners are all gone are deleted; the others
    /// lose the reference to the removed owner.
    fn collect_dependents(&mut self, owner_uid: &str) {
        for (storage, key) in self.store.dependents_of(owner_uid) {
            let Some(dep) = self.store.get(&storage, &key) else {
                continue;
            };
            let refs = dep["metadata"]["ownerReferences"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let alive = refs.iter().any(|r| {
                let uid = r["uid"].as_str().unwrap_or_default();
                uid != owner_uid && self.store.get_by_uid(uid).is_some()
            });
            if alive {
                self.drop_owner_ref(&storage, &dep, owner_uid);
            } else {
                self.delete_dependent(&storage, &key);
            }
        }
    }

    pub(super) fn delete_dependent(&mut self, storage: &str, key: &ObjKey) {
        let Some(def) = self.def_for_storage(storage) else {
            return;
        };
        let Some(current) = self.get(&def, key) else {
            return;
        };
        if is_deleting(&current) && finalizers(&current).iter().any(|f| f != FOREGROUND) {
            return;
        }
        let policy = if finalizers(&current).iter().any(|f| f == ORPHAN) {
            Propagation::Orphan
        } else {
            Propagation::Background
        };
        self.delete_with(&def, key, current, policy);
    }

    fn orphan_dependents(&mut self, owner_uid: &str) {
        for (storage, key) in self.store.dependents_of(owner_uid) {
            if let Some(dep) = self.store.get(&storage, &key) {
                self.drop_owner_ref(&storage, &dep, owner_uid);
            }
        }
    }

    fn drop_owner_ref(&mut self, storage: &str, dep: &Value, owner_uid: &str) {
        let mut obj = dep.clone();
        if let Some(refs) = obj["metadata"]["ownerReferences"].as_array_mut() {
            refs.retain(|r| r["uid"].as_str() != Some(owner_uid));
            if refs.is_empty()
                && let Some(meta) = obj["metadata"].as_object_mut()
            {
                meta.remove("ownerReferences");
            }
        }
        self.store.put(storage, obj);
    }

    /// A foreground-deleting owner goes once its last dependent is gone.
    fn check_foreground_owner(&mut self, owner_uid: &str) {
        let Some(((storage, key), owner)) = self.store.get_by_uid(owner_uid) else {
            return;
        };
        if !is_deleting(&owner)
            || !finalizers(&owner).iter().any(|f| f == FOREGROUND)
            || !self.store.dependents_of(owner_uid).is_empty()
        {
            return;
        }
        let Some(def) = self.def_for_storage(&storage) else {
            return;
        };
        let mut obj = (*owner).clone();
        let rest: Vec<String> = finalizers(&obj)
            .into_iter()
            .filter(|f| f != FOREGROUND)
            .collect();
        obj["metadata"]["finalizers"] = json!(rest);
        self.put_or_remove(&def, obj);
        let _ = key;
    }

    fn delete_namespace(&mut self, def: &ResourceDef, current: &Arc<Obj>) -> Arc<Obj> {
        let name = current["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let marked = if is_deleting(current) {
            current.clone()
        } else {
            let mut ns = current.to_value();
            ns["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
            ns["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            ns["status"]["phase"] = json!("Terminating");
            self.store.put(NAMESPACES, ns)
        };
        for (storage, key) in self.store.keys_in_namespace(&name) {
            self.delete_dependent(&storage, &key);
        }
        self.try_finalize_namespace(&name);
        self.get(def, &(String::new(), name)).unwrap_or(marked)
    }

    fn try_finalize_namespace(&mut self, name: &str) {
        let key = (String::new(), name.to_string());
        let Some(ns) = self.store.get(NAMESPACES, &key) else {
            return;
        };
        if is_deleting(&ns) && self.store.keys_in_namespace(name).is_empty() {
            let removed = self.store.remove(NAMESPACES, &key);
            if let Some(removed) = removed {
                self.after_remove(NAMESPACES, &removed);
            }
        }
    }

    /// A deleted CRD first deletes its objects, then goes (its cleanup finalizer).
    fn cleanup_crd(&mut self, crd_obj: &Value) {
        let Some(storage) = crd::storage_of_crd(crd_obj) else {
            return;
        };
        for obj in self.store.list(&storage, None, None) {
            let key = super::store::key_of(&obj);
            self.delete_dependent(&storage, &key);
        }
        let name = crd_obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.try_finalize_crd(&name);
    }

    fn try_finalize_crd(&mut self, name: &str) {
        let key = (String::new(), name.to_string());
        let Some(crd_obj) = self.store.get(crd::CRD_STORAGE, &key) else {
            return;
        };
        if !is_deleting(&crd_obj) {
            return;
        }
        let Some(storage) = crd::storage_of_crd(&crd_obj) else {
            return;
        };
        if self.store.count(&storage) > 0 {
            return;
        }
        let Some(def) = self.def_for_storage(crd::CRD_STORAGE) else {
            return;
        };
        let mut obj = (*crd_obj).clone();
        let rest: Vec<String> = finalizers(&obj)
            .into_iter()
            .filter(|f| f != crd::CLEANUP_FINALIZER)
            .collect();
        obj["metadata"]["finalizers"] = json!(rest);
        self.put_or_remove(&def, obj);
    }
}

/// The namespaces a cluster cannot work without: the namespace lifecycle admission
/// plugin forbids deleting them (`kube-node-lease` is not among them).
const IMMORTAL: &[&str] = &["default", "kube-system", "kube-public"];

fn refuse_immortal(name: &str) -> ApiResult<()> {
    if !IMMORTAL.contains(&name) {
        return Ok(());
    }
    let mut err = ApiError::forbidden(format!(
        "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
    ));
    err.details = Some(json!({"name": name, "kind": "namespaces"}));
    Err(err)
}

fn check_preconditions(def: &ResourceDef, current: &Value, opts: &DeleteOptions) -> ApiResult<()> {
    let name = current["metadata"]["name"].as_str().unwrap_or_default();
    if let Some(uid) = &opts.precondition_uid
        && uid != uid_of(current)
    {
        let why = format!(
            "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
            uid_of(current)
        );
        return Err(ApiError::conflict(&def.group, &def.plural, name, &why));
    }
    if let Some(rv) = &opts.precondition_rv {
        let actual = current["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default();
        if rv != actual {
            let why = format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {actual}"
            );
            return Err(ApiError::conflict(&def.group, &def.plural, name, &why));
        }
    }
    Ok(())
}

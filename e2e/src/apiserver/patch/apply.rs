//! Server-side apply, as structured-merge-diff does it in kube-apiserver: the applied
//! configuration is merged into the live object, the manager then owns exactly the fields
//! it applied, fields it applied before and no longer applies are removed unless another
//! manager owns them, and changing a field someone else owns is a conflict unless forced.

use serde_json::{Map, Value, json};

use super::compare::{Walker, strip_system};
use super::fieldset::{Element, FieldSet, child_value_mut, display_path, remove_child, value_at};
use super::managed::{
    APPLY, Entry, UPDATE, Writer, new_entry, read_entries, record, write_entries,
};
use super::model::{ListType, TypeModel};
use super::{ApplyOptions, Conflict, PatchError, json_equal};

/// The manager kube-apiserver gives the fields of an object first applied without any
/// `managedFields`.
const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// Applies `applied` (the request body) over `current` (`None`: the object is created).
pub fn server_side_apply(
    current: Option<&Value>,
    applied: &Value,
    opts: &ApplyOptions,
) -> Result<Value, PatchError> {
    check_body(applied)?;
    let walker = Walker::new(TypeModel::for_kind(kind_of(applied, current)));
    let live = current.cloned().unwrap_or_else(|| json!({}));
    let writer = Writer {
        manager: opts.manager,
        operation: APPLY,
        subresource: opts.subresource.unwrap_or_default(),
        api_version: opts.api_version,
        now: opts.now,
    };
    let mut entries = live_entries(current, &walker, opts.now);
    let config = configuration(applied, opts.subresource);
    let applied_set = walker.applied_set(&strip_system(&config))?;
    settle_conflicts(
        &mut entries,
        &writer,
        &applied_set,
        (&live, &config),
        opts.force,
    )?;

    let mut merged = live.clone();
    merge(&mut merged, &config, &mut Vec::new(), walker.model());
    remove_stale(&mut merged, &entries, &writer, &applied_set);
    let changed = !json_equal(
        &without_managed_fields(&merged),
        &without_managed_fields(&live),
    );
    own(&mut entries, &writer, applied_set, changed);
    write_entries(&mut merged, entries);
    Ok(merged)
}

fn check_body(applied: &Value) -> Result<(), PatchError> {
    if !applied.is_object() {
        return Err(PatchError::Invalid(
            "apply patch must be a JSON object".to_string(),
        ));
    }
    // kube-apiserver refuses an apply that tries to set ownership itself.
    match applied.get("metadata").and_then(|m| m.get("managedFields")) {
        Some(fields) if !fields.is_null() => Err(PatchError::Invalid(format!(
            "managed fields must be nil but was {fields}"
        ))),
        _ => Ok(()),
    }
}

fn kind_of<'v>(applied: &'v Value, current: Option<&'v Value>) -> &'v str {
    applied
        .get("kind")
        .or_else(|| current.and_then(|c| c.get("kind")))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Refuses the apply when it changes fields other managers own, unless forced: then those
/// fields leave the other managers' sets.
fn settle_conflicts(
    entries: &mut [Entry],
    writer: &Writer<'_>,
    applied_set: &FieldSet,
    (live, config): (&Value, &Value),
    force: bool,
) -> Result<(), PatchError> {
    let conflicts = find_conflicts(entries, writer, applied_set, live, config);
    if conflicts.is_empty() {
        return Ok(());
    }
    if !force {
        let list = conflicts.into_iter().map(|c| c.conflict).collect();
        return Err(PatchError::Conflict(list));
    }
    for found in &conflicts {
        let mut taken = FieldSet::default();
        taken.insert(&found.path);
        entries[found.entry].fields.subtract(&taken);
    }
    Ok(())
}

/// Removes what the applier applied last time and no longer applies, unless another
/// manager owns it.
fn remove_stale(
    merged: &mut Value,
    entries: &[Entry],
    writer: &Writer<'_>,
    applied_set: &FieldSet,
) {
    let Some(mine) = entries.iter().find(|e| e.is(writer)) else {
        return;
    };
    let mut others = FieldSet::default();
    for entry in entries.iter().filter(|e| !e.is(writer)) {
        others.union(&entry.fields);
    }
    let mut stale = mine.fields.clone();
    stale.subtract(applied_set);
    stale.subtract(&others);
    prune(merged, &stale, &others);
}

/// The live entries; an object that has none gets them from an update by
/// `before-first-apply` owning everything it holds.
fn live_entries(current: Option<&Value>, walker: &Walker, now: &str) -> Vec<Entry> {
    let Some(current) = current else {
        return Vec::new();
    };
    let entries = read_entries(current);
    if !entries.is_empty() {
        return entries;
    }
    let api_version = current
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let writer = Writer {
        manager: BEFORE_FIRST_APPLY,
        operation: UPDATE,
        subresource: "",
        api_version,
        now,
    };
    let diff = walker.diff(&json!({}), &strip_system(current));
    record(entries, &diff, &writer)
}

/// The configuration an apply sets: no nulls (they set nothing) and, for `/status`, only
/// the status.
fn configuration(applied: &Value, subresource: Option<&str>) -> Value {
    let mut config = without_nulls(applied);
    if subresource == Some("status")
        && let Value::Object(map) = &mut config
    {
        map.retain(|k, _| matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status"));
        if let Some(Value::Object(meta)) = map.get_mut("metadata") {
            meta.retain(|k, _| k == "name" || k == "namespace");
        }
    }
    config
}

fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

fn without_managed_fields(obj: &Value) -> Value {
    let mut out = obj.clone();
    if let Some(Value::Object(meta)) = out.get_mut("metadata") {
        meta.remove("managedFields");
    }
    out
}

struct Found {
    entry: usize,
    path: Vec<Element>,
    conflict: Conflict,
}

/// Leaves the applier sets to a value other than the live one, owned by someone else.
fn find_conflicts(
    entries: &[Entry],
    writer: &Writer<'_>,
    applied_set: &FieldSet,
    live: &Value,
    config: &Value,
) -> Vec<Found> {
    let mut found = Vec::new();
    for (index, entry) in entries.iter().enumerate().filter(|(_, e)| !e.is(writer)) {
        for path in applied_set.intersection(&entry.fields).members() {
            if applied_set.node(&path).is_some_and(FieldSet::has_children) {
                continue;
            }
            let (Some(live_value), Some(applied_value)) =
                (value_at(live, &path), value_at(config, &path))
            else {
                continue;
            };
            if !json_equal(live_value, applied_value) {
                let conflict = Conflict {
                    manager: entry.manager.clone(),
                    field: display_path(&path),
                };
                found.push(Found {
                    entry: index,
                    path,
                    conflict,
                });
            }
        }
    }
    found
}

/// Merges the applied configuration into the live object: maps by key, keyed lists item by
/// item, sets by value, anything else replaced.
fn merge<'v>(live: &mut Value, applied: &'v Value, path: &mut Vec<&'v str>, model: &TypeModel) {
    match (live, applied) {
        (Value::Object(target), Value::Object(source)) if !model.is_atomic_object(path) => {
            for (key, value) in source {
                path.push(key);
                match target.get_mut(key) {
                    Some(existing) => merge(existing, value, path, model),
                    None => {
                        target.insert(key.clone(), value.clone());
                    }
                }
                path.pop();
            }
        }
        (Value::Array(target), Value::Array(source)) => merge_list(target, source, path, model),
        (target, source) => *target = source.clone(),
    }
}

fn merge_list<'v>(
    target: &mut Vec<Value>,
    source: &'v [Value],
    path: &mut Vec<&'v str>,
    model: &TypeModel,
) {
    match model.list_type(path) {
        ListType::Atomic => *target = source.to_vec(),
        ListType::Set => {
            for item in source {
                if !target.iter().any(|t| json_equal(t, item)) {
                    target.push(item.clone());
                }
            }
        }
        ListType::Map {
            keys, atomic_items, ..
        } => {
            for item in source {
                let found = target.iter_mut().find(|t| same_key(t, item, keys));
                match found {
                    Some(existing) if !atomic_items => merge(existing, item, path, model),
                    Some(existing) => *existing = item.clone(),
                    None => target.push(item.clone()),
                }
            }
        }
    }
}

fn same_key(a: &Value, b: &Value, keys: &[&str]) -> bool {
    let key_of = |v: &Value, k: &str| v.get(k).cloned().or_else(|| super::model::key_default(k));
    keys.iter().all(|k| match (key_of(a, k), key_of(b, k)) {
        (Some(x), Some(y)) => json_equal(&x, &y),
        (None, None) => true,
        _ => false,
    })
}

/// Removes the fields of `stale` from `value`, keeping whatever `kept` (other managers'
/// fields) holds below them, and the key fields of list items that stay. A map or list this
/// empties goes too, as structured-merge-diff leaves nothing of it.
fn prune(value: &mut Value, stale: &FieldSet, kept: &FieldSet) {
    let empty = FieldSet::default();
    prune_node(value, stale, kept, &empty, &[]);
}

/// Returns whether anything was removed.
fn prune_node(
    value: &mut Value,
    stale: &FieldSet,
    kept: &FieldSet,
    empty: &FieldSet,
    protected: &[Element],
) -> bool {
    let mut removed = false;
    for (element, stale_child) in stale.children() {
        if protected.contains(element) {
            continue;
        }
        let kept_child = kept.child(element).unwrap_or(empty);
        if stale_child.is_member() && kept_child.is_empty() {
            remove_child(value, element);
            removed = true;
            continue;
        }
        let Some(child) = child_value_mut(value, element) else {
            continue;
        };
        if prune_node(child, stale_child, kept_child, empty, &key_fields(element)) {
            removed = true;
            if is_empty_container(child) {
                remove_child(value, element);
            }
        }
    }
    removed
}

fn is_empty_container(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// The `f:` elements of the key fields a `k:` element names.
fn key_fields(element: &str) -> Vec<Element> {
    let Some(key) = element.strip_prefix("k:") else {
        return Vec::new();
    };
    match serde_json::from_str::<Map<String, Value>>(key) {
        Ok(map) => map.keys().map(|k| format!("f:{k}")).collect(),
        Err(_) => Vec::new(),
    }
}

/// Gives the applier exactly `fields`; its time moves when the object changed or the entry
/// is new.
fn own(entries: &mut Vec<Entry>, writer: &Writer<'_>, fields: FieldSet, changed: bool) {
    match entries.iter_mut().find(|e| e.is(writer)) {
        Some(entry) => {
            entry.fields = fields;
            entry.api_version = writer.api_version.to_string();
            if changed {
                entry.time = Some(writer.now.to_string());
            }
        }
        None => {
            let mut entry = new_entry(writer);
            entry.fields = fields;
            entries.push(entry);
        }
    }
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;

//! `metadata.managedFields`: reading and writing the entries, one per manager, operation
//! and subresource, sorted as kube-apiserver sorts them.

use serde_json::{Map, Value, json};

use super::compare::Diff;
use super::fieldset::FieldSet;

pub(crate) const APPLY: &str = "Apply";
pub(crate) const UPDATE: &str = "Update";

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub(crate) manager: String,
    pub(crate) operation: String,
    pub(crate) api_version: String,
    pub(crate) time: Option<String>,
    pub(crate) subresource: String,
    pub(crate) fields: FieldSet,
}

/// Who is writing: entries are kept per (manager, operation, subresource).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Writer<'a> {
    pub(crate) manager: &'a str,
    pub(crate) operation: &'a str,
    pub(crate) subresource: &'a str,
    pub(crate) api_version: &'a str,
    pub(crate) now: &'a str,
}

impl Entry {
    pub(crate) fn is(&self, writer: &Writer<'_>) -> bool {
        self.manager == writer.manager
            && self.operation == writer.operation
            && self.subresource == writer.subresource
    }

    fn from_json(value: &Value) -> Option<Entry> {
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
        let manager = text("manager").unwrap_or_default();
        let operation = text("operation")?;
        Some(Entry {
            manager,
            operation,
            api_version: text("apiVersion").unwrap_or_default(),
            time: text("time"),
            subresource: text("subresource").unwrap_or_default(),
            fields: FieldSet::from_fields_v1(value.get("fieldsV1").unwrap_or(&Value::Null)),
        })
    }

    fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("manager".into(), json!(self.manager));
        map.insert("operation".into(), json!(self.operation));
        map.insert("apiVersion".into(), json!(self.api_version));
        if let Some(time) = &self.time {
            map.insert("time".into(), json!(time));
        }
        map.insert("fieldsType".into(), json!("FieldsV1"));
        map.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if !self.subresource.is_empty() {
            map.insert("subresource".into(), json!(self.subresource));
        }
        Value::Object(map)
    }
}

fn managed_fields(obj: &Value) -> Option<&Vec<Value>> {
    obj.get("metadata")?.get("managedFields")?.as_array()
}

/// The entries of an object (entries without an operation, like the `[{}]` that resets
/// ownership, are dropped).
pub(crate) fn read_entries(obj: &Value) -> Vec<Entry> {
    managed_fields(obj)
        .map(|list| list.iter().filter_map(Entry::from_json).collect())
        .unwrap_or_default()
}

/// The entries an update starts from: the stored ones, unless the request brought other
/// `managedFields` (a client may rewrite or, with `[{}]`, reset them).
pub(crate) fn base_entries(old: Option<&Value>, new: &Value) -> Vec<Entry> {
    let stored = old.and_then(managed_fields);
    match managed_fields(new) {
        Some(sent) if !sent.is_empty() && Some(sent) != stored => read_entries(new),
        _ => old.map(read_entries).unwrap_or_default(),
    }
}

/// Writes `entries` (empty sets dropped, sorted) into `obj.metadata.managedFields`.
pub(crate) fn write_entries(obj: &mut Value, mut entries: Vec<Entry>) {
    entries.retain(|e| !e.fields.is_empty());
    entries.sort_by(|a, b| {
        (
            &a.operation,
            &a.time,
            &a.manager,
            &a.api_version,
            &a.subresource,
        )
            .cmp(&(
                &b.operation,
                &b.time,
                &b.manager,
                &b.api_version,
                &b.subresource,
            ))
    });
    let Value::Object(map) = obj else { return };
    let meta = map.entry("metadata").or_insert_with(|| json!({}));
    let Value::Object(meta) = meta else { return };
    if entries.is_empty() {
        meta.remove("managedFields");
    } else {
        meta.insert(
            "managedFields".into(),
            Value::Array(entries.iter().map(Entry::to_json).collect()),
        );
    }
}

/// Records an update by `writer`: the fields it added or changed become its own and leave
/// every other set; removed fields leave all sets. The writer's time moves only when it
/// changed something, as kube-apiserver's `managedFieldsUpdater` does.
pub(crate) fn record(mut entries: Vec<Entry>, diff: &Diff, writer: &Writer<'_>) -> Vec<Entry> {
    let mut changed = diff.added.clone();
    changed.union(&diff.modified);
    for entry in entries.iter_mut().filter(|e| !e.is(writer)) {
        entry.fields.subtract(&changed);
        entry.fields.subtract(&diff.removed);
    }
    let index = match entries.iter().position(|e| e.is(writer)) {
        Some(index) => index,
        None if changed.is_empty() => return entries,
        None => {
            entries.push(new_entry(writer));
            entries.len() - 1
        }
    };
    let entry = &mut entries[index];
    entry.fields.subtract(&diff.removed);
    if !changed.is_empty() {
        entry.fields.union(&changed);
        entry.time = Some(writer.now.to_string());
        entry.api_version = writer.api_version.to_string();
    }
    entries
}

pub(crate) fn new_entry(writer: &Writer<'_>) -> Entry {
    Entry {
        manager: writer.manager.to_string(),
        operation: writer.operation.to_string(),
        api_version: writer.api_version.to_string(),
        time: Some(writer.now.to_string()),
        subresource: writer.subresource.to_string(),
        fields: FieldSet::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_sort_apply_first() {
        let mut obj = json!({"metadata": {"managedFields": [
            {"manager": "b", "operation": "Update", "apiVersion": "v1", "time": "2026-01-01T00:00:00Z",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:x": {}}}},
            {"manager": "a", "operation": "Apply", "apiVersion": "v1", "time": "2026-01-02T00:00:00Z",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:y": {}}}, "subresource": "status"}
        ]}});
        let entries = read_entries(&obj);
        assert_eq!(entries.len(), 2);
        write_entries(&mut obj, entries);
        let list = obj["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(list[0]["manager"], "a");
        assert_eq!(list[0]["subresource"], "status");
        assert_eq!(list[1]["fieldsV1"], json!({"f:data": {"f:x": {}}}));
        assert!(list[1].get("subresource").is_none());
    }

    #[test]
    fn empty_sets_are_dropped_and_the_list_disappears() {
        let mut obj = json!({"metadata": {"name": "x", "managedFields": [
            {"manager": "a", "operation": "Update", "fieldsType": "FieldsV1", "fieldsV1": {}}
        ]}});
        let entries = read_entries(&obj);
        write_entries(&mut obj, entries);
        assert_eq!(obj, json!({"metadata": {"name": "x"}}));
    }

    #[test]
    fn a_request_may_reset_managed_fields() {
        let old = json!({"metadata": {"managedFields": [
            {"manager": "a", "operation": "Update", "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {}}}
        ]}});
        let reset = json!({"metadata": {"managedFields": [{}]}});
        assert!(base_entries(Some(&old), &reset).is_empty());
        let same = old.clone();
        assert_eq!(base_entries(Some(&old), &same).len(), 1);
        let without = json!({"metadata": {}});
        assert_eq!(base_entries(Some(&old), &without).len(), 1);
    }
}

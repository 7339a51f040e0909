//! Ownership of every write that is not an apply (POST, PUT, JSON/merge/strategic PATCH):
//! the writer becomes the `Update` owner of what it changed.

use serde_json::{Value, json};

use super::compare::{Walker, strip_system};
use super::managed::{UPDATE, Writer, base_entries, record, write_entries};
use super::model::TypeModel;

/// Records in `new.metadata.managedFields` that `manager` wrote `new` over `old` (`None` on
/// create): fields it added or changed become its own (operation `Update`, one entry per
/// manager and subresource) and leave the other managers' sets; removed fields leave every
/// set; managers left with nothing are dropped.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    subresource: Option<&str>,
    now: &str,
) {
    let entries = base_entries(old, new);
    let kind = new.get("kind").and_then(Value::as_str).unwrap_or_default();
    let walker = Walker::new(TypeModel::for_kind(kind));
    let empty = json!({});
    let diff = walker.diff(&strip_system(old.unwrap_or(&empty)), &strip_system(new));
    let writer = Writer {
        manager,
        operation: UPDATE,
        subresource: subresource.unwrap_or_default(),
        api_version,
        now,
    };
    let entries = record(entries, &diff, &writer);
    write_entries(new, entries);
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1: &str = "2026-11-21T10:00:00Z";
    const T2: &str = "2026-11-21T10:05:00Z";

    fn entries(obj: &Value) -> &Vec<Value> {
        obj["metadata"]["managedFields"]
            .as_array()
            .expect("managedFields")
    }

    fn entry<'a>(obj: &'a Value, manager: &str) -> Option<&'a Value> {
        obj["metadata"]["managedFields"]
            .as_array()?
            .iter()
            .find(|e| e["manager"] == manager)
    }

    fn configmap(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cfg", "namespace": "default", "uid": "u1", "resourceVersion": "5"},
            "data": data})
    }

    #[test]
    fn create_owns_every_field_but_system_metadata() {
        let mut obj = configmap(json!({"a": "1"}));
        obj["metadata"]["labels"] = json!({"app": "x"});
        record_update(None, &mut obj, "kubectl-create", "v1", None, T1);
        let list = entries(&obj);
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["manager"], "kubectl-create");
        assert_eq!(list[0]["operation"], "Update");
        assert_eq!(list[0]["apiVersion"], "v1");
        assert_eq!(list[0]["time"], T1);
        assert_eq!(list[0]["fieldsType"], "FieldsV1");
        assert_eq!(
            list[0]["fieldsV1"],
            json!({"f:data": {".": {}, "f:a": {}}, "f:metadata": {"f:labels": {".": {}, "f:app": {}}}})
        );
    }

    #[test]
    fn a_change_moves_ownership_to_the_writer() {
        let mut old = configmap(json!({"a": "1", "b": "2"}));
        record_update(None, &mut old, "creator", "v1", None, T1);
        let mut new = old.clone();
        new["data"]["a"] = json!("changed");
        record_update(Some(&old), &mut new, "editor", "v1", None, T2);
        let creator = entry(&new, "creator").expect("creator keeps b");
        assert_eq!(creator["fieldsV1"], json!({"f:data": {".": {}, "f:b": {}}}));
        assert_eq!(creator["time"], T1);
        let editor = entry(&new, "editor").expect("editor owns a");
        assert_eq!(editor["fieldsV1"], json!({"f:data": {"f:a": {}}}));
        assert_eq!(editor["time"], T2);
    }

    #[test]
    fn removed_fields_leave_all_sets_and_empty_managers_go() {
        let mut old = configmap(json!({"a": "1"}));
        record_update(None, &mut old, "creator", "v1", None, T1);
        let mut new = old.clone();
        new.as_object_mut().unwrap().remove("data");
        record_update(Some(&old), &mut new, "cleaner", "v1", None, T2);
        assert!(new["metadata"].get("managedFields").is_none(), "{new}");
    }

    #[test]
    fn a_no_op_write_changes_nothing() {
        let mut old = configmap(json!({"a": "1"}));
        record_update(None, &mut old, "creator", "v1", None, T1);
        let mut new = old.clone();
        record_update(Some(&old), &mut new, "creator", "v1", None, T2);
        assert_eq!(new, old);
        let mut other = old.clone();
        record_update(Some(&old), &mut other, "someone-else", "v1", None, T2);
        assert_eq!(other, old);
    }

    #[test]
    fn status_writes_are_tracked_per_subresource() {
        let old = json!({"kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 1}});
        let mut new = old.clone();
        new["status"] = json!({"readyReplicas": 1});
        record_update(
            Some(&old),
            &mut new,
            "kubelet",
            "apps/v1",
            Some("status"),
            T1,
        );
        let e = entry(&new, "kubelet").unwrap();
        assert_eq!(e["subresource"], "status");
        assert_eq!(e["fieldsV1"], json!({"f:status": {"f:readyReplicas": {}}}));
    }

    #[test]
    fn keyed_items_are_owned_by_key() {
        let old = json!({"kind": "Deployment", "spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "w:1"}
        ]}}}});
        let mut new = old.clone();
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("w:2");
        record_update(Some(&old), &mut new, "kubectl-set", "apps/v1", None, T1);
        let e = entry(&new, "kubectl-set").unwrap();
        assert_eq!(
            e["fieldsV1"],
            json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"web\"}": {"f:image": {}}
            }}}}})
        );
    }

    #[test]
    fn client_sent_managed_fields_reset_ownership() {
        let mut old = configmap(json!({"a": "1"}));
        record_update(None, &mut old, "creator", "v1", None, T1);
        let mut new = old.clone();
        new["metadata"]["managedFields"] = json!([{}]);
        record_update(Some(&old), &mut new, "resetter", "v1", None, T2);
        assert!(new["metadata"].get("managedFields").is_none(), "{new}");
    }
}

//! Field sets of applied configurations and diffs of updates, for built-in and custom kinds.

use serde_json::json;

use super::*;

fn walker(kind: &str) -> Walker {
    Walker::new(TypeModel::for_kind(kind))
}

#[test]
fn applied_sets_hold_leaves_and_keyed_items() {
    let config = json!({
        "metadata": {"labels": {"app": "web"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"spec": {"containers": [{"name": "web", "image": "w:1"}]}}}
    });
    let set = walker("Deployment").applied_set(&config).unwrap();
    assert_eq!(
        set.to_fields_v1(),
        json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {"f:replicas": {}, "f:selector": {},
                "f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}
                }}}}
        })
    );
}

#[test]
fn applied_keyed_items_need_their_keys_once() {
    let missing = json!({"spec": {"containers": [{"image": "x"}]}});
    let err = walker("Pod").applied_set(&missing).unwrap_err();
    assert!(
        err.to_string().contains("omits key field \"name\""),
        "{err}"
    );
    let twice = json!({"spec": {"containers": [{"name": "a"}, {"name": "a"}]}});
    assert!(
        walker("Pod")
            .applied_set(&twice)
            .unwrap_err()
            .to_string()
            .contains("duplicate entries")
    );
}

#[test]
fn finalizers_are_a_set_and_owner_references_atomic_items() {
    let config = json!({"metadata": {
        "finalizers": ["a"],
        "ownerReferences": [{"uid": "1", "kind": "X", "name": "x"}]
    }});
    let set = walker("Canary").applied_set(&config).unwrap();
    assert_eq!(
        set.to_fields_v1(),
        json!({"f:metadata": {"f:finalizers": {"v:\"a\"": {}}, "f:ownerReferences": {"k:{\"uid\":\"1\"}": {}}}})
    );
}

#[test]
fn diff_reports_added_modified_and_removed_fields() {
    let old = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 1, "paused": true}});
    let new = json!({"metadata": {"labels": {"a": "1", "c": "3"}}, "spec": {"replicas": 2},
        "data": {"k": "v"}});
    let diff = walker("Deployment").diff(&old, &new);
    assert_eq!(
        diff.added.to_fields_v1(),
        json!({"f:metadata": {"f:labels": {"f:c": {}}}, "f:data": {".": {}, "f:k": {}}})
    );
    assert_eq!(
        diff.modified.to_fields_v1(),
        json!({"f:spec": {"f:replicas": {}}})
    );
    assert_eq!(
        diff.removed.to_fields_v1(),
        json!({"f:metadata": {"f:labels": {"f:b": {}}}, "f:spec": {"f:paused": {}}})
    );
}

#[test]
fn diff_walks_keyed_lists_item_by_item() {
    let old = json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b"}]}});
    let new = json!({"spec": {"containers": [{"name": "a", "image": "2"}, {"name": "c"}]}});
    let diff = walker("Pod").diff(&old, &new);
    let a = r#"k:{"name":"a"}"#;
    let c = r#"k:{"name":"c"}"#;
    let b = r#"k:{"name":"b"}"#;
    assert_eq!(
        diff.modified.to_fields_v1(),
        json!({"f:spec": {"f:containers": {a: {"f:image": {}}}}})
    );
    assert_eq!(
        diff.added.to_fields_v1(),
        json!({"f:spec": {"f:containers": {c: {".": {}, "f:name": {}}}}})
    );
    assert_eq!(
        diff.removed.to_fields_v1(),
        json!({"f:spec": {"f:containers": {b: {".": {}, "f:name": {}}}}})
    );
}

#[test]
fn strip_system_drops_server_metadata() {
    let obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "x", "uid": "u", "resourceVersion": "1", "labels": {"a": "b"}}});
    assert_eq!(
        strip_system(&obj),
        json!({"metadata": {"labels": {"a": "b"}}})
    );
    assert_eq!(
        strip_system(&json!({"kind": "X", "metadata": {"name": "x"}})),
        json!({})
    );
}

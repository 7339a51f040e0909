//! Server-side apply cases, after the behaviours kube-apiserver documents (field management,
//! conflicts, merge strategy) and structured-merge-diff's tests.

use serde_json::{Value, json};

use super::server_side_apply;
use crate::apiserver::patch::{ApplyOptions, PatchError, record_update};

const T1: &str = "2026-11-21T10:00:00Z";
const T2: &str = "2026-11-21T10:05:00Z";

fn opts(manager: &str) -> ApplyOptions<'_> {
    ApplyOptions {
        manager,
        force: false,
        api_version: "apps/v1",
        subresource: None,
        now: T1,
    }
}

fn apply(current: Option<&Value>, body: Value, manager: &str) -> Value {
    server_side_apply(current, &body, &opts(manager)).expect("apply succeeds")
}

fn entry<'a>(obj: &'a Value, manager: &str) -> Option<&'a Value> {
    obj["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .find(|e| e["manager"] == manager)
}

fn deployment(replicas: i64, labels: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": labels},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "web", "image": "web:1"}]}}}
    })
}

fn conflicts(result: Result<Value, PatchError>) -> Vec<(String, String)> {
    match result {
        Err(PatchError::Conflict(list)) => list.into_iter().map(|c| (c.manager, c.field)).collect(),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[test]
fn apply_creates_and_owns_exactly_what_it_applied() {
    let obj = apply(None, deployment(2, json!({"app": "web"})), "serin");
    assert_eq!(obj["spec"]["replicas"], 2);
    assert_eq!(obj["metadata"]["name"], "web");
    let e = entry(&obj, "serin").expect("entry");
    assert_eq!(e["operation"], "Apply");
    assert_eq!(e["apiVersion"], "apps/v1");
    assert_eq!(e["time"], T1);
    assert_eq!(
        e["fieldsV1"],
        json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}
            }}}}
        })
    );
}

#[test]
fn apply_keeps_what_the_applier_does_not_mention() {
    let mut live = apply(None, deployment(2, json!({"app": "web"})), "serin");
    let before = live.clone();
    live["metadata"]["annotations"] = json!({"note": "kept"});
    record_update(Some(&before), &mut live, "kubectl-annotate", "v1", None, T1);
    let obj = apply(Some(&live), deployment(3, json!({"app": "web"})), "serin");
    assert_eq!(obj["metadata"]["annotations"], json!({"note": "kept"}));
    assert_eq!(obj["spec"]["replicas"], 3);
    assert!(entry(&obj, "kubectl-annotate").is_some());
}

#[test]
fn a_field_no_longer_applied_is_removed() {
    let live = apply(
        None,
        deployment(2, json!({"app": "web", "canary": "true"})),
        "serin",
    );
    let obj = apply(Some(&live), deployment(2, json!({"app": "web"})), "serin");
    assert_eq!(obj["metadata"]["labels"], json!({"app": "web"}));
    assert_eq!(
        entry(&obj, "serin").unwrap()["fieldsV1"]["f:metadata"],
        json!({"f:labels": {"f:app": {}}})
    );
}

#[test]
fn maps_and_structs_emptied_by_removal_disappear() {
    let mut config = deployment(2, json!({"canary": "true"}));
    config["spec"]["strategy"] = json!({"rollingUpdate": {"maxSurge": 1}});
    let live = apply(None, config, "serin");
    let obj = apply(
        Some(&live),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"}, "spec": {"replicas": 2}}),
        "serin",
    );
    assert!(obj["metadata"].get("labels").is_none(), "{obj}");
    assert!(obj["spec"].get("strategy").is_none(), "{obj}");
    assert!(obj["spec"].get("template").is_none(), "{obj}");
    assert_eq!(obj["spec"]["replicas"], 2);
}

#[test]
fn a_field_no_longer_applied_stays_when_another_applier_owns_it() {
    let live = apply(
        None,
        deployment(2, json!({"app": "web", "shared": "x"})),
        "a",
    );
    let live = apply(
        Some(&live),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"shared": "x", "b": "1"}}}),
        "b",
    );
    let obj = apply(Some(&live), deployment(2, json!({"app": "web"})), "a");
    assert_eq!(
        obj["metadata"]["labels"],
        json!({"app": "web", "shared": "x", "b": "1"})
    );
    // Then b stops applying it too: nobody owns it any more.
    let obj = apply(
        Some(&obj),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"b": "1"}}}),
        "b",
    );
    assert_eq!(obj["metadata"]["labels"], json!({"app": "web", "b": "1"}));
}

#[test]
fn a_container_no_longer_applied_is_removed_but_not_others() {
    let mut config = deployment(1, json!({}));
    config["spec"]["template"]["spec"]["containers"] = json!([
        {"name": "web", "image": "web:1"}, {"name": "old", "image": "old:1"}
    ]);
    let live = apply(None, config, "serin");
    let mut injected = live.clone();
    injected["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "sidecar", "image": "envoy"}));
    record_update(Some(&live), &mut injected, "injector", "apps/v1", None, T1);
    let obj = apply(Some(&injected), deployment(1, json!({})), "serin");
    let names: Vec<&str> = obj["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["web", "sidecar"]);
}

#[test]
fn changing_a_field_another_manager_owns_is_a_conflict() {
    let live = apply(None, deployment(2, json!({"app": "web"})), "serin");
    let mut scaled = live.clone();
    scaled["spec"]["replicas"] = json!(5);
    record_update(
        Some(&live),
        &mut scaled,
        "kubectl-scale",
        "apps/v1",
        None,
        T2,
    );
    let result = server_side_apply(
        Some(&scaled),
        &deployment(3, json!({"app": "web"})),
        &opts("serin"),
    );
    assert_eq!(
        conflicts(result),
        [("kubectl-scale".to_string(), ".spec.replicas".to_string())]
    );
}

#[test]
fn conflicts_name_keyed_items_like_structured_merge_diff() {
    let live = apply(None, deployment(2, json!({})), "a");
    let mut config = deployment(2, json!({}));
    config["spec"]["template"]["spec"]["containers"][0]["image"] = json!("web:2");
    let result = server_side_apply(Some(&live), &config, &opts("b"));
    let found = conflicts(result);
    assert_eq!(
        found,
        [(
            "a".to_string(),
            ".spec.template.spec.containers[name=\"web\"].image".to_string()
        )]
    );
    let err = server_side_apply(Some(&live), &config, &opts("b")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"a\": .spec.template.spec.containers[name=\"web\"].image"
    );
}

#[test]
fn force_moves_ownership_to_the_applier() {
    let live = apply(None, deployment(2, json!({"app": "web"})), "serin");
    let mut scaled = live.clone();
    scaled["spec"]["replicas"] = json!(5);
    record_update(
        Some(&live),
        &mut scaled,
        "kubectl-scale",
        "apps/v1",
        None,
        T2,
    );
    let forced = ApplyOptions {
        force: true,
        ..opts("serin")
    };
    let obj = server_side_apply(
        Some(&scaled),
        &deployment(3, json!({"app": "web"})),
        &forced,
    )
    .unwrap();
    assert_eq!(obj["spec"]["replicas"], 3);
    assert!(
        entry(&obj, "kubectl-scale").is_none(),
        "scale lost its only field: {obj}"
    );
    assert!(
        entry(&obj, "serin").unwrap()["fieldsV1"]["f:spec"]
            .get("f:replicas")
            .is_some()
    );
}

#[test]
fn equal_values_are_shared_not_conflicting() {
    let live = apply(None, deployment(2, json!({"app": "web"})), "a");
    let obj = apply(Some(&live), deployment(2, json!({"app": "web"})), "b");
    for manager in ["a", "b"] {
        let e = entry(&obj, manager).expect("both own");
        assert!(
            e["fieldsV1"]["f:spec"].get("f:replicas").is_some(),
            "{manager}"
        );
    }
    // a can now change nothing b also owns without a conflict...
    let result = server_side_apply(
        Some(&obj),
        &deployment(4, json!({"app": "web"})),
        &opts("a"),
    );
    assert_eq!(
        conflicts(result),
        [("b".to_string(), ".spec.replicas".to_string())]
    );
    // ...but dropping it leaves it with b.
    let mut without = deployment(2, json!({"app": "web"}));
    without["spec"].as_object_mut().unwrap().remove("replicas");
    let obj = apply(Some(&obj), without, "a");
    assert_eq!(obj["spec"]["replicas"], 2);
}

#[test]
fn a_no_op_apply_changes_nothing() {
    let live = apply(None, deployment(2, json!({"app": "web"})), "serin");
    let again = server_side_apply(
        Some(&live),
        &deployment(2, json!({"app": "web"})),
        &ApplyOptions {
            now: T2,
            ..opts("serin")
        },
    )
    .unwrap();
    assert_eq!(again, live);
}

#[test]
fn an_object_without_managed_fields_belongs_to_before_first_apply() {
    let live = deployment(2, json!({"app": "web"}));
    let result = server_side_apply(
        Some(&live),
        &deployment(3, json!({"app": "web"})),
        &opts("serin"),
    );
    assert_eq!(
        conflicts(result),
        [(
            "before-first-apply".to_string(),
            ".spec.replicas".to_string()
        )]
    );
    let obj = apply(Some(&live), deployment(2, json!({"app": "web"})), "serin");
    assert!(entry(&obj, "before-first-apply").is_some());
}

#[test]
fn an_update_after_an_apply_takes_the_field_away_from_it() {
    let live = apply(
        None,
        deployment(2, json!({"app": "web", "x": "1"})),
        "serin",
    );
    let mut edited = live.clone();
    edited["metadata"]["labels"]["x"] = json!("2");
    record_update(
        Some(&live),
        &mut edited,
        "kubectl-edit",
        "apps/v1",
        None,
        T2,
    );
    // serin no longer owns x: omitting it does not remove the edit.
    let obj = apply(Some(&edited), deployment(2, json!({"app": "web"})), "serin");
    assert_eq!(obj["metadata"]["labels"]["x"], "2");
}

#[test]
fn status_applies_are_tracked_apart_and_own_only_status() {
    let canary = json!({"apiVersion": "serin.dev/v1beta1", "kind": "Canary",
        "metadata": {"name": "c"}, "spec": {"analysis": {"stepWeight": 10}}});
    let live = apply(None, canary, "user");
    let status = json!({"apiVersion": "serin.dev/v1beta1", "kind": "Canary", "metadata": {"name": "c"},
        "spec": {"ignored": true},
        "status": {"phase": "Progressing", "conditions": [{"type": "Promoted", "status": "Unknown"}]}});
    let status_opts = ApplyOptions {
        subresource: Some("status"),
        ..opts("serin")
    };
    let obj = server_side_apply(Some(&live), &status, &status_opts).unwrap();
    assert_eq!(obj["status"]["phase"], "Progressing");
    assert!(obj["spec"].get("ignored").is_none());
    let e = obj["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["subresource"] == "status")
        .expect("status entry");
    assert_eq!(
        e["fieldsV1"],
        json!({"f:status": {"f:phase": {}, "f:conditions": {"k:{\"type\":\"Promoted\"}": {
            ".": {}, "f:status": {}, "f:type": {}
        }}}})
    );
    // Conditions merge by type: another condition applied later keeps the first one's owner.
    let more = json!({"apiVersion": "serin.dev/v1beta1", "kind": "Canary", "metadata": {"name": "c"},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    let other = ApplyOptions {
        subresource: Some("status"),
        ..opts("other")
    };
    let obj = server_side_apply(Some(&obj), &more, &other).unwrap();
    assert_eq!(
        obj["status"]["conditions"].as_array().map(Vec::len),
        Some(2)
    );
}

#[test]
fn custom_kind_lists_are_atomic() {
    let canary = |weights: Value| {
        json!({"apiVersion": "serin.dev/v1beta1", "kind": "Canary",
        "metadata": {"name": "c"}, "spec": {"analysis": {"stepWeights": weights}}})
    };
    let live = apply(None, canary(json!([10, 20, 30])), "user");
    let obj = apply(Some(&live), canary(json!([5])), "user");
    assert_eq!(obj["spec"]["analysis"]["stepWeights"], json!([5]));
}

#[test]
fn finalizers_are_merged_as_a_set_and_pruned_by_value() {
    let with = |finalizers: Value| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "finalizers": finalizers}})
    };
    let live = apply(None, with(json!(["a/x"])), "a");
    let live = apply(Some(&live), with(json!(["b/y"])), "b");
    assert_eq!(live["metadata"]["finalizers"], json!(["a/x", "b/y"]));
    let obj = apply(Some(&live), with(json!([])), "a");
    assert_eq!(obj["metadata"]["finalizers"], json!(["b/y"]));
}

#[test]
fn managed_fields_in_the_body_are_refused() {
    let mut body = deployment(1, json!({}));
    body["metadata"]["managedFields"] = json!([]);
    let err = server_side_apply(None, &body, &opts("serin")).unwrap_err();
    assert!(
        err.to_string().starts_with("managed fields must be nil"),
        "{err}"
    );
    assert!(server_side_apply(None, &json!("text"), &opts("serin")).is_err());
}

#[test]
fn nulls_in_the_applied_configuration_set_nothing() {
    let mut body = deployment(2, json!({"app": "web"}));
    body["spec"]["paused"] = Value::Null;
    let obj = apply(None, body, "serin");
    assert!(obj["spec"].get("paused").is_none());
}

//! Strategic merge patch cases, after k8s.io/apimachinery's strategicpatch tests and the
//! patches `kubectl apply`/`kubectl patch` send.

use serde_json::{Value, json};

use super::strategic_merge_patch;
use crate::apiserver::patch::PatchError;

fn deployment(containers: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
        "spec": {"replicas": 2, "template": {"spec": {"containers": containers}}}
    })
}

fn containers(obj: &Value) -> &Value {
    &obj["spec"]["template"]["spec"]["containers"]
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .map(|l| l.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default()
}

fn patch(target: &Value, body: Value, kind: &str) -> Value {
    strategic_merge_patch(target, &body, kind).expect("patch applies")
}

#[test]
fn maps_merge_and_null_deletes() {
    let live = deployment(json!([]));
    let out = patch(
        &live,
        json!({"metadata": {"labels": {"tier": null, "env": "prod"}}}),
        "Deployment",
    );
    assert_eq!(
        out["metadata"]["labels"],
        json!({"app": "web", "env": "prod"})
    );
    assert_eq!(out["spec"]["replicas"], 2);
}

#[test]
fn containers_merge_by_name() {
    let live = deployment(json!([
        {"name": "web", "image": "web:1", "args": ["--a"]},
        {"name": "proxy", "image": "envoy:1"}
    ]));
    let out = patch(
        &live,
        json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:2"}]}}}}),
        "Deployment",
    );
    assert_eq!(
        containers(&out),
        &json!([{"name": "web", "image": "web:2", "args": ["--a"]}, {"name": "proxy", "image": "envoy:1"}])
    );
}

/// Kubernetes puts the items a patch adds before the live ones unless `$setElementOrder`
/// says otherwise (its `mergeSortedSlice` only keeps a live item first when both are known).
#[test]
fn a_new_container_goes_first_without_an_order_directive() {
    let live = deployment(json!([{"name": "web", "image": "web:1"}]));
    let out = patch(
        &live,
        json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "s:1"}]}}}}),
        "Deployment",
    );
    assert_eq!(names(containers(&out)), ["sidecar", "web"]);
}

#[test]
fn container_ports_merge_on_container_port() {
    let live = deployment(json!([{"name": "web", "ports": [
        {"containerPort": 80, "name": "http"},
        {"containerPort": 9090, "name": "metrics"}
    ]}]));
    let out = patch(
        &live,
        json!({"spec": {"template": {"spec": {"containers": [
            {"name": "web", "ports": [{"containerPort": 80, "name": "web"}]}
        ]}}}}),
        "Deployment",
    );
    assert_eq!(
        containers(&out)[0]["ports"],
        json!([{"containerPort": 80, "name": "web"}, {"containerPort": 9090, "name": "metrics"}])
    );
}

#[test]
fn service_ports_merge_on_port() {
    let live = json!({"kind": "Service", "spec": {"ports": [
        {"port": 80, "targetPort": 8080, "name": "http"},
        {"port": 443, "targetPort": 8443, "name": "https"}
    ]}});
    let out = patch(
        &live,
        json!({"spec": {"ports": [{"port": 80, "targetPort": 9000}]}}),
        "Service",
    );
    assert_eq!(
        out["spec"]["ports"],
        json!([
            {"port": 80, "targetPort": 9000, "name": "http"},
            {"port": 443, "targetPort": 8443, "name": "https"}
        ])
    );
}

#[test]
fn env_volume_mounts_and_volumes_merge_by_their_keys() {
    let live = json!({"spec": {
        "containers": [{"name": "app",
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
            "volumeMounts": [{"mountPath": "/data", "name": "data"}]}],
        "volumes": [{"name": "data", "emptyDir": {}}]
    }});
    let out = patch(
        &live,
        json!({"spec": {
            "containers": [{"name": "app",
                "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
                "volumeMounts": [{"mountPath": "/data", "readOnly": true}]}],
            "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}]
        }}),
        "Pod",
    );
    let app = &out["spec"]["containers"][0];
    assert_eq!(
        app["env"],
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}])
    );
    assert_eq!(
        app["volumeMounts"],
        json!([{"mountPath": "/data", "name": "data", "readOnly": true}])
    );
    assert_eq!(names(&out["spec"]["volumes"]), ["cfg", "data"]);
}

#[test]
fn tolerations_and_args_are_replaced() {
    let live = json!({"spec": {
        "tolerations": [{"key": "a", "operator": "Exists"}],
        "containers": [{"name": "app", "args": ["--one", "--two"]}]
    }});
    let out = patch(
        &live,
        json!({"spec": {
            "tolerations": [{"key": "b", "operator": "Exists"}],
            "containers": [{"name": "app", "args": ["--three"]}]
        }}),
        "Pod",
    );
    assert_eq!(
        out["spec"]["tolerations"],
        json!([{"key": "b", "operator": "Exists"}])
    );
    assert_eq!(out["spec"]["containers"][0]["args"], json!(["--three"]));
}

#[test]
fn patch_delete_removes_a_list_item() {
    let live = deployment(json!([{"name": "web"}, {"name": "proxy"}]));
    let out = patch(
        &live,
        json!({"spec": {"template": {"spec": {"containers": [{"$patch": "delete", "name": "proxy"}]}}}}),
        "Deployment",
    );
    assert_eq!(names(containers(&out)), ["web"]);
}

#[test]
fn patch_replace_in_a_list_replaces_it() {
    let live = deployment(json!([{"name": "web", "image": "w"}, {"name": "proxy"}]));
    let out = patch(
        &live,
        json!({"spec": {"template": {"spec": {"containers": [
            {"name": "only", "image": "o"}, {"$patch": "replace"}
        ]}}}}),
        "Deployment",
    );
    assert_eq!(containers(&out), &json!([{"name": "only", "image": "o"}]));
}

#[test]
fn patch_replace_on_a_map_replaces_it() {
    let live = deployment(json!([]));
    let out = patch(
        &live,
        json!({"metadata": {"labels": {"$patch": "replace", "new": "1"}}}),
        "Deployment",
    );
    assert_eq!(out["metadata"]["labels"], json!({"new": "1"}));
}

#[test]
fn patch_delete_on_a_map_empties_it() {
    let live = deployment(json!([]));
    let out = patch(
        &live,
        json!({"metadata": {"labels": {"$patch": "delete"}}}),
        "Deployment",
    );
    assert_eq!(out["metadata"]["labels"], json!({}));
}

#[test]
fn patch_merge_on_a_map_is_a_plain_merge() {
    let live = deployment(json!([]));
    let out = patch(
        &live,
        json!({"metadata": {"labels": {"$patch": "merge", "x": "y"}}}),
        "Deployment",
    );
    assert_eq!(
        out["metadata"]["labels"],
        json!({"app": "web", "tier": "front", "x": "y"})
    );
}

#[test]
fn finalizers_merge_as_a_set_and_delete_from_primitive_list() {
    let live = json!({"metadata": {"finalizers": ["a", "b"]}});
    let out = patch(
        &live,
        json!({"metadata": {"finalizers": ["b", "c"]}}),
        "ConfigMap",
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["a", "b", "c"]));
    let out = patch(
        &out,
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a", "c"]}}),
        "ConfigMap",
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
}

#[test]
fn owner_references_merge_by_uid_and_conditions_by_type() {
    let live = json!({
        "metadata": {"ownerReferences": [{"uid": "1", "name": "a", "kind": "X"}]},
        "status": {"conditions": [
            {"type": "Available", "status": "False"},
            {"type": "Progressing", "status": "True"}
        ]}
    });
    let out = patch(
        &live,
        json!({
            "metadata": {"ownerReferences": [{"uid": "2", "name": "b", "kind": "X"}]},
            "status": {"conditions": [{"type": "Available", "status": "True"}]}
        }),
        "Deployment",
    );
    assert_eq!(
        out["metadata"]["ownerReferences"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(
        out["status"]["conditions"],
        json!([{"type": "Available", "status": "True"}, {"type": "Progressing", "status": "True"}])
    );
}

/// The patch `kubectl apply` computes when the config reorders two containers and bumps one
/// image, while the live object has a container someone else added.
#[test]
fn kubectl_three_way_patch_honours_set_element_order() {
    let live = deployment(json!([
        {"name": "a", "image": "a:1"},
        {"name": "b", "image": "b:1"},
        {"name": "injected", "image": "i:1"}
    ]));
    let body = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
        "containers": [{"image": "a:2", "name": "a"}]
    }}}});
    let out = patch(&live, body, "Deployment");
    assert_eq!(names(containers(&out)), ["b", "a", "injected"]);
    assert_eq!(containers(&out)[1]["image"], "a:2");
}

/// `kubectl apply` after a container was removed from the config.
#[test]
fn kubectl_three_way_patch_deletes_a_removed_container() {
    let live = deployment(json!([{"name": "a"}, {"name": "b"}, {"name": "c"}]));
    let body = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "a"}, {"name": "c"}],
        "containers": [{"$patch": "delete", "name": "b"}]
    }}}});
    let out = patch(&live, body, "Deployment");
    assert_eq!(names(containers(&out)), ["a", "c"]);
}

#[test]
fn set_element_order_keeps_server_only_items_where_they_were() {
    let live = deployment(json!([{"name": "x"}, {"name": "a"}, {"name": "b"}]));
    let body = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}, {"name": "new"}],
        "containers": [{"name": "new"}]
    }}}});
    let out = patch(&live, body, "Deployment");
    assert_eq!(names(containers(&out)), ["x", "b", "a", "new"]);
}

#[test]
fn set_element_order_sorts_primitive_lists() {
    let live = json!({"metadata": {"finalizers": ["a", "b"]}});
    let body = json!({"metadata": {
        "$setElementOrder/finalizers": ["c", "b", "a"],
        "finalizers": ["c"]
    }});
    let out = patch(&live, body, "Deployment");
    assert_eq!(out["metadata"]["finalizers"], json!(["c", "b", "a"]));
}

#[test]
fn retain_keys_clears_the_fields_not_retained() {
    let live = json!({"spec": {"strategy": {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1}
    }}});
    let body = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
    let out = patch(&live, body, "Deployment");
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
}

#[test]
fn retain_keys_must_name_every_patched_field() {
    let live = json!({"spec": {"strategy": {"type": "RollingUpdate"}}});
    let body = json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}});
    assert!(matches!(
        strategic_merge_patch(&live, &body, "Deployment"),
        Err(PatchError::Invalid(_))
    ));
}

#[test]
fn custom_kinds_replace_lists() {
    let live = json!({"spec": {"items": [{"name": "a", "v": 1}, {"name": "b"}]}});
    let out = patch(
        &live,
        json!({"spec": {"items": [{"name": "a", "v": 2}]}}),
        "Canary",
    );
    assert_eq!(out["spec"]["items"], json!([{"name": "a", "v": 2}]));
}

#[test]
fn new_values_lose_their_directives_and_nulls() {
    let live = json!({"spec": {}});
    let body = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "a", "env": [{"name": "X", "value": null}]},
        {"$patch": "delete", "name": "ghost"}
    ]}}}});
    let out = patch(&live, body, "Deployment");
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"],
        json!([{"name": "a", "env": [{"name": "X"}]}])
    );
}

#[test]
fn an_item_without_its_merge_key_is_refused() {
    let live = deployment(json!([{"name": "a"}]));
    let body = json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}});
    let err = strategic_merge_patch(&live, &body, "Deployment").unwrap_err();
    assert!(
        err.to_string()
            .contains("does not contain declared merge key: name"),
        "{err}"
    );
}

#[test]
fn unknown_directives_and_non_object_patches_are_refused() {
    let live = deployment(json!([]));
    let err = strategic_merge_patch(
        &live,
        &json!({"metadata": {"$patch": "explode"}}),
        "Deployment",
    );
    assert!(matches!(err, Err(PatchError::Invalid(m)) if m.starts_with("unknown patch type")));
    assert!(strategic_merge_patch(&live, &json!([1]), "Deployment").is_err());
    let merge_in_list =
        json!({"spec": {"template": {"spec": {"containers": [{"$patch": "merge"}]}}}});
    assert!(strategic_merge_patch(&live, &merge_in_list, "Deployment").is_err());
}

#[test]
fn a_scalar_replaced_by_a_map_and_back() {
    let live = json!({"data": {"a": "1"}, "x": 1});
    let out = patch(&live, json!({"x": {"y": 2}, "data": "flat"}), "ConfigMap");
    assert_eq!(out, json!({"data": "flat", "x": {"y": 2}}));
}

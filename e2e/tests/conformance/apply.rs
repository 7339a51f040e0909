//! Server-side apply: field managers, conflicts and `force`, removal of
//! fields a manager applied before and now omits, shared ownership,
//! `managedFields` per manager, list merge keys of built-in kinds.

use crate::support::{TestNs, api_error};
use anyhow::{Context, Result, ensure};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn cm(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared"}, "data": data})
}

async fn apply(
    api: &Api<ConfigMap>,
    manager: &str,
    data: Value,
    force: bool,
) -> kube::Result<ConfigMap> {
    let mut pp = PatchParams::apply(manager);
    pp.force = force;
    api.patch("shared", &pp, &Patch::Apply(cm(data))).await
}

fn keys(cm: &ConfigMap) -> Vec<String> {
    cm.data.clone().unwrap_or_default().into_keys().collect()
}

fn entry<'a>(cm: &'a ConfigMap, manager: &str) -> Option<&'a ManagedFieldsEntry> {
    cm.metadata
        .managed_fields
        .iter()
        .flatten()
        .find(|e| e.manager.as_deref() == Some(manager))
}

/// The `data` keys a manager owns, from its `fieldsV1` (`f:data` → `f:<key>`).
fn owned(cm: &ConfigMap, manager: &str) -> Vec<String> {
    let fields = entry(cm, manager)
        .and_then(|e| e.fields_v1.as_ref())
        .map(|f| f.0.clone())
        .unwrap_or_default();
    let data = fields
        .get("f:data")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    data.keys()
        .filter_map(|k| k.strip_prefix("f:"))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn server_side_apply_ownership() -> Result<()> {
    let ns = TestNs::create("conf-ssa").await?;
    let api: Api<ConfigMap> = ns.api();
    let first = apply(&api, "alpha", json!({"a": "1", "b": "2"}), false).await?;
    ensure!(keys(&first) == ["a", "b"]);
    let alpha = entry(&first, "alpha").context("alpha's managedFields entry")?;
    ensure!(
        alpha.operation.as_deref() == Some("Apply")
            && alpha.fields_type.as_deref() == Some("FieldsV1"),
        "{alpha:?}"
    );
    ensure!(owned(&first, "alpha") == ["a", "b"]);

    let merged = apply(&api, "beta", json!({"c": "3"}), false).await?;
    ensure!(keys(&merged) == ["a", "b", "c"] && owned(&merged, "beta") == ["c"]);

    let status = api_error(apply(&api, "beta", json!({"a": "other", "c": "3"}), false).await)?;
    ensure!(
        status.code == 409 && status.reason == "Conflict",
        "{status:?}"
    );
    ensure!(
        status.message.contains("alpha") && status.message.contains(".data.a"),
        "{status:?}"
    );
    let forced = apply(&api, "beta", json!({"a": "other", "c": "3"}), true).await?;
    ensure!(
        forced
            .data
            .as_ref()
            .and_then(|d| d.get("a"))
            .map(String::as_str)
            == Some("other")
    );
    ensure!(
        owned(&forced, "alpha") == ["b"] && owned(&forced, "beta") == ["a", "c"],
        "force moves ownership"
    );

    // A manager's omitted fields are removed, unless another manager owns them too.
    apply(&api, "alpha", json!({"b": "2", "d": "4"}), false).await?;
    apply(
        &api,
        "beta",
        json!({"a": "other", "b": "2", "c": "3"}),
        false,
    )
    .await?;
    let after = apply(&api, "alpha", json!({}), false).await?;
    ensure!(
        keys(&after) == ["a", "b", "c"],
        "d removed, b kept by beta: {:?}",
        after.data
    );
    ensure!(owned(&after, "alpha").is_empty() && owned(&after, "beta") == ["a", "b", "c"]);

    // A plain update is recorded as an Update entry of its field manager.
    let pp = PatchParams {
        field_manager: Some("editor".into()),
        ..PatchParams::default()
    };
    let edited = api
        .patch("shared", &pp, &Patch::Merge(json!({"data": {"e": "5"}})))
        .await?;
    let editor = entry(&edited, "editor").context("editor's entry")?;
    ensure!(
        editor.operation.as_deref() == Some("Update") && owned(&edited, "editor") == ["e"],
        "{editor:?}"
    );
    ns.delete().await
}

fn deployment(containers: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}}}})
}

#[tokio::test]
async fn server_side_apply_merges_lists_by_key() -> Result<()> {
    let ns = TestNs::create("conf-ssa-lists").await?;
    let api: Api<Deployment> = ns.api();
    let app = |image: &str| json!([{"name": "app", "image": image}]);
    api.patch(
        "web",
        &PatchParams::apply("app-owner"),
        &Patch::Apply(deployment(app("app:1"))),
    )
    .await?;
    let sidecar = json!([{"name": "proxy", "image": "proxy:1"}]);
    api.patch(
        "web",
        &PatchParams::apply("mesh"),
        &Patch::Apply(deployment(sidecar)),
    )
    .await?;
    let d = api
        .patch(
            "web",
            &PatchParams::apply("app-owner"),
            &Patch::Apply(deployment(app("app:2"))),
        )
        .await?;
    let containers = d
        .spec
        .and_then(|s| s.template.spec)
        .map(|p| p.containers)
        .unwrap_or_default();
    let images: BTreeMap<String, Option<String>> =
        containers.into_iter().map(|c| (c.name, c.image)).collect();
    let want = BTreeMap::from([
        ("app".to_string(), Some("app:2".to_string())),
        ("proxy".to_string(), Some("proxy:1".to_string())),
    ]);
    ensure!(
        images == want,
        "containers are a map keyed by name: {images:?}"
    );
    ns.delete().await
}

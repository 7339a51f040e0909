//! Owner references and garbage collection of dependents: background (the
//! default), foreground and orphan propagation, through kube-rs and kubectl.

use super::fixtures::ensure_crds;
use crate::support::{TestNs, WAIT, api_error, eventually, gc_wait, kubectl};
use anyhow::{Context, Result, ensure};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use serde_json::{Value, json};

const HOLD: &str = "e2e.serin.dev/hold";

async fn owner(maps: &Api<ConfigMap>, name: &str) -> Result<ConfigMap> {
    let cm = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    Ok(maps.create(&PostParams::default(), &cm).await?)
}

fn owned_by(owner: &ConfigMap, name: &str, finalizer: bool) -> Result<Value> {
    let reference = owner.controller_owner_ref(&()).context("owner reference")?;
    let mut meta = json!({"name": name, "ownerReferences": [reference]});
    if finalizer {
        meta["finalizers"] = json!([HOLD]);
    }
    Ok(json!({"metadata": meta}))
}

async fn gone<K>(api: &Api<K>, name: &str) -> Result<()>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    gone_within(api, name, WAIT).await
}

async fn gone_within<K>(api: &Api<K>, name: &str, timeout: std::time::Duration) -> Result<()>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    eventually(&format!("{name} to be deleted"), timeout, || async {
        Ok(matches!(api.get(name).await, Err(kube::Error::Api(s)) if s.code == 404).then_some(()))
    })
    .await
}

#[tokio::test]
async fn background_deletion_collects_dependents() -> Result<()> {
    let ns = TestNs::create("conf-gc-bg").await?;
    let maps: Api<ConfigMap> = ns.api();
    let secrets: Api<Secret> = ns.api();
    let pp = PostParams::default();
    let parent = owner(&maps, "parent").await?;
    maps.create(
        &pp,
        &serde_json::from_value(owned_by(&parent, "child", false)?)?,
    )
    .await?;
    secrets
        .create(
            &pp,
            &serde_json::from_value(owned_by(&parent, "child-secret", false)?)?,
        )
        .await?;
    owner(&maps, "bystander").await?;

    maps.delete("parent", &DeleteParams::background()).await?;
    gone(&maps, "parent").await?;
    gone(&maps, "child").await?;
    gone(&secrets, "child-secret").await?;
    ensure!(
        maps.get("bystander").await.is_ok(),
        "objects without owners stay"
    );
    ns.delete().await
}

#[tokio::test]
async fn foreground_deletion_waits_for_dependents() -> Result<()> {
    let ns = TestNs::create("conf-gc-fg").await?;
    let maps: Api<ConfigMap> = ns.api();
    let parent = owner(&maps, "parent").await?;
    let mut child = owned_by(&parent, "child", true)?;
    child["metadata"]["ownerReferences"][0]["blockOwnerDeletion"] = json!(true);
    maps.create(&PostParams::default(), &serde_json::from_value(child)?)
        .await?;

    maps.delete("parent", &DeleteParams::foreground()).await?;
    eventually("the owner to wait in foreground deletion", WAIT, || async {
        let p = maps.get("parent").await?;
        let c = maps.get("child").await?;
        let waiting = p.metadata.deletion_timestamp.is_some()
            && p.finalizers().iter().any(|f| f == "foregroundDeletion");
        Ok((waiting && c.metadata.deletion_timestamp.is_some()).then_some(()))
    })
    .await?;

    maps.patch(
        "child",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await?;
    gone(&maps, "child").await?;
    gone(&maps, "parent").await?;
    ns.delete().await
}

#[tokio::test]
async fn orphan_deletion_keeps_dependents() -> Result<()> {
    let ns = TestNs::create("conf-gc-orphan").await?;
    let maps: Api<ConfigMap> = ns.api();
    let pp = PostParams::default();
    let parent = owner(&maps, "parent").await?;
    maps.create(
        &pp,
        &serde_json::from_value(owned_by(&parent, "child", false)?)?,
    )
    .await?;
    maps.delete("parent", &DeleteParams::orphan()).await?;
    gone(&maps, "parent").await?;
    let uid = parent.uid().context("uid")?;
    eventually("the orphan to lose its owner reference", WAIT, || async {
        let refs = maps
            .get("child")
            .await?
            .metadata
            .owner_references
            .unwrap_or_default();
        Ok(refs.iter().all(|r| r.uid != uid).then_some(()))
    })
    .await?;

    // The same through kubectl.
    let parent = owner(&maps, "parent2").await?;
    maps.create(
        &pp,
        &serde_json::from_value(owned_by(&parent, "child2", false)?)?,
    )
    .await?;
    let out = kubectl::ok(&[
        "-n",
        &ns.name,
        "delete",
        "configmap",
        "parent2",
        "--cascade=orphan",
    ])
    .await?;
    ensure!(out.contains("configmap \"parent2\" deleted"), "{out}");
    ensure!(api_error(maps.get("parent2").await)?.code == 404);
    ensure!(maps.get("child2").await.is_ok(), "the dependent survives");
    let parent = owner(&maps, "parent3").await?;
    maps.create(
        &pp,
        &serde_json::from_value(owned_by(&parent, "child3", false)?)?,
    )
    .await?;
    kubectl::ok(&[
        "-n",
        &ns.name,
        "delete",
        "configmap",
        "parent3",
        "--cascade=foreground",
    ])
    .await?;
    gone(&maps, "child3").await?;
    ns.delete().await
}

#[tokio::test]
async fn dangling_owner_references_are_collected() -> Result<()> {
    ensure_crds().await?;
    let ns = TestNs::create("conf-gc-dangling").await?;
    let maps: Api<ConfigMap> = ns.api();
    let ghost = json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost",
                       "uid": "0badc0de-0000-4000-8000-000000000000", "controller": true});
    let orphan = json!({"metadata": {"name": "haunted", "ownerReferences": [ghost.clone()]}});
    maps.create(&PostParams::default(), &serde_json::from_value(orphan)?)
        .await?;

    // A controller's server-side apply may create one just as well.
    let apply = |name: &str, owner: Value| {
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "ownerReferences": [owner]}});
        let maps = maps.clone();
        let name = name.to_string();
        async move {
            maps.patch(
                &name,
                &PatchParams::apply("ghostbuster"),
                &Patch::Apply(&obj),
            )
            .await
        }
    };
    apply("haunted-too", ghost).await?;
    // Also when the owner's kind is a custom resource.
    let ghost_widget = json!({"apiVersion": "conformance.serin.dev/v1", "kind": "Widget", "name": "ghost",
                              "uid": "0badc0de-0000-4000-8000-000000000001", "controller": true});
    apply("haunted-three", ghost_widget).await?;
    // Also when the owner existed a moment ago (a controller's late write).
    let departed = owner(&maps, "departed").await?;
    maps.delete("departed", &DeleteParams::default()).await?;
    gone(&maps, "departed").await?;
    apply(
        "haunted-four",
        serde_json::to_value(
            departed
                .controller_owner_ref(&())
                .context("owner reference")?,
        )?,
    )
    .await?;

    // The garbage collector deletes objects none of whose owners exist; one owner is
    // of a custom kind, which a real collector may discover only after a while.
    for name in ["haunted", "haunted-too", "haunted-three", "haunted-four"] {
        gone_within(&maps, name, gc_wait()).await?;
    }
    ns.delete().await
}

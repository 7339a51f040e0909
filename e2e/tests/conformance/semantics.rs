//! Object semantics: uid, creationTimestamp, one monotonically increasing
//! resourceVersion, `generation` bumped on spec changes only, optimistic
//! concurrency, finalizers and `deletionTimestamp`, namespace deletion.

use super::builtins::deployment;
use crate::support::{TestNs, WAIT, api_error, client, eventually, kubectl, rv_number, suffix};
use anyhow::{Context, Result, ensure};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, ResourceExt};
use serde_json::json;

fn config_map(name: &str) -> Result<ConfigMap> {
    Ok(serde_json::from_value(
        json!({"metadata": {"name": name}, "data": {"k": "v"}}),
    )?)
}

#[tokio::test]
async fn metadata_and_resource_versions() -> Result<()> {
    let ns = TestNs::create("conf-meta").await?;
    let maps: Api<ConfigMap> = ns.api();
    let deploys: Api<Deployment> = ns.api();
    let pp = PostParams::default();
    let a = maps.create(&pp, &config_map("a")?).await?;
    let b = maps.create(&pp, &config_map("b")?).await?;
    let d = deploys.create(&pp, &deployment("web", 0)?).await?;
    let a2 = maps
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "w"}})),
        )
        .await?;

    let uids = [a.uid(), b.uid(), d.uid()];
    ensure!(
        uids.iter()
            .all(|u| u.as_ref().is_some_and(|u| !u.is_empty())),
        "{uids:?}"
    );
    ensure!(uids[0] != uids[1] && uids[1] != uids[2]);
    ensure!(a2.uid() == a.uid(), "an update keeps the uid");
    ensure!(a.creation_timestamp().is_some() && a2.creation_timestamp() == a.creation_timestamp());
    let rvs = [&a, &b]
        .iter()
        .map(|o| rv_number(o.metadata.resource_version.as_ref()))
        .collect::<Result<Vec<_>>>()?;
    let rv_d = rv_number(d.metadata.resource_version.as_ref())?;
    let rv_a2 = rv_number(a2.metadata.resource_version.as_ref())?;
    ensure!(
        rvs[0] < rvs[1] && rvs[1] < rv_d && rv_d < rv_a2,
        "one increasing counter across kinds: {rvs:?} {rv_d} {rv_a2}"
    );
    let list = maps.list(&ListParams::default()).await?;
    ensure!(
        rv_number(list.metadata.resource_version.as_ref())? >= rv_a2,
        "a list is at least as new as the last write"
    );

    // An update that changes nothing keeps the resourceVersion.
    let same = maps
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "w"}})),
        )
        .await?;
    ensure!(
        same.resource_version() == a2.resource_version(),
        "a no-op write is not a change"
    );
    ns.delete().await
}

#[tokio::test]
async fn generation_counts_spec_changes() -> Result<()> {
    let ns = TestNs::create("conf-generation").await?;
    let deploys: Api<Deployment> = ns.api();
    let d = deploys
        .create(&PostParams::default(), &deployment("web", 0)?)
        .await?;
    ensure!(d.metadata.generation == Some(1));
    let pp = PatchParams::default();
    let generation = |d: Deployment| d.metadata.generation;
    let labels = Patch::Merge(json!({"metadata": {"labels": {"tier": "front"}}}));
    ensure!(
        generation(deploys.patch("web", &pp, &labels).await?) == Some(1),
        "labels are not spec"
    );
    // The Deployment strategy counts annotations too: its controller copies them onto
    // the ReplicaSets (PrepareForUpdate in pkg/registry/apps/deployment/strategy.go).
    let annotations = Patch::Merge(json!({"metadata": {"annotations": {"a": "b"}}}));
    ensure!(
        generation(deploys.patch("web", &pp, &annotations).await?) == Some(2),
        "an annotation change is counted"
    );
    ensure!(
        generation(deploys.patch("web", &pp, &annotations).await?) == Some(2),
        "the same annotations again are no change"
    );
    let spec = Patch::Merge(json!({"spec": {"replicas": 2}}));
    ensure!(generation(deploys.patch("web", &pp, &spec).await?) == Some(3));
    // /status ignores spec; the main resource ignores status.
    let status =
        Patch::Merge(json!({"spec": {"replicas": 9}, "status": {"observedGeneration": 3}}));
    let after = deploys.patch_status("web", &pp, &status).await?;
    ensure!(after.metadata.generation == Some(3), "status is not spec");
    ensure!(
        after.spec.and_then(|s| s.replicas) == Some(2),
        "spec is ignored on /status"
    );
    let sneaky = Patch::Merge(json!({"status": {"observedGeneration": 99}}));
    let after = deploys.patch("web", &pp, &sneaky).await?;
    ensure!(
        after.status.and_then(|s| s.observed_generation) != Some(99),
        "status is ignored on the main resource"
    );
    let template =
        Patch::Strategic(json!({"spec": {"template": {"metadata": {"labels": {"rev": "2"}}}}}));
    ensure!(generation(deploys.patch("web", &pp, &template).await?) == Some(4));
    ns.delete().await
}

#[tokio::test]
async fn optimistic_concurrency() -> Result<()> {
    let ns = TestNs::create("conf-occ").await?;
    let maps: Api<ConfigMap> = ns.api();
    let pp = PostParams::default();
    let first = maps.create(&pp, &config_map("cm")?).await?;

    let exists = api_error(maps.create(&pp, &config_map("cm")?).await)?;
    ensure!(
        exists.code == 409 && exists.reason == "AlreadyExists",
        "{exists:?}"
    );
    let missing = api_error(maps.get("nope").await)?;
    ensure!(
        missing.code == 404 && missing.reason == "NotFound",
        "{missing:?}"
    );

    let mut update = first.clone();
    update.data = Some([("k".to_string(), "v2".to_string())].into());
    let second = maps.replace("cm", &pp, &update).await?;
    ensure!(second.resource_version() != first.resource_version());
    update.data = Some([("k".to_string(), "stale".to_string())].into());
    let stale = api_error(maps.replace("cm", &pp, &update).await)?;
    ensure!(stale.code == 409 && stale.reason == "Conflict", "{stale:?}");
    ensure!(
        stale.message.contains("the object has been modified"),
        "{stale:?}"
    );

    let stale_patch = Patch::Merge(
        json!({"metadata": {"resourceVersion": first.resource_version()}, "data": {"k": "x"}}),
    );
    let status = api_error(
        maps.patch("cm", &PatchParams::default(), &stale_patch)
            .await,
    )?;
    ensure!(
        status.code == 409,
        "a resourceVersion in a patch is a precondition: {status:?}"
    );

    let precondition = Preconditions {
        resource_version: first.resource_version(),
        uid: None,
    };
    let status = api_error(
        maps.delete("cm", &DeleteParams::default().preconditions(precondition))
            .await,
    )?;
    ensure!(status.code == 409, "{status:?}");
    ensure!(
        maps.get("cm")
            .await?
            .data
            .and_then(|d| d.get("k").cloned())
            .as_deref()
            == Some("v2")
    );
    ns.delete().await
}

#[tokio::test]
async fn finalizers_hold_deletion() -> Result<()> {
    let ns = TestNs::create("conf-finalizers").await?;
    let maps: Api<ConfigMap> = ns.api();
    let mut cm = config_map("held")?;
    cm.metadata.finalizers = Some(vec!["e2e.serin.dev/hold".into()]);
    let created = maps.create(&PostParams::default(), &cm).await?;
    maps.delete("held", &DeleteParams::default()).await?;

    let held = maps.get("held").await?;
    ensure!(
        held.metadata.deletion_timestamp.is_some(),
        "deletion waits for finalizers: {held:?}"
    );
    ensure!(held.finalizers() == ["e2e.serin.dev/hold"]);
    let add = Patch::Merge(
        json!({"metadata": {"finalizers": ["e2e.serin.dev/hold", "e2e.serin.dev/more"]}}),
    );
    let refused = api_error(maps.patch("held", &PatchParams::default(), &add).await)?;
    ensure!(
        refused.code == 422,
        "no new finalizers once deleting: {refused:?}"
    );
    let relabel = Patch::Merge(json!({"metadata": {"labels": {"still": "writable"}}}));
    maps.patch("held", &PatchParams::default(), &relabel)
        .await?;

    let release = Patch::Merge(json!({"metadata": {"finalizers": null}}));
    maps.patch("held", &PatchParams::default(), &release)
        .await?;
    let uid = created.uid().context("uid")?;
    tokio::time::timeout(
        WAIT,
        await_condition(maps.clone(), "held", conditions::is_deleted(&uid)),
    )
    .await??;
    ensure!(api_error(maps.get("held").await)?.code == 404);
    ns.delete().await
}

#[tokio::test]
async fn namespace_deletion() -> Result<()> {
    let client = client().await?;
    let name = format!("conf-nsdel-{}", suffix());
    let out = kubectl::ok(&["create", "namespace", &name]).await?;
    ensure!(out.contains(&format!("namespace/{name} created")), "{out}");
    let ns = TestNs::adopt(&name, client.clone());
    let maps: Api<ConfigMap> = ns.api();
    let pp = PostParams::default();
    maps.create(&pp, &config_map("plain")?).await?;
    let mut held = config_map("held")?;
    held.metadata.finalizers = Some(vec!["e2e.serin.dev/hold".into()]);
    maps.create(&pp, &held).await?;
    ns.api::<Deployment>()
        .create(&pp, &deployment("web", 0)?)
        .await?;

    // `kubectl delete namespace` waits until the namespace is gone.
    let deleting = tokio::spawn({
        let name = name.clone();
        async move { kubectl::ok(&["delete", "namespace", &name]).await }
    });
    let namespaces: Api<Namespace> = Api::all(client.clone());
    eventually("the namespace to terminate and empty", WAIT, || async {
        let phase = namespaces.get(&name).await?.status.and_then(|s| s.phase);
        let left: Vec<String> = maps
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .map(ResourceExt::name_any)
            .collect();
        let deploys = ns
            .api::<Deployment>()
            .list(&ListParams::default())
            .await?
            .items
            .len();
        Ok(
            (phase.as_deref() == Some("Terminating") && left == ["held"] && deploys == 0)
                .then_some(()),
        )
    })
    .await?;
    let refused = api_error(maps.create(&pp, &config_map("late")?).await)?;
    ensure!(
        refused.code == 403 && refused.reason == "Forbidden",
        "no new objects in a terminating namespace: {refused:?}"
    );

    maps.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await?;
    let out = tokio::time::timeout(WAIT, deleting)
        .await
        .context("kubectl delete namespace hung")???;
    ensure!(
        out.contains(&format!("namespace \"{name}\" deleted")),
        "{out}"
    );
    ensure!(api_error(namespaces.get(&name).await)?.code == 404);
    ns.delete().await
}

//! A watch from a resourceVersion the server no longer has history for is answered
//! with 410 Gone (`Expired`), and kube-rs' watcher recovers by listing again.
//!
//! How to reach "too old" on a real server without waiting for etcd compaction: a real
//! server watches from its watch cache, and a kind's cache starts with a list at the
//! revision current when the kind began to be served; a watch from any older
//! resourceVersion is answered "too old resource version: <rv> (<list rv>)". For the
//! built-in kinds that list happened when the server started, so on a fresh etcd the
//! cache may still reach back to rv 1, and watching from "1" is not reliably too old.
//! A CustomResourceDefinition created by the test starts its kind's cache after the
//! test's namespace exists, so the namespace's resourceVersion is too old for that kind
//! on every server, the sandbox included.

use super::fixtures::{GROUP, apply_crd};
use crate::support::{TestNs, WAIT, client, eventually, is_remote, private_server, raw, suffix};
use anyhow::{Context, Result, bail, ensure};
use futures::TryStreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use serin_sandbox::apiserver::ApiServerConfig;

/// A namespaced kind of its own for one test run (`Expiring<suffix>`).
fn expiring_crd(id: &str) -> (Value, ApiResource) {
    let (plural, kind) = (format!("expirings{id}"), format!("Expiring{id}"));
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{GROUP}")},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": format!("expiring{id}"), "kind": kind},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object",
                    "x-kubernetes-preserve-unknown-fields": true}}}]
        }
    });
    let gvk = GroupVersionKind::gvk(GROUP, "v1", &kind);
    (crd, ApiResource::from_gvk_with_plural(&gvk, &plural))
}

/// The status code a watch from `rv` ends with: the response's own, or that of the
/// ERROR event a real server sends first on a 200 stream. `None` while the kind's
/// watch cache is still starting (a real server answers 429 then).
async fn watch_outcome(client: &kube::Client, path: &str) -> Result<Option<(u16, Value)>> {
    let (status, events) = raw::watch_events(client, path).await?;
    match (status, events.first()) {
        (429, _) => Ok(None),
        (200, Some(first)) if first["type"] == "ERROR" => {
            let code = first["object"]["code"].as_u64().unwrap_or_default();
            Ok(Some((u16::try_from(code)?, first["object"].clone())))
        }
        (200, _) => bail!("a watch from before the kind existed replayed history: {events:?}"),
        (code, _) => Ok(Some((code, events.first().cloned().unwrap_or_default()))),
    }
}

#[tokio::test]
async fn watch_beyond_history_is_gone() -> Result<()> {
    let ns = TestNs::create("conf-gone").await?;
    let before = Api::<Namespace>::all(ns.client.clone())
        .get(&ns.name)
        .await?
        .resource_version()
        .context("namespace resourceVersion")?;
    let (crd, resource) = expiring_crd(&suffix());
    apply_crd(&ns.client, &crd).await?;
    let objects = Api::<DynamicObject>::namespaced_with(ns.client.clone(), &ns.name, &resource);
    let mut obj = DynamicObject::new("first", &resource);
    obj.data = json!({"spec": {"n": 1}});
    objects.create(&PostParams::default(), &obj).await?;

    let path = format!(
        "/apis/{GROUP}/v1/namespaces/{}/{}?watch=true&timeoutSeconds=2&resourceVersion={before}",
        ns.name, resource.plural
    );
    let (code, status) = eventually("the watch to answer", WAIT, || async {
        watch_outcome(&ns.client, &path).await
    })
    .await?;
    ensure!(
        code == 410 && status["reason"] == "Expired",
        "a resourceVersion older than the kind's history is Gone: {code} {status}"
    );
    let message = status["message"].as_str().unwrap_or_default();
    ensure!(
        message.starts_with(&format!("too old resource version: {before} (")),
        "{message}"
    );

    // kube-rs' watcher recovers from it by listing again.
    let found = tokio::time::timeout(WAIT, async {
        let stream = watcher(objects.clone(), watcher::Config::default()).applied_objects();
        let mut stream = std::pin::pin!(stream);
        while let Some(o) = stream.try_next().await? {
            if o.name_any() == "first" {
                return anyhow::Ok(());
            }
        }
        bail!("watcher ended")
    })
    .await;
    found.context("the watcher did not list the object")??;

    let crds: Api<CustomResourceDefinition> = Api::all(client().await?);
    let crd_name = crd["metadata"]["name"].as_str().unwrap_or_default();
    crds.delete(crd_name, &DeleteParams::default()).await?;
    ns.delete().await
}

/// The sandbox keeps a bounded history per kind: changes beyond it are Gone too (a real
/// watch cache does the same beyond its capacity, which a test cannot make small).
#[tokio::test]
async fn watch_beyond_bounded_history_is_gone() -> Result<()> {
    if is_remote() {
        return Ok(());
    }
    let (_server, client) = private_server(ApiServerConfig {
        watch_history: 5,
        ..ApiServerConfig::default()
    })
    .await?;
    let ns_api: Api<Namespace> = Api::all(client.clone());
    let ns_name = format!("conf-bounded-{}", suffix());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": ns_name}}))?;
    ns_api.create(&PostParams::default(), &ns).await?;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns_name);
    let mut first = None;
    for i in 0..12 {
        let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": format!("c{i}")}}))?;
        let created = maps.create(&PostParams::default(), &cm).await?;
        first.get_or_insert(created);
    }
    let old = first.and_then(|c| c.resource_version()).context("rv")?;
    let outcome = match maps.watch(&WatchParams::default().timeout(5), &old).await {
        Err(kube::Error::Api(status)) => status.code,
        Err(e) => bail!("unexpected error: {e}"),
        Ok(stream) => {
            let mut stream = std::pin::pin!(stream);
            match tokio::time::timeout(WAIT, stream.try_next()).await?? {
                Some(WatchEvent::Error(e)) => e.code,
                other => bail!("expected 410 Gone, got {other:?}"),
            }
        }
    };
    ensure!(outcome == 410, "evicted history is Gone: {outcome}");
    Ok(())
}

//! Patch types: JSON merge patch, JSON patch, strategic merge patch for
//! built-in kinds (merge keys of containers, ports, env, volumes,
//! volumeMounts, `$patch: delete`), through kube-rs, raw requests and
//! `kubectl patch`.

use super::fixtures::{ensure_crds, gadget, gadgets};
use crate::support::{TestNs, api_error, kubectl, raw};
use anyhow::{Context, Result, ensure};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, PodSpec};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn data(cm: &ConfigMap) -> BTreeMap<String, String> {
    cm.data.clone().unwrap_or_default()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn merge_and_json_patches() -> Result<()> {
    let ns = TestNs::create("conf-patch").await?;
    let maps: Api<ConfigMap> = ns.api();
    let cm = serde_json::from_value(
        json!({"metadata": {"name": "cm", "labels": {"a": "1"}}, "data": {"a": "1", "b": "2"}}),
    )?;
    maps.create(&PostParams::default(), &cm).await?;

    let merge =
        json!({"metadata": {"labels": {"b": "2"}}, "data": {"a": "x", "b": null, "c": "3"}});
    let cm = maps
        .patch("cm", &PatchParams::default(), &Patch::Merge(&merge))
        .await?;
    ensure!(data(&cm) == map(&[("a", "x"), ("c", "3")]), "{:?}", cm.data);
    ensure!(
        cm.metadata.labels.map(|l| l.len()) == Some(2),
        "labels merge"
    );

    let path = format!("/api/v1/namespaces/{}/configmaps/cm", ns.name);
    let ops = json!([
        {"op": "add", "path": "/data/d", "value": "4"},
        {"op": "remove", "path": "/data/a"},
        {"op": "replace", "path": "/data/c", "value": "33"},
        {"op": "test", "path": "/data/c", "value": "33"}
    ]);
    let reply = raw::json_patch(&ns.client, &path, &ops).await?;
    ensure!(reply.status == 200, "{reply:?}");
    ensure!(data(&maps.get("cm").await?) == map(&[("c", "33"), ("d", "4")]));
    let failing = json!([{"op": "test", "path": "/data/c", "value": "nope"}, {"op": "remove", "path": "/data/c"}]);
    let reply = raw::json_patch(&ns.client, &path, &failing).await?;
    ensure!(
        reply.status == 422,
        "a failed test op refuses the patch: {reply:?}"
    );
    ensure!(
        data(&maps.get("cm").await?).contains_key("c"),
        "nothing of a refused patch applies"
    );

    let n = ns.name.as_str();
    let out = kubectl::ok(&[
        "-n",
        n,
        "patch",
        "configmap",
        "cm",
        "--type=merge",
        "-p",
        r#"{"data":{"e":"5"}}"#,
    ])
    .await?;
    ensure!(out.contains("configmap/cm patched"), "{out}");
    let ops = r#"[{"op":"remove","path":"/data/d"}]"#;
    kubectl::ok(&[
        "-n",
        n,
        "patch",
        "configmap",
        "cm",
        "--type=json",
        "-p",
        ops,
    ])
    .await?;
    ensure!(data(&maps.get("cm").await?) == map(&[("c", "33"), ("e", "5")]));
    ns.delete().await
}

fn web() -> Result<Deployment> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [{"name": "app", "image": "app:1",
                    "env": [{"name": "A", "value": "1"}],
                    "ports": [{"containerPort": 8080, "name": "http"}],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                "volumes": [{"name": "data", "emptyDir": {}}]
            }}}
    }))?)
}

fn pod_spec(d: &Deployment) -> Result<PodSpec> {
    d.spec
        .as_ref()
        .and_then(|s| s.template.spec.clone())
        .context("pod spec")
}

fn names<T>(items: Option<&Vec<T>>, key: impl Fn(&T) -> String) -> Vec<String> {
    let mut out: Vec<String> = items.into_iter().flatten().map(key).collect();
    out.sort();
    out
}

async fn strategic(api: &Api<Deployment>, pod: Value) -> Result<PodSpec> {
    let patch = Patch::Strategic(json!({"spec": {"template": {"spec": pod}}}));
    pod_spec(&api.patch("web", &PatchParams::default(), &patch).await?)
}

#[tokio::test]
async fn strategic_merge_patch_merge_keys() -> Result<()> {
    let ns = TestNs::create("conf-smp").await?;
    let deploys: Api<Deployment> = ns.api();
    deploys.create(&PostParams::default(), &web()?).await?;

    let pod = strategic(&deploys, json!({"containers": [{"name": "app", "image": "app:2", "env": [{"name": "B", "value": "2"}]}]})).await?;
    let app = pod
        .containers
        .iter()
        .find(|c| c.name == "app")
        .context("app")?;
    ensure!(
        pod.containers.len() == 1 && app.image.as_deref() == Some("app:2"),
        "containers merge by name"
    );
    ensure!(
        names(app.env.as_ref(), |e| e.name.clone()) == ["A", "B"],
        "env merges by name: {:?}",
        app.env
    );
    ensure!(
        app.ports.as_ref().map(Vec::len) == Some(1),
        "untouched lists stay"
    );

    let pod = strategic(
        &deploys,
        json!({
            "containers": [{"name": "app", "ports": [{"containerPort": 9090, "name": "metrics"}],
                            "volumeMounts": [{"name": "cache", "mountPath": "/cache"}]},
                           {"name": "sidecar", "image": "proxy:1"}],
            "volumes": [{"name": "cache", "emptyDir": {}}]
        }),
    )
    .await?;
    ensure!(names(Some(&pod.containers), |c| c.name.clone()) == ["app", "sidecar"]);
    let app = pod
        .containers
        .iter()
        .find(|c| c.name == "app")
        .context("app")?;
    ensure!(
        names(app.ports.as_ref(), |p| p.container_port.to_string()) == ["8080", "9090"],
        "ports merge by containerPort"
    );
    ensure!(
        names(app.volume_mounts.as_ref(), |m| m.mount_path.clone()) == ["/cache", "/data"],
        "mounts merge by mountPath"
    );
    ensure!(
        names(pod.volumes.as_ref(), |v| v.name.clone()) == ["cache", "data"],
        "volumes merge by name"
    );
    ensure!(app.image.as_deref() == Some("app:2"));

    let pod = strategic(
        &deploys,
        json!({"containers": [
            {"name": "sidecar", "$patch": "delete"},
            {"name": "app", "env": [{"name": "A", "$patch": "delete"}]}
        ]}),
    )
    .await?;
    ensure!(
        names(Some(&pod.containers), |c| c.name.clone()) == ["app"],
        "$patch: delete removes an element"
    );
    ensure!(names(pod.containers[0].env.as_ref(), |e| e.name.clone()) == ["B"]);

    // kubectl patch defaults to a strategic merge patch.
    let patch = r#"{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"app:3"}]}}}}"#;
    let out = kubectl::ok(&["-n", &ns.name, "patch", "deployment", "web", "-p", patch]).await?;
    ensure!(out.contains("deployment.apps/web patched"), "{out}");
    let pod = pod_spec(&deploys.get("web").await?)?;
    ensure!(
        pod.containers[0].image.as_deref() == Some("app:3")
            && pod.containers[0].env.as_ref().map(Vec::len) == Some(1)
    );
    ns.delete().await
}

#[tokio::test]
async fn strategic_merge_patch_is_refused_for_custom_resources() -> Result<()> {
    ensure_crds().await?;
    let ns = TestNs::create("conf-smp-crd").await?;
    let api = gadgets(&ns.client, &ns.name);
    api.create(&PostParams::default(), &gadget("g", json!({"owner": "a"}))?)
        .await?;
    let status = api_error(
        api.patch(
            "g",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"size": 4}})),
        )
        .await,
    )?;
    ensure!(status.code == 415, "{status:?}");
    ns.delete().await
}

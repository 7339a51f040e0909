//! Built-in kinds (Namespace, Deployment with its `scale` subresource,
//! Service, ConfigMap, Secret, Lease, HorizontalPodAutoscaler) through typed
//! kube-rs APIs, and through `kubectl apply -f`/`get`/`describe`/`scale`/`delete`.

use crate::support::{TestNs, api_error, kubectl};
use anyhow::{Context, Result, ensure};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// A one-container Deployment selecting `app: <name>`.
pub fn deployment(name: &str, replicas: i32) -> Result<Deployment> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10",
                                          "ports": [{"containerPort": 8080, "name": "http"}]}]}
            }
        }
    }))?)
}

fn from<T: DeserializeOwned>(v: Value) -> Result<T> {
    Ok(serde_json::from_value(v)?)
}

#[tokio::test]
async fn builtin_kinds_round_trip() -> Result<()> {
    let ns = TestNs::create("conf-builtins").await?;
    let pp = PostParams::default();

    let namespace = Api::<Namespace>::all(ns.client.clone())
        .get(&ns.name)
        .await?;
    ensure!(namespace.status.and_then(|s| s.phase).as_deref() == Some("Active"));

    let deploys: Api<Deployment> = ns.api();
    let d = deploys.create(&pp, &deployment("web", 1)?).await?;
    let spec = d.spec.context("deployment spec")?;
    // Server defaults the kubelet stand-in and kubectl rely on.
    ensure!(
        spec.progress_deadline_seconds == Some(600),
        "{:?}",
        spec.progress_deadline_seconds
    );
    ensure!(spec.revision_history_limit == Some(10));
    ensure!(spec.strategy.and_then(|s| s.type_).as_deref() == Some("RollingUpdate"));

    let services: Api<Service> = ns.api();
    let svc = from(
        json!({"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"},
        "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}),
    )?;
    let svc = services.create(&pp, &svc).await?;
    let svc_spec = svc.spec.context("service spec")?;
    ensure!(
        svc_spec.cluster_ip.is_some_and(|ip| !ip.is_empty()),
        "a ClusterIP is allocated"
    );
    ensure!(svc_spec.type_.as_deref() == Some("ClusterIP"));
    let port = svc_spec
        .ports
        .and_then(|p| p.into_iter().next())
        .context("port")?;
    ensure!(
        port.protocol.as_deref() == Some("TCP"),
        "protocol defaults to TCP"
    );

    let maps: Api<ConfigMap> = ns.api();
    maps.create(
        &pp,
        &from(json!({"metadata": {"name": "cfg"}, "data": {"k": "v"}}))?,
    )
    .await?;
    ensure!(
        maps.get("cfg")
            .await?
            .data
            .and_then(|d| d.get("k").cloned())
            .as_deref()
            == Some("v")
    );

    let secrets: Api<Secret> = ns.api();
    let secret =
        from(json!({"metadata": {"name": "creds"}, "stringData": {"password": "s3cret"}}))?;
    secrets.create(&pp, &secret).await?;
    let stored = secrets.get("creds").await?;
    let password = stored
        .data
        .and_then(|d| d.get("password").cloned())
        .context("stringData lands in data")?;
    ensure!(password.0 == b"s3cret" && stored.string_data.is_none());
    ensure!(stored.type_.as_deref() == Some("Opaque"));

    let leases: Api<Lease> = ns.api();
    let lease = from(
        json!({"metadata": {"name": "leader"}, "spec": {"holderIdentity": "pod-a",
        "leaseDurationSeconds": 15, "renewTime": "2026-01-01T00:00:00.000000Z"}}),
    )?;
    leases.create(&pp, &lease).await?;
    let lease = leases.get("leader").await?.spec.context("lease spec")?;
    ensure!(
        lease.holder_identity.as_deref() == Some("pod-a")
            && lease.lease_duration_seconds == Some(15)
    );

    let hpas: Api<HorizontalPodAutoscaler> = ns.api();
    let hpa = from(json!({"metadata": {"name": "web"}, "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 1, "maxReplicas": 3,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]}}))?;
    hpas.create(&pp, &hpa).await?;
    ensure!(hpas.get("web").await?.spec.map(|s| s.max_replicas) == Some(3));

    ensure!(deploys.list(&ListParams::default()).await?.items.len() == 1);
    ensure!(
        services
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .any(|s| s.name_any() == "web")
    );
    let dp = DeleteParams::default();
    deploys.delete("web", &dp).await?;
    services.delete("web", &dp).await?;
    maps.delete("cfg", &dp).await?;
    secrets.delete("creds", &dp).await?;
    leases.delete("leader", &dp).await?;
    hpas.delete("web", &dp).await?;
    ensure!(api_error(maps.get("cfg").await)?.code == 404);
    ensure!(api_error(services.get("web").await)?.code == 404);
    ns.delete().await
}

#[tokio::test]
async fn deployment_scale_subresource() -> Result<()> {
    let ns = TestNs::create("conf-scale").await?;
    let deploys: Api<Deployment> = ns.api();
    deploys
        .create(&PostParams::default(), &deployment("web", 1)?)
        .await?;

    let scale = deploys.get_scale("web").await?;
    ensure!(scale.spec.and_then(|s| s.replicas) == Some(1));
    ensure!(scale.metadata.name.as_deref() == Some("web"));
    let patch = Patch::Merge(json!({"spec": {"replicas": 2}}));
    let scaled = deploys
        .patch_scale("web", &PatchParams::default(), &patch)
        .await?;
    ensure!(scaled.spec.and_then(|s| s.replicas) == Some(2));
    let d = deploys.get("web").await?;
    ensure!(
        d.spec.and_then(|s| s.replicas) == Some(2),
        "scale writes spec.replicas"
    );
    ensure!(d.metadata.generation == Some(2), "a scale is a spec change");

    let out = kubectl::ok(&["-n", &ns.name, "scale", "deployment/web", "--replicas=3"]).await?;
    ensure!(out.contains("deployment.apps/web scaled"), "{out}");
    let replicas = kubectl::ok(&[
        "-n",
        &ns.name,
        "get",
        "deployment",
        "web",
        "-o",
        "jsonpath={.spec.replicas}",
    ])
    .await?;
    ensure!(replicas == "3", "{replicas}");
    ns.delete().await
}

const MANIFESTS: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: registry.k8s.io/pause:3.10
        ports:
        - containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  color: blue
  size: large
---
apiVersion: v1
kind: Secret
metadata:
  name: web-secret
stringData:
  token: abc
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata:
  name: web-lease
spec:
  holderIdentity: web-0
  leaseDurationSeconds: 15
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 4
  metrics:
  - type: Resource
    resource:
      name: cpu
      target: {type: Utilization, averageUtilization: 70}
"#;

#[tokio::test]
async fn kubectl_manages_builtin_kinds() -> Result<()> {
    let ns = TestNs::create("conf-kubectl").await?;
    let n = ns.name.as_str();
    let file = kubectl::manifest("builtins", MANIFESTS)?;
    let file = file.to_str().context("path")?;

    let out = kubectl::ok(&["-n", n, "apply", "-f", file]).await?;
    for line in [
        "deployment.apps/web created",
        "service/web created",
        "configmap/web-config created",
        "secret/web-secret created",
        "lease.coordination.k8s.io/web-lease created",
        "horizontalpodautoscaler.autoscaling/web created",
    ] {
        ensure!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    let again = kubectl::ok(&["-n", n, "apply", "-f", file]).await?;
    // A Secret's stringData never reads back, so kubectl always re-sends it.
    let others = again.lines().filter(|l| !l.starts_with("secret/"));
    ensure!(
        others.clone().count() == 5 && others.clone().all(|l| l.ends_with(" unchanged")),
        "second apply:\n{again}"
    );

    // Change the image, drop a ConfigMap key: the three-way merge removes it.
    let changed = MANIFESTS
        .replace("pause:3.10", "pause:3.9")
        .replace("  size: large\n", "");
    let file2 = kubectl::manifest("builtins-changed", &changed)?;
    let out = kubectl::ok(&["-n", n, "apply", "-f", file2.to_str().context("path")?]).await?;
    ensure!(
        out.contains("deployment.apps/web configured")
            && out.contains("configmap/web-config configured"),
        "{out}"
    );
    ensure!(out.contains("service/web unchanged"), "{out}");
    let image = kubectl::ok(&[
        "-n",
        n,
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ])
    .await?;
    ensure!(image == "registry.k8s.io/pause:3.9", "{image}");
    let cm = kubectl::ok(&["-n", n, "get", "configmap", "web-config", "-o", "yaml"]).await?;
    ensure!(
        cm.contains("color: blue") && !cm.contains("size: large"),
        "{cm}"
    );
    ensure!(
        cm.contains("kubectl.kubernetes.io/last-applied-configuration"),
        "{cm}"
    );

    let tables = [
        (
            "deployments",
            vec!["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
            "web",
        ),
        (
            "services",
            vec![
                "NAME",
                "TYPE",
                "CLUSTER-IP",
                "EXTERNAL-IP",
                "PORT(S)",
                "AGE",
            ],
            "web",
        ),
        ("configmaps", vec!["NAME", "DATA", "AGE"], "web-config"),
        ("secrets", vec!["NAME", "TYPE", "DATA", "AGE"], "web-secret"),
        ("leases", vec!["NAME", "HOLDER", "AGE"], "web-lease"),
        (
            "hpa",
            vec![
                "NAME",
                "REFERENCE",
                "TARGETS",
                "MINPODS",
                "MAXPODS",
                "REPLICAS",
                "AGE",
            ],
            "web",
        ),
    ];
    for (resource, header, name) in tables {
        let out = kubectl::ok(&["-n", n, "get", resource]).await?;
        ensure!(
            kubectl::header(&out) == header,
            "kubectl get {resource}:\n{out}"
        );
        ensure!(
            kubectl::row(&out, name).is_some(),
            "kubectl get {resource}:\n{out}"
        );
    }
    let out = kubectl::ok(&["-n", n, "get", "configmap", "web-config"]).await?;
    ensure!(
        kubectl::row(&out, "web-config").is_some_and(|r| r[1] == "1"),
        "one key left:\n{out}"
    );
    let out = kubectl::ok(&["-n", n, "get", "service", "web"]).await?;
    ensure!(
        kubectl::row(&out, "web").is_some_and(|r| r[1] == "ClusterIP" && r[4] == "80/TCP"),
        "{out}"
    );
    let wide = kubectl::ok(&["-n", n, "get", "deployment", "web", "-o", "wide"]).await?;
    ensure!(
        kubectl::header(&wide)[5..] == ["CONTAINERS", "IMAGES", "SELECTOR"],
        "{wide}"
    );
    ensure!(
        kubectl::row(&wide, "web").is_some_and(|r| r.iter().any(|c| c == "app=web")),
        "{wide}"
    );
    let out = kubectl::ok(&["get", "namespace", n]).await?;
    ensure!(
        kubectl::row(&out, n).is_some_and(|r| r[1] == "Active"),
        "{out}"
    );

    let describe = kubectl::ok(&["-n", n, "describe", "deployment", "web"]).await?;
    for needle in [
        "Name:",
        "web",
        "Replicas:",
        "registry.k8s.io/pause:3.9",
        "StrategyType:",
    ] {
        ensure!(
            describe.contains(needle),
            "describe lacks {needle:?}:\n{describe}"
        );
    }
    let describe = kubectl::ok(&["-n", n, "describe", "service", "web"]).await?;
    ensure!(
        describe.contains("Selector:") && describe.contains("app=web"),
        "{describe}"
    );

    let out = kubectl::ok(&["-n", n, "delete", "-f", file]).await?;
    ensure!(out.contains("configmap \"web-config\" deleted"), "{out}");
    let err = kubectl::fails(&["-n", n, "get", "configmap", "web-config"]).await?;
    ensure!(
        err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );
    ns.delete().await
}

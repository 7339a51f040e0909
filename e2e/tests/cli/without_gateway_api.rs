//! `serin run` with every router enabled (the default) on an API server that serves
//! Istio's CRDs but not the Gateway API's: it leaves the unserved kinds unwatched,
//! becomes ready, and rolls out an Istio Canary. (A watch on a kind the server lacks
//! never syncs, and serin is ready only once every watch has synced.)

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serin::api::{Canary, Phase};
use serin_sandbox::apiserver::{ApiServer, ApiServerConfig};
use serin_sandbox::kubelet::{self, KubeletConfig};

use super::support::{client_for, free_port, serin_bin, workdir};

const WITHIN: Duration = Duration::from_secs(60);

/// Kills the serin process when the test ends, passed or not.
struct Serin(Child);

impl Drop for Serin {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    log: &std::path::Path,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + WITHIN;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if Instant::now() > deadline {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            panic!("timed out waiting for {what}; serin's log:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_gateway_api_crds_serin_is_ready_and_rolls_out_istio_canaries() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = ApiServer::start(ApiServerConfig::default())
        .await
        .expect("api server");
    let kc = workdir().join(format!("no-gateway-api-{}.kubeconfig", free_port()));
    server.write_kubeconfig(&kc).expect("kubeconfig");
    let client = client_for(&kc).await.expect("client");
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    for crd in serin::api::crds() {
        crds.create(&PostParams::default(), &crd)
            .await
            .expect("create CRD");
    }
    serin_sandbox::mesh::install_istio_crds(client.clone())
        .await
        .expect("Istio CRDs");
    let ns = format!("no-gw-{}", free_port());
    let namespace: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).expect("ns");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .expect("namespace");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let kubelet = tokio::spawn(kubelet::run(
        client.clone(),
        KubeletConfig {
            ready_delay: Duration::from_millis(50),
        },
        async move {
            let _ = stopped.await;
        },
    ));

    let port = free_port();
    let log = workdir().join(format!("serin-{ns}.log"));
    let out = std::fs::File::create(&log).expect("log file");
    let serin = Serin(
        Command::new(serin_bin())
            .args(["run", "--log-format", "text", "--min-interval", "1s"])
            .arg("--kubeconfig")
            .arg(&kc)
            .args(["--namespace", &ns])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .expect("spawn serin"),
    );
    let http = reqwest::Client::new();
    let readyz = format!("http://127.0.0.1:{port}/readyz");
    eventually("/readyz to answer 200", &log, || {
        let req = http.get(&readyz).send();
        async move { req.await.ok().filter(|r| r.status().is_success()) }
    })
    .await;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.lines()
            .any(|l| l.contains("routing kind not served") && l.contains("HTTPRoute")),
        "the unserved Gateway API kinds are named in the log:\n{text}"
    );

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let target = |image: &str| -> Deployment {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "podinfo"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "podinfo"}},
                "template": {
                    "metadata": {"labels": {"app": "podinfo"}},
                    "spec": {"containers": [{"name": "app", "image": image}]}
                }
            }
        }))
        .expect("deployment")
    };
    deployments
        .create(&PostParams::default(), &target("podinfo:1"))
        .await
        .expect("target");
    let canaries: Api<Canary> = Api::namespaced(client.clone(), &ns);
    let canary: Canary = serde_json::from_value(serde_json::json!({
        "apiVersion": "serin.dev/v1beta1", "kind": "Canary",
        "metadata": {"name": "podinfo"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898},
            "analysis": {"interval": "1s", "threshold": 1, "stepWeight": 50, "maxWeight": 50}
        }
    }))
    .expect("canary");
    canaries
        .create(&PostParams::default(), &canary)
        .await
        .expect("canary");
    let phase = |c: &Canary| c.status.as_ref().map(|s| s.phase()).unwrap_or_default();
    eventually("Initialized", &log, || {
        let get = canaries.get("podinfo");
        async move { get.await.ok().filter(|c| phase(c) == Phase::Initialized) }
    })
    .await;
    let vs = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "networking.istio.io",
        "v1",
        "VirtualService",
    ));
    let vss: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &vs);
    // The status is written before the objects: the VirtualService follows Initialized.
    eventually("the VirtualService", &log, || {
        let get = vss.get("podinfo");
        async move { get.await.ok() }
    })
    .await;

    deployments
        .patch(
            "podinfo",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"template": {"spec": {
                "containers": [{"name": "app", "image": "podinfo:2"}]}}}})),
        )
        .await
        .expect("new revision");
    eventually("Succeeded", &log, || {
        let get = canaries.get("podinfo");
        async move { get.await.ok().filter(|c| phase(c) == Phase::Succeeded) }
    })
    .await;
    let primary = deployments.get("podinfo-primary").await.expect("primary");
    let image = primary
        .spec
        .and_then(|s| s.template.spec)
        .and_then(|s| s.containers.first().and_then(|c| c.image.clone()));
    assert_eq!(image.as_deref(), Some("podinfo:2"));

    drop(serin);
    let _ = stop.send(());
    let _ = kubelet.await;
    server.shutdown().await;
}

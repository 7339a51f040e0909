//! The autoscaler stand-ins end to end against the in-process API server:
//! each test runs its own HPA controller and KEDA stand-ins, watching only
//! its own namespace, on a short tick. Skipped against a real cluster (its
//! own HPA controller would fight the stand-in).

mod support;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use serin_sandbox::autoscaler::keda::PAUSED_REPLICAS;
use serin_sandbox::autoscaler::{
    Autoscaler, AutoscalerConfig, RPS_PER_REPLICA_ANNOTATION, UTILIZATION_ANNOTATION,
    scaled_object_resource,
};
use support::{TestNs, WAIT, eventually, is_remote};

/// Stand-ins for one test's namespace.
async fn stand_ins(ns: &TestNs) -> Result<Autoscaler> {
    let cfg = AutoscalerConfig {
        tick: Duration::from_millis(100),
        downscale_stabilization: Duration::from_secs(1),
        namespace: Some(ns.name.clone()),
        ..AutoscalerConfig::default()
    };
    Autoscaler::start(ns.client.clone(), cfg).await
}

async fn deployment(ns: &TestNs, name: &str, replicas: i32) -> Result<()> {
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]}}
        }
    }))?;
    ns.api::<Deployment>()
        .create(&PostParams::default(), &d)
        .await?;
    Ok(())
}

async fn hpa(ns: &TestNs, name: &str, target: &str, min: i32, max: i32) -> Result<()> {
    let h: HorizontalPodAutoscaler = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": min, "maxReplicas": max
        }
    }))?;
    ns.api::<HorizontalPodAutoscaler>()
        .create(&PostParams::default(), &h)
        .await?;
    Ok(())
}

/// Sets (or with `None` removes) an annotation.
async fn annotate<K>(api: &Api<K>, name: &str, key: &str, value: Option<&str>) -> Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let patch = json!({"metadata": {"annotations": {key: value}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

async fn replicas(ns: &TestNs, name: &str) -> Result<i32> {
    let d = ns.api::<Deployment>().get(name).await?;
    Ok(d.spec.and_then(|s| s.replicas).unwrap_or(1))
}

/// `(status, reason)` of an HPA condition.
fn hpa_condition(h: &HorizontalPodAutoscaler, type_: &str) -> Option<(String, String)> {
    let conditions = h.status.as_ref()?.conditions.as_ref()?;
    let c = conditions.iter().find(|c| c.type_ == type_)?;
    Some((c.status.clone(), c.reason.clone().unwrap_or_default()))
}

/// Waits until the Deployment has `want` replicas, recording every count seen.
async fn wait_replicas(
    ns: &TestNs,
    name: &str,
    want: i32,
    seen: &RefCell<BTreeSet<i32>>,
) -> Result<()> {
    eventually(&format!("{name} at {want} replicas"), WAIT, || async {
        let now = replicas(ns, name).await?;
        seen.borrow_mut().insert(now);
        Ok((now == want).then_some(()))
    })
    .await
}

#[tokio::test]
async fn hpa_scales_with_utilisation_within_min_and_max() -> Result<()> {
    if is_remote() {
        return Ok(());
    }
    let ns = TestNs::create("autoscaler-hpa").await?;
    let autoscaler = stand_ins(&ns).await?;
    deployment(&ns, "web", 2).await?;
    hpa(&ns, "web", "web", 2, 6).await?;
    let hpas = ns.api::<HorizontalPodAutoscaler>();
    eventually("a first status at target", WAIT, || async {
        let h = hpas.get("web").await?;
        let active = hpa_condition(&h, "ScalingActive");
        let status = h.status.context("status")?;
        Ok((status.current_replicas == Some(2)
            && status.desired_replicas == 2
            && active == Some(("True".into(), "ValidMetricFound".into())))
        .then_some(()))
    })
    .await?;

    annotate(&hpas, "web", UTILIZATION_ANNOTATION, Some("200")).await?;
    let seen = RefCell::default();
    wait_replicas(&ns, "web", 6, &seen).await?;
    eventually("ScalingLimited by max", WAIT, || async {
        let h = hpas.get("web").await?;
        let limited = hpa_condition(&h, "ScalingLimited");
        let status = h.status.context("status")?;
        Ok((limited == Some(("True".into(), "TooManyReplicas".into()))
            && status.current_replicas == Some(6)
            && status.last_scale_time.is_some())
        .then_some(()))
    })
    .await?;

    annotate(&hpas, "web", UTILIZATION_ANNOTATION, Some("10")).await?;
    wait_replicas(&ns, "web", 2, &seen).await?;
    let seen = seen.into_inner();
    ensure!(seen.iter().all(|r| *r >= 2), "dipped below min: {seen:?}");
    autoscaler.shutdown().await;
    ns.delete().await
}

#[tokio::test]
async fn hpa_leaves_a_target_at_zero_alone() -> Result<()> {
    if is_remote() {
        return Ok(());
    }
    let ns = TestNs::create("autoscaler-zero").await?;
    let autoscaler = stand_ins(&ns).await?;
    deployment(&ns, "idle", 0).await?;
    let deployments = ns.api::<Deployment>();
    annotate(&deployments, "idle", UTILIZATION_ANNOTATION, Some("300")).await?;
    hpa(&ns, "idle", "idle", 1, 5).await?;
    let hpas = ns.api::<HorizontalPodAutoscaler>();
    eventually("ScalingDisabled", WAIT, || async {
        let h = hpas.get("idle").await?;
        let active = hpa_condition(&h, "ScalingActive");
        let status = h.status.context("status")?;
        Ok((active == Some(("False".into(), "ScalingDisabled".into()))
            && status.current_replicas == Some(0)
            && status.desired_replicas == 0)
            .then_some(()))
    })
    .await?;
    let written = hpas.get("idle").await?.resource_version();
    // A second HPA that does scale proves later passes ran over both.
    deployment(&ns, "busy", 1).await?;
    annotate(&deployments, "busy", UTILIZATION_ANNOTATION, Some("300")).await?;
    hpa(&ns, "busy", "busy", 1, 5).await?;
    wait_replicas(&ns, "busy", 3, &RefCell::default()).await?;
    ensure!(
        replicas(&ns, "idle").await? == 0,
        "a target at zero was scaled"
    );
    let now = hpas.get("idle").await?.resource_version();
    ensure!(now == written, "an unchanged status was written again");
    autoscaler.shutdown().await;
    ns.delete().await
}

fn scaled_objects(ns: &TestNs) -> Api<DynamicObject> {
    Api::namespaced_with(ns.client.clone(), &ns.name, &scaled_object_resource())
}

async fn scaled_object(ns: &TestNs, name: &str, spec: Value) -> Result<()> {
    let so: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
        "metadata": {"name": name}, "spec": spec
    }))?;
    scaled_objects(ns)
        .create(&PostParams::default(), &so)
        .await?;
    Ok(())
}

/// `status` of a ScaledObject condition.
fn so_condition(so: &DynamicObject, type_: &str) -> Option<String> {
    let list = so.data["status"]["conditions"].as_array()?;
    let c = list.iter().find(|c| c["type"] == type_)?;
    Some(format!(
        "{}/{}",
        c["status"].as_str()?,
        c["reason"].as_str()?
    ))
}

#[tokio::test]
async fn keda_manages_its_hpa_and_pauses() -> Result<()> {
    if is_remote() {
        return Ok(());
    }
    let ns = TestNs::create("autoscaler-keda").await?;
    let autoscaler = stand_ins(&ns).await?;
    deployment(&ns, "worker", 1).await?;
    let spec = json!({"scaleTargetRef": {"name": "worker"}, "minReplicaCount": 1, "maxReplicaCount": 5,
        "triggers": [{"type": "prometheus", "metadata": {"threshold": "10", "value": "10"}}]});
    scaled_object(&ns, "worker", spec).await?;
    let hpas = ns.api::<HorizontalPodAutoscaler>();
    let objects = scaled_objects(&ns);
    let uid = objects.get("worker").await?.uid().context("uid")?;
    eventually(
        "keda-hpa-worker owned by the ScaledObject",
        WAIT,
        || async {
            let Some(h) = hpas.get_opt("keda-hpa-worker").await? else {
                return Ok(None);
            };
            let owned = h
                .owner_references()
                .iter()
                .any(|o| o.uid == uid && o.controller == Some(true));
            let spec = h.spec.context("spec")?;
            Ok((owned && spec.min_replicas == Some(1) && spec.max_replicas == 5).then_some(()))
        },
    )
    .await?;
    eventually("Ready with hpaName", WAIT, || async {
        let so = objects.get("worker").await?;
        Ok(
            (so_condition(&so, "Ready").as_deref() == Some("True/ScaledObjectReady")
                && so.data["status"]["hpaName"] == "keda-hpa-worker"
                && so.data["status"]["originalReplicaCount"] == 1)
                .then_some(()),
        )
    })
    .await?;

    annotate(&objects, "worker", UTILIZATION_ANNOTATION, Some("300")).await?;
    wait_replicas(&ns, "worker", 3, &RefCell::default()).await?;

    annotate(&objects, "worker", PAUSED_REPLICAS, Some("2")).await?;
    wait_replicas(&ns, "worker", 2, &RefCell::default()).await?;
    eventually("paused: HPA gone, status says so", WAIT, || async {
        let so = objects.get("worker").await?;
        let gone = hpas.get_opt("keda-hpa-worker").await?.is_none();
        Ok((gone
            && so_condition(&so, "Paused").as_deref() == Some("True/ScaledObjectPaused")
            && so.data["status"]["pausedReplicaCount"] == 2)
            .then_some(()))
    })
    .await?;

    annotate(&objects, "worker", PAUSED_REPLICAS, None).await?;
    eventually("unpaused: HPA back", WAIT, || async {
        let so = objects.get("worker").await?;
        let back = hpas.get_opt("keda-hpa-worker").await?.is_some();
        Ok((back
            && so_condition(&so, "Paused").as_deref() == Some("False/ScaledObjectUnpaused")
            && so.data["status"].get("pausedReplicaCount").is_none())
        .then_some(()))
    })
    .await?;
    wait_replicas(&ns, "worker", 5, &RefCell::default()).await?;
    autoscaler.shutdown().await;
    ns.delete().await
}

#[tokio::test]
async fn keda_scales_to_zero_when_idle_and_back() -> Result<()> {
    if is_remote() {
        return Ok(());
    }
    let ns = TestNs::create("autoscaler-idle").await?;
    let autoscaler = stand_ins(&ns).await?;
    deployment(&ns, "jobs", 2).await?;
    let spec = json!({"scaleTargetRef": {"name": "jobs"}, "minReplicaCount": 0, "maxReplicaCount": 3,
        "cooldownPeriod": 1, "triggers": [{"type": "cron", "metadata": {}}]});
    scaled_object(&ns, "jobs", spec).await?;
    let objects = scaled_objects(&ns);
    annotate(&objects, "jobs", UTILIZATION_ANNOTATION, Some("0")).await?;
    wait_replicas(&ns, "jobs", 0, &RefCell::default()).await?;
    eventually("Active=False", WAIT, || async {
        let so = objects.get("jobs").await?;
        Ok((so_condition(&so, "Active").as_deref() == Some("False/ScalerNotActive")).then_some(()))
    })
    .await?;
    annotate(&objects, "jobs", UTILIZATION_ANNOTATION, Some("100")).await?;
    wait_replicas(&ns, "jobs", 1, &RefCell::default()).await?;
    autoscaler.shutdown().await;
    ns.delete().await
}

/// A stand-in for the mesh's `/metrics`: workload `web` of `namespace`
/// receives `rps` requests per second, counted from the server's start.
async fn fake_mesh(namespace: &str, rps: Arc<AtomicU64>) -> Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/metrics", listener.local_addr()?);
    let namespace = namespace.to_owned();
    let counted = Arc::new(Mutex::new((0.0_f64, Instant::now())));
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let (namespace, rps, counted) = (namespace.clone(), rps.clone(), counted.clone());
            async move {
                let mut guard = counted.lock().unwrap_or_else(|p| p.into_inner());
                let (total, since) = &mut *guard;
                let rate = f64::from_bits(rps.load(Ordering::Relaxed));
                *total += rate * since.elapsed().as_secs_f64();
                *since = Instant::now();
                format!(
                    "istio_requests_total{{reporter=\"destination\",destination_workload=\"web\",destination_workload_namespace=\"{namespace}\",response_code=\"200\"}} {total}\n"
                )
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(url)
}

#[tokio::test]
async fn hpa_follows_the_mesh_request_rate() -> Result<()> {
    if is_remote() {
        return Ok(());
    }
    let ns = TestNs::create("autoscaler-load").await?;
    let rps = Arc::new(AtomicU64::new(40.0_f64.to_bits()));
    let cfg = AutoscalerConfig {
        tick: Duration::from_millis(200),
        downscale_stabilization: Duration::ZERO,
        namespace: Some(ns.name.clone()),
        keda: false,
        mesh_metrics_url: Some(fake_mesh(&ns.name, rps.clone()).await?),
        ..AutoscalerConfig::default()
    };
    let autoscaler = Autoscaler::start(ns.client.clone(), cfg).await?;
    deployment(&ns, "web", 1).await?;
    hpa(&ns, "web", "web", 1, 10).await?;
    let hpas = ns.api::<HorizontalPodAutoscaler>();
    annotate(&hpas, "web", RPS_PER_REPLICA_ANNOTATION, Some("10")).await?;
    // 40 requests per second at 10 per replica: 4 replicas.
    wait_replicas(&ns, "web", 4, &RefCell::default()).await?;
    rps.store(80.0_f64.to_bits(), Ordering::Relaxed);
    wait_replicas(&ns, "web", 8, &RefCell::default()).await?;
    rps.store(20.0_f64.to_bits(), Ordering::Relaxed);
    wait_replicas(&ns, "web", 2, &RefCell::default()).await?;
    autoscaler.shutdown().await;
    ns.delete().await
}

//! HorizontalPodAutoscalers (autoscaling/v2): how the server creates,
//! defaults, validates and splits them into spec and status, and the status
//! fields the HPA controller writes where its behaviour needs no metrics (a
//! target at zero, a target outside min/max). Against the sandbox the
//! controller is the sandbox's stand-in, started for the test's namespace;
//! against a real cluster it is the real controller (15 s sync period, hence
//! the longer deadline there).

use super::builtins::deployment;
use crate::support::{TestNs, WAIT, api_error, eventually, is_remote};
use anyhow::{Context, Result, ensure};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use serin_sandbox::autoscaler::{Autoscaler, AutoscalerConfig};
use std::time::Duration;

fn hpa(name: &str, spec: Value) -> Result<HorizontalPodAutoscaler> {
    Ok(serde_json::from_value(
        json!({"metadata": {"name": name}, "spec": spec}),
    )?)
}

fn target(name: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": name})
}

#[tokio::test]
async fn hpa_is_defaulted_and_validated() -> Result<()> {
    let ns = TestNs::create("conf-hpa-valid").await?;
    let api: Api<HorizontalPodAutoscaler> = ns.api();
    let pp = PostParams::default();
    let created = api
        .create(
            &pp,
            &hpa(
                "web",
                json!({"scaleTargetRef": target("web"), "maxReplicas": 3}),
            )?,
        )
        .await?;
    let spec = serde_json::to_value(created.spec.context("spec")?)?;
    ensure!(spec["minReplicas"] == 1, "{spec}");
    let metric = &spec["metrics"][0];
    ensure!(
        metric["type"] == "Resource"
            && metric["resource"]["name"] == "cpu"
            && metric["resource"]["target"]
                == json!({"type": "Utilization", "averageUtilization": 80}),
        "{spec}"
    );
    ensure!(created.metadata.generation == Some(1));

    let refusals = [
        (
            json!({"scaleTargetRef": target("web"), "maxReplicas": 0}),
            "spec.maxReplicas",
            "must be greater than or equal to 1",
        ),
        (
            json!({"scaleTargetRef": target("web"), "minReplicas": 5, "maxReplicas": 2}),
            "spec.minReplicas",
            "must be less than or equal to maxReplicas",
        ),
        (
            json!({"scaleTargetRef": {"kind": "Deployment", "name": ""}, "maxReplicas": 2}),
            "spec.scaleTargetRef.name",
            "Required value",
        ),
    ];
    for (spec, field, words) in refusals {
        let status = api_error(api.create(&pp, &hpa("bad", spec.clone())?).await)?;
        let context = format!("spec {spec}: {status:?}");
        ensure!(
            status.code == 422 && status.reason == "Invalid",
            "{context}"
        );
        ensure!(
            status.message.contains(field) && status.message.contains(words),
            "{context}"
        );
    }
    ns.delete().await
}

#[tokio::test]
async fn hpa_status_is_a_subresource() -> Result<()> {
    let ns = TestNs::create("conf-hpa-status").await?;
    let api: Api<HorizontalPodAutoscaler> = ns.api();
    // A target that does not exist: a real controller only sets conditions.
    let spec = json!({"scaleTargetRef": target("absent"), "minReplicas": 1, "maxReplicas": 3});
    api.create(&PostParams::default(), &hpa("web", spec)?)
        .await?;
    let pp = PatchParams::default();

    let status =
        json!({"status": {"currentReplicas": 2, "desiredReplicas": 7}, "spec": {"maxReplicas": 9}});
    let written = api.patch_status("web", &pp, &Patch::Merge(&status)).await?;
    ensure!(
        written.status.as_ref().map(|s| s.desired_replicas) == Some(7),
        "{written:?}"
    );
    let spec = written.spec.as_ref().context("spec")?;
    ensure!(
        spec.max_replicas == 3,
        "the status endpoint changed the spec"
    );
    ensure!(
        written.metadata.generation == Some(1),
        "a status write bumped generation"
    );

    let main = json!({"spec": {"maxReplicas": 4}, "status": {"desiredReplicas": 9}});
    let updated = api.patch("web", &pp, &Patch::Merge(&main)).await?;
    ensure!(updated.spec.as_ref().map(|s| s.max_replicas) == Some(4));
    ensure!(
        updated.status.as_ref().map(|s| s.desired_replicas) != Some(9),
        "the main endpoint wrote status: {updated:?}"
    );
    ensure!(
        updated.metadata.generation == Some(2),
        "{:?}",
        updated.metadata.generation
    );
    ns.delete().await
}

/// The controller for one test: the stand-in against the sandbox, nothing
/// against a real cluster (its own controller runs).
async fn controller(ns: &TestNs) -> Result<Option<Autoscaler>> {
    if is_remote() {
        return Ok(None);
    }
    let cfg = AutoscalerConfig {
        tick: Duration::from_millis(100),
        namespace: Some(ns.name.clone()),
        keda: false,
        ..AutoscalerConfig::default()
    };
    Ok(Some(Autoscaler::start(ns.client.clone(), cfg).await?))
}

fn deadline() -> Duration {
    if is_remote() {
        Duration::from_secs(90)
    } else {
        WAIT
    }
}

/// `(status, reason)` of a condition, with its timestamps and message present.
fn condition(h: &HorizontalPodAutoscaler, type_: &str) -> Option<(String, String)> {
    let c = h
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)?;
    let complete =
        c.last_transition_time.is_some() && c.message.as_ref().is_some_and(|m| !m.is_empty());
    complete.then(|| (c.status.clone(), c.reason.clone().unwrap_or_default()))
}

#[tokio::test]
async fn hpa_controller_leaves_a_zero_target_and_says_why() -> Result<()> {
    let ns = TestNs::create("conf-hpa-zero").await?;
    let stand_in = controller(&ns).await?;
    let deployments: Api<Deployment> = ns.api();
    deployments
        .create(&PostParams::default(), &deployment("idle", 0)?)
        .await?;
    let spec = json!({"scaleTargetRef": target("idle"), "minReplicas": 1, "maxReplicas": 3});
    let api: Api<HorizontalPodAutoscaler> = ns.api();
    api.create(&PostParams::default(), &hpa("idle", spec)?)
        .await?;
    eventually(
        "ScalingActive=False ScalingDisabled",
        deadline(),
        || async {
            let h = api.get("idle").await?;
            let status = h.status.as_ref().context("status")?;
            Ok(
                (condition(&h, "ScalingActive")
                    == Some(("False".into(), "ScalingDisabled".into()))
                    && condition(&h, "AbleToScale")
                        == Some(("True".into(), "SucceededGetScale".into()))
                    && status.current_replicas == Some(0)
                    && status.desired_replicas == 0
                    && status.last_scale_time.is_none())
                .then_some(()),
            )
        },
    )
    .await?;
    let replicas = deployments.get("idle").await?.spec.and_then(|s| s.replicas);
    ensure!(replicas == Some(0), "{replicas:?}");
    if let Some(stand_in) = stand_in {
        stand_in.shutdown().await;
    }
    ns.delete().await
}

#[tokio::test]
async fn hpa_controller_brings_a_target_within_bounds() -> Result<()> {
    let ns = TestNs::create("conf-hpa-bounds").await?;
    let stand_in = controller(&ns).await?;
    let deployments: Api<Deployment> = ns.api();
    let api: Api<HorizontalPodAutoscaler> = ns.api();
    let pp = PostParams::default();
    deployments.create(&pp, &deployment("few", 1)?).await?;
    deployments.create(&pp, &deployment("many", 5)?).await?;
    let few = json!({"scaleTargetRef": target("few"), "minReplicas": 2, "maxReplicas": 4});
    let many = json!({"scaleTargetRef": target("many"), "minReplicas": 1, "maxReplicas": 3});
    api.create(&pp, &hpa("few", few)?).await?;
    api.create(&pp, &hpa("many", many)?).await?;
    for (name, bound) in [("few", 2), ("many", 3)] {
        eventually(&format!("{name} scaled to {bound}"), deadline(), || async {
            let d = deployments.get(name).await?;
            let h = api.get(name).await?;
            let status = h.status.as_ref().context("status")?;
            let able = condition(&h, "AbleToScale").map(|(s, _)| s);
            Ok((d.spec.and_then(|s| s.replicas) == Some(bound)
                && status.desired_replicas == bound
                && status.last_scale_time.is_some()
                && able.as_deref() == Some("True"))
            .then_some(()))
        })
        .await?;
    }
    if let Some(stand_in) = stand_in {
        stand_in.shutdown().await;
    }
    ns.delete().await
}

//! The sandbox's own switches, on private servers so they disturb no other
//! test: the kubeconfig it writes, fault injection (error rate per verb,
//! latency, dropped watches), request counters, and its speed. Skipped
//! against a real cluster, which has none of these.

use crate::support::{WAIT, client_for, eventually, is_remote, kubectl, private_server, target};
use anyhow::{Context, Result, ensure};
use futures::future::join_all;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{ListParams, Patch, PatchParams, PostParams, WatchParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use serin_sandbox::apiserver::{ApiServer, ApiServerConfig};
use std::time::{Duration, Instant};

async fn server() -> Result<(ApiServer, Client)> {
    private_server(ApiServerConfig::default()).await
}

async fn namespace(client: &Client, name: &str) -> Result<Api<ConfigMap>> {
    let ns = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    Ok(Api::namespaced(client.clone(), name))
}

fn config_map(name: &str) -> Result<ConfigMap> {
    Ok(serde_json::from_value(
        json!({"metadata": {"name": name, "labels": {"sandbox": "yes"}}, "data": {"k": "v"}}),
    )?)
}

#[tokio::test]
async fn kubeconfig_is_written_where_asked() -> Result<()> {
    if is_remote() {
        return Ok(());
    }
    let server = ApiServer::start(ApiServerConfig::default()).await?;
    let path = target().workdir.join("nested/dir/sandbox.kubeconfig");
    server.write_kubeconfig(&path)?;
    let text = std::fs::read_to_string(&path)?;
    ensure!(text.contains(&server.url()), "{text}");
    let client = client_for(&path).await?;
    ensure!(client.apiserver_version().await.is_ok());
    let out = kubectl::run_at(&path, &["get", "namespaces", "-o", "name"]).await?;
    ensure!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("namespace/default"),
        "{out:?}"
    );
    Ok(())
}

#[tokio::test]
async fn fault_error_rates_per_verb() -> Result<()> {
    if is_remote() {
        return Ok(());
    }
    let (server, client) = server().await?;
    let maps = namespace(&client, "faults").await?;
    maps.create(&PostParams::default(), &config_map("cm")?)
        .await?;
    server.faults().set_error_rate("get", 1.0);
    let failed = maps.get("cm").await;
    ensure!(
        matches!(&failed, Err(kube::Error::Api(s)) if s.code == 500),
        "{failed:?}"
    );
    ensure!(
        maps.list(&ListParams::default()).await.is_ok(),
        "other verbs are untouched"
    );

    server.faults().set_error_rate("create", 0.5);
    let results = join_all((0..60).map(|i| {
        let maps = maps.clone();
        async move {
            maps.create(&PostParams::default(), &config_map(&format!("c{i}"))?)
                .await
                .map_err(anyhow::Error::from)
        }
    }))
    .await;
    let failures = results.iter().filter(|r| r.is_err()).count();
    ensure!(
        (10..=50).contains(&failures),
        "about half of 60 creates fail: {failures}"
    );
    server.faults().clear();
    ensure!(maps.get("cm").await.is_ok());
    Ok(())
}

#[tokio::test]
async fn fault_latency() -> Result<()> {
    if is_remote() {
        return Ok(());
    }
    let (server, client) = server().await?;
    let maps = namespace(&client, "slow").await?;
    server.faults().set_latency(Duration::from_millis(300));
    let started = Instant::now();
    maps.list(&ListParams::default()).await?;
    ensure!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    server.faults().clear();
    Ok(())
}

#[tokio::test]
async fn fault_dropped_watches() -> Result<()> {
    if is_remote() {
        return Ok(());
    }
    let (server, client) = server().await?;
    let maps = namespace(&client, "drops").await?;
    let rv = maps
        .list(&ListParams::default())
        .await?
        .metadata
        .resource_version
        .context("rv")?;
    let mut raw = maps
        .watch(&WatchParams::default().timeout(60), &rv)
        .await?
        .boxed();
    let (reader, writer) = reflector::store();
    let stream = reflector(writer, watcher(maps.clone(), watcher::Config::default()));
    let task = tokio::spawn(
        stream
            .default_backoff()
            .for_each(|_| futures::future::ready(())),
    );
    tokio::time::timeout(WAIT, reader.wait_until_ready()).await??;

    server.faults().drop_watches();
    let ended = tokio::time::timeout(WAIT, async {
        while raw.try_next().await.ok().flatten().is_some() {}
    })
    .await;
    ensure!(
        ended.is_ok(),
        "a dropped watch ends long before its timeout"
    );
    // kube-rs' watcher reconnects and keeps following.
    maps.create(&PostParams::default(), &config_map("after-drop")?)
        .await?;
    eventually("the watcher to recover", WAIT, || async {
        Ok(reader
            .state()
            .iter()
            .any(|c| c.name_any() == "after-drop")
            .then_some(()))
    })
    .await?;
    task.abort();
    Ok(())
}

#[tokio::test]
async fn request_counters() -> Result<()> {
    if is_remote() {
        return Ok(());
    }
    let (server, client) = server().await?;
    let maps = namespace(&client, "counted").await?;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "counted");
    deploys
        .create(
            &PostParams::default(),
            &super::builtins::deployment("web", 1)?,
        )
        .await?;
    server.counters().reset();
    for i in 0..3 {
        maps.create(&PostParams::default(), &config_map(&format!("c{i}"))?)
            .await?;
    }
    maps.get("c0").await?;
    maps.get("c1").await?;
    maps.list(&ListParams::default()).await?;
    deploys
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 2}})),
        )
        .await?;
    deploys
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 0}})),
        )
        .await?;
    let counts = server.counters().snapshot();
    let count = |verb: &str, resource: &str| {
        counts
            .get(&(verb.to_string(), resource.to_string()))
            .copied()
            .unwrap_or(0)
    };
    ensure!(
        count("create", "configmaps") == 3 && count("get", "configmaps") == 2,
        "{counts:?}"
    );
    ensure!(count("list", "configmaps") == 1, "{counts:?}");
    ensure!(
        count("patch", "deployments/scale") == 1 && count("patch", "deployments/status") == 1,
        "{counts:?}"
    );
    ensure!(
        count("patch", "deployments") == 0 && count("delete", "configmaps") == 0,
        "{counts:?}"
    );
    Ok(())
}

#[tokio::test]
async fn thousands_of_objects_quickly() -> Result<()> {
    if is_remote() {
        return Ok(());
    }
    let (_server, client) = server().await?;
    let maps = namespace(&client, "bulk").await?;
    const OBJECTS: usize = 1500;
    let started = Instant::now();
    let creates = futures::stream::iter(0..OBJECTS)
        .map(|i| {
            let maps = maps.clone();
            async move {
                maps.create(&PostParams::default(), &config_map(&format!("cm-{i:05}"))?)
                    .await
                    .map_err(anyhow::Error::from)
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await?;
    let rate = creates.len() as f64 / started.elapsed().as_secs_f64();
    // A floor, not a benchmark: a debug build whose client shares the 2 cores
    // with the server and the rest of the suite still manages this much.
    ensure!(rate >= 100.0, "{rate:.0} creates/s");

    let started = Instant::now();
    let mut listed = 0;
    let mut token: Option<String> = None;
    loop {
        let mut lp = ListParams::default().limit(500);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = maps.list(&lp).await?;
        listed += page.items.len();
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    ensure!(listed == OBJECTS, "{listed}");
    ensure!(
        started.elapsed() < Duration::from_secs(5),
        "listing {OBJECTS} took {:?}",
        started.elapsed()
    );
    let selected = maps
        .list(&ListParams::default().fields("metadata.name=cm-01234"))
        .await?;
    ensure!(selected.items.len() == 1);
    Ok(())
}

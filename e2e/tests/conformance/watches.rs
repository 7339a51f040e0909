//! Watches as chunked streams: from a resourceVersion, with bookmarks,
//! `timeoutSeconds`, label and field selectors, 410 Gone beyond the kept
//! history; kube-rs' `watcher`/`reflector`, and `kubectl get -w`.

use crate::support::{TestNs, WAIT, eventually, kubectl, raw};
use anyhow::{Context, Result, bail, ensure};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, ResourceExt};
use serde_json::json;
use std::time::{Duration, Instant};

async fn create(maps: &Api<ConfigMap>, name: &str, labels: serde_json::Value) -> Result<ConfigMap> {
    let cm = serde_json::from_value(
        json!({"metadata": {"name": name, "labels": labels}, "data": {"v": "1"}}),
    )?;
    Ok(maps.create(&PostParams::default(), &cm).await?)
}

/// (type, name) of a watch event; bookmarks and errors by their type only.
fn describe(ev: &WatchEvent<ConfigMap>) -> (String, String) {
    match ev {
        WatchEvent::Added(o) => ("ADDED".into(), o.name_any()),
        WatchEvent::Modified(o) => ("MODIFIED".into(), o.name_any()),
        WatchEvent::Deleted(o) => ("DELETED".into(), o.name_any()),
        WatchEvent::Bookmark(_) => ("BOOKMARK".into(), String::new()),
        WatchEvent::Error(e) => ("ERROR".into(), e.message.clone()),
    }
}

/// Reads events (skipping bookmarks) until `want` of them arrived.
async fn next_events(
    stream: &mut (impl futures::Stream<Item = kube::Result<WatchEvent<ConfigMap>>> + Unpin),
    want: usize,
) -> Result<Vec<(String, String)>> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while got.len() < want {
        let Some(ev) = tokio::time::timeout_at(deadline, stream.try_next())
            .await
            .context("watch events")??
        else {
            bail!("watch ended after {got:?}");
        };
        let ev = describe(&ev);
        if ev.0 != "BOOKMARK" {
            got.push(ev);
        }
    }
    Ok(got)
}

#[tokio::test]
async fn watch_from_a_resource_version() -> Result<()> {
    let ns = TestNs::create("conf-watch").await?;
    let maps: Api<ConfigMap> = ns.api();
    create(&maps, "first", json!({})).await?;
    let rv = maps
        .list(&ListParams::default())
        .await?
        .metadata
        .resource_version
        .context("list rv")?;
    create(&maps, "second", json!({})).await?;
    maps.patch(
        "first",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "2"}})),
    )
    .await?;
    maps.delete("second", &DeleteParams::default()).await?;

    // Everything after the list's resourceVersion, in order, then live events.
    let mut stream = maps
        .watch(&WatchParams::default().timeout(30), &rv)
        .await?
        .boxed();
    let got = next_events(&mut stream, 3).await?;
    let want = [
        ("ADDED", "second"),
        ("MODIFIED", "first"),
        ("DELETED", "second"),
    ];
    ensure!(
        got.iter().map(|(t, n)| (t.as_str(), n.as_str())).eq(want),
        "{got:?}"
    );
    create(&maps, "third", json!({})).await?;
    ensure!(next_events(&mut stream, 1).await? == [("ADDED".to_string(), "third".to_string())]);
    ns.delete().await
}

#[tokio::test]
async fn watch_at_any_version_starts_with_current_state() -> Result<()> {
    let ns = TestNs::create("conf-watch-any").await?;
    let maps: Api<ConfigMap> = ns.api();
    create(&maps, "existing", json!({"w": "yes"})).await?;
    // resourceVersion "0" (what `kubectl get NAME -w` sends) and unset both
    // begin with synthetic ADDED events for the objects that exist.
    let (by_label, by_name) = (
        "labelSelector=w%3Dyes",
        "fieldSelector=metadata.name%3Dexisting",
    );
    for (rv, selector) in [("0", by_label), ("", by_label), ("0", by_name)] {
        let path = format!(
            "/api/v1/namespaces/{}/configmaps?watch=true&{selector}&timeoutSeconds=1&resourceVersion={rv}",
            ns.name
        );
        let (status, events) = raw::watch_events(&ns.client, &path).await?;
        ensure!(status == 200, "{path}: {status} {events:?}");
        let added: Vec<_> = events
            .iter()
            .filter(|e| e["type"] == "ADDED")
            .map(|e| e["object"]["metadata"]["name"].clone())
            .collect();
        ensure!(
            added == [json!("existing")],
            "resourceVersion={rv:?}: {events:?}"
        );
    }
    ns.delete().await
}

#[tokio::test]
async fn watch_with_selectors() -> Result<()> {
    let ns = TestNs::create("conf-watch-sel").await?;
    let maps: Api<ConfigMap> = ns.api();
    let rv = maps
        .list(&ListParams::default())
        .await?
        .metadata
        .resource_version
        .context("list rv")?;
    let mut labelled = maps
        .watch(
            &WatchParams::default().labels("watched=yes").timeout(30),
            &rv,
        )
        .await?
        .boxed();
    let mut named = maps
        .watch(
            &WatchParams::default()
                .fields("metadata.name=target")
                .timeout(30),
            &rv,
        )
        .await?
        .boxed();
    create(&maps, "noise", json!({})).await?;
    create(&maps, "in", json!({"watched": "yes"})).await?;
    create(&maps, "target", json!({})).await?;
    // Leaving the selector reads as a deletion to the watcher.
    maps.patch(
        "in",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"watched": "no"}}})),
    )
    .await?;

    let got = next_events(&mut labelled, 2).await?;
    ensure!(
        got == [
            ("ADDED".into(), "in".into()),
            ("DELETED".into(), "in".into())
        ],
        "{got:?}"
    );
    ensure!(next_events(&mut named, 1).await? == [("ADDED".to_string(), "target".to_string())]);
    ns.delete().await
}

#[tokio::test]
async fn watch_bookmarks_and_timeout() -> Result<()> {
    let ns = TestNs::create("conf-bookmarks").await?;
    let maps: Api<ConfigMap> = ns.api();
    let rv = maps
        .list(&ListParams::default())
        .await?
        .metadata
        .resource_version
        .context("list rv")?;
    let started = Instant::now();
    // A real server sends a bookmark about 2 s before the watch times out.
    let events: Vec<WatchEvent<ConfigMap>> = maps
        .watch(&WatchParams::default().timeout(4), &rv)
        .await?
        .try_collect()
        .await?;
    let took = started.elapsed();
    ensure!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(15),
        "the server ends the watch at timeoutSeconds: {took:?}"
    );
    let bookmarks: Vec<_> = events
        .iter()
        .filter_map(|e| {
            if let WatchEvent::Bookmark(b) = e {
                Some(b)
            } else {
                None
            }
        })
        .collect();
    ensure!(
        !bookmarks.is_empty(),
        "allowWatchBookmarks yields bookmarks: {:?}",
        events.iter().map(describe).collect::<Vec<_>>()
    );
    ensure!(
        bookmarks
            .iter()
            .all(|b| !b.metadata.resource_version.is_empty() && b.types.kind == "ConfigMap")
    );

    let quiet: Vec<WatchEvent<ConfigMap>> = maps
        .watch(&WatchParams::default().timeout(1).disable_bookmarks(), &rv)
        .await?
        .try_collect()
        .await?;
    ensure!(
        quiet.iter().all(|e| !matches!(e, WatchEvent::Bookmark(_))),
        "no bookmarks unless asked"
    );
    ns.delete().await
}

#[tokio::test]
async fn reflector_follows_changes() -> Result<()> {
    let ns = TestNs::create("conf-reflector").await?;
    let maps: Api<ConfigMap> = ns.api();
    create(&maps, "before", json!({"r": "yes"})).await?;
    let (reader, writer) = reflector::store();
    let stream = reflector(
        writer,
        watcher(maps.clone(), watcher::Config::default().labels("r=yes")),
    );
    let task = tokio::spawn(
        stream
            .default_backoff()
            .for_each(|_| futures::future::ready(())),
    );
    tokio::time::timeout(WAIT, reader.wait_until_ready()).await??;
    create(&maps, "after", json!({"r": "yes"})).await?;
    create(&maps, "ignored", json!({})).await?;
    maps.delete("before", &DeleteParams::default()).await?;
    eventually("the reflector store to follow", WAIT, || async {
        let mut names: Vec<String> = reader.state().iter().map(|c| c.name_any()).collect();
        names.sort();
        Ok((names == ["after"]).then_some(()))
    })
    .await?;
    task.abort();
    ns.delete().await
}

#[tokio::test]
async fn kubectl_get_watch() -> Result<()> {
    let ns = TestNs::create("conf-kubectl-watch").await?;
    let maps: Api<ConfigMap> = ns.api();
    create(&maps, "existing", json!({})).await?;
    let mut watch = kubectl::Watch::start(&["-n", &ns.name, "get", "configmaps", "-w"])?;
    let header = watch.until(WAIT, |l| l.starts_with("NAME")).await?;
    ensure!(
        header.split_whitespace().collect::<Vec<_>>() == ["NAME", "DATA", "AGE"],
        "{header}"
    );
    watch.until(WAIT, |l| l.starts_with("existing ")).await?;
    create(&maps, "late", json!({})).await?;
    let line = watch.until(WAIT, |l| l.starts_with("late ")).await?;
    ensure!(line.split_whitespace().nth(1) == Some("1"), "{line}");
    watch.stop().await;

    // A list watch resumes from the list's resourceVersion, so a change made
    // before the watch is established still shows (a single-object watch
    // starts at "now" and kubectl hides its first event: that would race).
    let jsonpath = "jsonpath={.metadata.name}={.data.v}{\"\\n\"}";
    let args = [
        "-n",
        &ns.name,
        "get",
        "configmaps",
        "--field-selector",
        "metadata.name=late",
        "-w",
        "-o",
        jsonpath,
    ];
    let mut watch = kubectl::Watch::start(&args)?;
    watch.until(WAIT, |l| l == "late=1").await?;
    maps.patch(
        "late",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "2"}})),
    )
    .await?;
    watch.until(WAIT, |l| l == "late=2").await?;
    watch.stop().await;
    ns.delete().await
}

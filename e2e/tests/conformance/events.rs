//! Events: core/v1 and events.k8s.io/v1 are two views of one store, field
//! selectors on `involvedObject.*` work, and what kube-rs' `Recorder` writes
//! shows in `kubectl describe` and `kubectl get events`.

use super::builtins::deployment;
use crate::support::{TestNs, api_error, kubectl};
use anyhow::{Context, Result, ensure};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Event as CoreEvent;
use k8s_openapi::api::events::v1::Event as NewEvent;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

fn core_event(name: &str, about: &str, ns: &str) -> Result<CoreEvent> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name},
        "involvedObject": {"apiVersion": "v1", "kind": "ConfigMap", "name": about, "namespace": ns, "uid": format!("uid-{about}")},
        "reason": "Tested", "message": format!("about {about}"), "type": "Normal",
        "source": {"component": "legacy-writer"},
        "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:01:00Z", "count": 2
    }))?)
}

#[tokio::test]
async fn events_are_two_views_of_one_store() -> Result<()> {
    let ns = TestNs::create("conf-events").await?;
    let core: Api<CoreEvent> = ns.api();
    let new: Api<NewEvent> = ns.api();
    let pp = PostParams::default();

    core.create(&pp, &core_event("legacy-a", "cfg-a", &ns.name)?)
        .await?;
    core.create(&pp, &core_event("legacy-b", "cfg-b", &ns.name)?)
        .await?;
    let seen = new.get("legacy-a").await?;
    ensure!(seen.note.as_deref() == Some("about cfg-a"), "{seen:?}");
    ensure!(seen.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("cfg-a"));
    ensure!(seen.deprecated_source.and_then(|s| s.component).as_deref() == Some("legacy-writer"));
    ensure!(seen.deprecated_count == Some(2) && seen.deprecated_first_timestamp.is_some());

    let modern: NewEvent = serde_json::from_value(json!({
        "metadata": {"name": "modern"},
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "reportingController": "serin.dev/conformance", "reportingInstance": "test-0",
        "action": "Check", "reason": "Checked", "note": "about cfg-a too", "type": "Warning",
        "regarding": {"apiVersion": "v1", "kind": "ConfigMap", "name": "cfg-a", "namespace": ns.name, "uid": "uid-cfg-a"}
    }))?;
    new.create(&pp, &modern).await?;
    let seen = core.get("modern").await?;
    ensure!(
        seen.message.as_deref() == Some("about cfg-a too"),
        "{seen:?}"
    );
    ensure!(seen.involved_object.name.as_deref() == Some("cfg-a"));
    ensure!(seen.reporting_component.as_deref() == Some("serin.dev/conformance"));
    ensure!(seen.event_time.is_some() && seen.type_.as_deref() == Some("Warning"));

    let about_a = core
        .list(&ListParams::default().fields("involvedObject.name=cfg-a"))
        .await?;
    let mut names: Vec<String> = about_a.items.iter().map(ResourceExt::name_any).collect();
    names.sort();
    ensure!(names == ["legacy-a", "modern"], "{names:?}");
    let selector = format!(
        "involvedObject.kind=ConfigMap,involvedObject.uid=uid-cfg-b,involvedObject.namespace={}",
        ns.name
    );
    let about_b = core.list(&ListParams::default().fields(&selector)).await?;
    ensure!(about_b.items.len() == 1 && about_b.items[0].name_any() == "legacy-b");
    let regarding = new
        .list(&ListParams::default().fields("regarding.name=cfg-b"))
        .await?;
    ensure!(regarding.items.len() == 1, "{:?}", regarding.items);
    ensure!(
        core.list(&ListParams::default().fields("reason=Checked"))
            .await?
            .items
            .len()
            == 1
    );

    core.delete("modern", &DeleteParams::default()).await?;
    ensure!(
        api_error(new.get("modern").await)?.code == 404,
        "deleting one view deletes the event"
    );
    ns.delete().await
}

#[tokio::test]
async fn recorder_events_show_in_kubectl() -> Result<()> {
    let ns = TestNs::create("conf-recorder").await?;
    let n = ns.name.as_str();
    let deploys: Api<Deployment> = ns.api();
    let d = deploys
        .create(&PostParams::default(), &deployment("web", 1)?)
        .await?;
    let reporter = Reporter {
        controller: "conformance-recorder".into(),
        instance: Some("recorder-0".into()),
    };
    let recorder = Recorder::new(ns.client.clone(), reporter);
    let reference = d.object_ref(&());
    let synced = Event {
        type_: EventType::Normal,
        reason: "Synced".into(),
        note: Some("reconciled the web deployment".into()),
        action: "Reconcile".into(),
        secondary: None,
    };
    recorder.publish(&synced, &reference).await?;
    recorder.publish(&synced, &reference).await?; // a repeat: series.count = 2
    let broken = Event {
        type_: EventType::Warning,
        reason: "Broken".into(),
        note: Some("it broke".into()),
        ..synced
    };
    recorder.publish(&broken, &reference).await?;

    let new: Api<NewEvent> = ns.api();
    let list = new.list(&ListParams::default()).await?;
    let repeated = list
        .items
        .iter()
        .find(|e| e.reason.as_deref() == Some("Synced"))
        .context("Synced event")?;
    ensure!(
        repeated.series.as_ref().map(|s| s.count) == Some(2),
        "{repeated:?}"
    );

    let describe = kubectl::ok(&["-n", n, "describe", "deployment", "web"]).await?;
    let events = describe
        .split("Events:")
        .nth(1)
        .with_context(|| format!("no Events section:\n{describe}"))?;
    let line = |reason: &str| {
        events
            .lines()
            .find(|l| l.contains(reason))
            .map(str::to_string)
    };
    let synced_line = line("Synced").with_context(|| format!("no Synced event:\n{describe}"))?;
    for needle in [
        "Normal",
        "conformance-recorder",
        "reconciled the web deployment",
        "(x2 over",
    ] {
        ensure!(
            synced_line.contains(needle),
            "{needle:?} not in {synced_line:?}"
        );
    }
    let broken_line = line("Broken").with_context(|| format!("no Broken event:\n{describe}"))?;
    ensure!(
        broken_line.contains("Warning") && broken_line.contains("it broke"),
        "{broken_line}"
    );

    let get = kubectl::ok(&[
        "-n",
        n,
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=web",
    ])
    .await?;
    ensure!(
        kubectl::header(&get) == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
        "{get}"
    );
    let synced_row = get
        .lines()
        .find(|l| l.contains("Synced"))
        .with_context(|| format!("no Synced row:\n{get}"))?;
    ensure!(
        synced_row.contains("deployment/web") && synced_row.contains("Normal"),
        "{synced_row}"
    );
    ns.delete().await
}

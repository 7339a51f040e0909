//! A small kube-rs `Controller` against the server: it reconciles Widgets
//! into ConfigMaps with server-side apply (owner references, a status
//! condition through `/status`) and reports with a `Recorder`; the user side
//! is kubectl (`apply`, `wait --for=condition=Ready`, `patch`, `describe`,
//! `get`, `delete`).

use super::fixtures::{Widget, ensure_crds};
use crate::support::{TestNs, WAIT, eventually, gc_wait, kubectl};
use anyhow::{Context, Result, ensure};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const CONTROLLER: &str = "conformance-controller";

struct Ctx {
    client: Client,
    recorder: Recorder,
}

#[derive(Debug, thiserror::Error)]
enum ReconcileError {
    #[error("kube: {0}")]
    Kube(#[from] kube::Error),
    #[error("widget without namespace or owner reference")]
    Malformed,
}

async fn reconcile(widget: Arc<Widget>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    let ns = widget.namespace().ok_or(ReconcileError::Malformed)?;
    let name = widget.name_any();
    let owner = widget
        .controller_owner_ref(&())
        .ok_or(ReconcileError::Malformed)?;
    let child = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": format!("{name}-widget"), "ownerReferences": [owner]},
        "data": {"message": widget.spec.message}
    });
    let apply = PatchParams::apply(CONTROLLER).force();
    let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
    maps.patch(&format!("{name}-widget"), &apply, &Patch::Apply(&child))
        .await?;

    let generation = widget.metadata.generation;
    let status = json!({
        "apiVersion": "conformance.serin.dev/v1", "kind": "Widget",
        "status": {"observedGeneration": generation,
                   "conditions": [{"type": "Ready", "status": "True", "reason": "Reconciled"}]}
    });
    let widgets: Api<Widget> = Api::namespaced(ctx.client.clone(), &ns);
    widgets
        .patch_status(&name, &apply, &Patch::Apply(&status))
        .await?;

    let event = Event {
        type_: EventType::Normal,
        reason: "Reconciled".into(),
        note: Some(format!(
            "ConfigMap {name}-widget holds generation {}",
            generation.unwrap_or(0)
        )),
        action: "Reconcile".into(),
        secondary: None,
    };
    ctx.recorder
        .publish(&event, &widget.object_ref(&()))
        .await?;
    Ok(Action::await_change())
}

fn error_policy(_: Arc<Widget>, _: &ReconcileError, _: Arc<Ctx>) -> Action {
    Action::requeue(Duration::from_millis(500))
}

/// Runs the controller over one namespace until the returned sender fires.
fn start(client: Client, ns: &str) -> tokio::sync::oneshot::Sender<()> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let reporter = Reporter {
        controller: CONTROLLER.into(),
        instance: Some("conformance-0".into()),
    };
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        recorder: Recorder::new(client.clone(), reporter),
    });
    let widgets: Api<Widget> = Api::namespaced(client.clone(), ns);
    let maps: Api<ConfigMap> = Api::namespaced(client, ns);
    let controller = Controller::new(widgets, watcher::Config::default())
        .owns(maps, watcher::Config::default())
        .graceful_shutdown_on(async move {
            let _ = stopped.await;
        })
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()));
    tokio::spawn(controller);
    stop
}

const WIDGET: &str = "apiVersion: conformance.serin.dev/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  message: hello\n";

#[tokio::test]
async fn controller_reconciles_widgets() -> Result<()> {
    ensure_crds().await?;
    let ns = TestNs::create("conf-controller").await?;
    let n = ns.name.as_str();
    let stop = start(ns.client.clone(), n);
    let maps: Api<ConfigMap> = ns.api();

    let file = kubectl::manifest("widget", WIDGET)?;
    kubectl::ok(&["-n", n, "apply", "-f", file.to_str().context("path")?]).await?;
    let out = kubectl::ok(&[
        "-n",
        n,
        "wait",
        "--for=condition=Ready",
        "widget/w1",
        "--timeout=20s",
    ])
    .await?;
    ensure!(out.contains("condition met"), "{out}");
    let child = maps.get("w1-widget").await?;
    ensure!(
        child
            .data
            .as_ref()
            .and_then(|d| d.get("message"))
            .map(String::as_str)
            == Some("hello")
    );
    let widget: Api<Widget> = ns.api();
    let uid = widget.get("w1").await?.uid().context("uid")?;
    let owner = child
        .owner_references()
        .first()
        .cloned()
        .context("owner reference")?;
    ensure!(owner.uid == uid && owner.controller == Some(true) && owner.kind == "Widget");
    let managers: Vec<_> = child
        .managed_fields()
        .iter()
        .map(|m| (m.manager.clone(), m.operation.clone()))
        .collect();
    ensure!(
        managers.contains(&(Some(CONTROLLER.into()), Some("Apply".into()))),
        "{managers:?}"
    );

    let out = kubectl::ok(&[
        "-n",
        n,
        "patch",
        "widget",
        "w1",
        "--type=merge",
        "-p",
        r#"{"spec":{"message":"bye"}}"#,
    ])
    .await?;
    ensure!(
        out.contains("widget.conformance.serin.dev/w1 patched"),
        "{out}"
    );
    eventually("the child to follow the spec", WAIT, || async {
        let w = widget.get("w1").await?;
        let cm = maps.get("w1-widget").await?;
        let synced = w.status.and_then(|s| s.observed_generation) == Some(2);
        Ok(
            (synced && cm.data.and_then(|d| d.get("message").cloned()).as_deref() == Some("bye"))
                .then_some(()),
        )
    })
    .await?;

    // An owned object deleted behind the controller's back comes back.
    maps.delete("w1-widget", &DeleteParams::default()).await?;
    let old_uid = child.uid();
    eventually("the child to be recreated", WAIT, || async {
        Ok(maps
            .get_opt("w1-widget")
            .await?
            .filter(|cm| cm.uid() != old_uid)
            .map(|_| ()))
    })
    .await?;

    let describe = kubectl::ok(&["-n", n, "describe", "widget", "w1"]).await?;
    let events = describe
        .split("Events:")
        .nth(1)
        .with_context(|| format!("no events:\n{describe}"))?;
    ensure!(
        events.contains("Reconciled") && events.contains(CONTROLLER),
        "{describe}"
    );
    let get = kubectl::ok(&["-n", n, "get", "widgets"]).await?;
    ensure!(
        kubectl::header(&get) == ["NAME", "MESSAGE", "READY"],
        "{get}"
    );
    ensure!(
        kubectl::row(&get, "w1").is_some_and(|r| r[1..] == ["bye", "True"]),
        "{get}"
    );
    let short = kubectl::ok(&["-n", n, "get", "wdg", "-o", "name"]).await?;
    ensure!(short.trim() == "widget.conformance.serin.dev/w1", "{short}");

    kubectl::ok(&["-n", n, "delete", "widget", "w1"]).await?;
    // The owner is a custom resource: a real collector may need a discovery resync.
    eventually("the child to be garbage collected", gc_wait(), || async {
        match maps.get_opt("w1-widget").await? {
            None => Ok(Some(())),
            Some(cm) => {
                let owner = widget.get_opt("w1").await?.map(|w| w.metadata);
                Err(anyhow::anyhow!(
                    "still there: {:?}; widget now: {owner:?}",
                    cm.metadata
                ))
            }
        }
    })
    .await?;
    let _ = stop.send(());
    ns.delete().await
}

//! A panic inside one Canary's reconcile (here: its metrics query) is caught: that Canary
//! gets a `Reconciled=False` condition and a `ReconcilePanicked` event, while serin keeps
//! running and the other Canary is promoted.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serin::api::{Canary, Phase, conditions, reasons};

use super::{Env, Healthy, canary_for, phase, target_for, wait_for};
use futures::future::BoxFuture;
use serin::decide::Outcome;
use serin::metrics::{Endpoint, MetricsSource};
use std::sync::Arc;

/// Panics on the queries of the target named "boom"; healthy for the others.
struct PanicsOnBoom;

impl MetricsSource for PanicsOnBoom {
    fn query<'a>(&'a self, endpoint: &'a Endpoint, query: &'a str) -> BoxFuture<'a, Outcome> {
        assert!(!query.contains("\"boom\""), "injected panic for {query}");
        Healthy.query(endpoint, query)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_reconcile_is_reported_and_stops_nothing() {
    let env = Env::start().await;
    let (client, ns) = (env.client.clone(), env.ns.clone());
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let canaries: Api<Canary> = Api::namespaced(client.clone(), &ns);
    for name in ["podinfo", "boom"] {
        deployments
            .create(&PostParams::default(), &target_for(name, "app:1"))
            .await
            .expect("create target");
        canaries
            .create(&PostParams::default(), &canary_for(name))
            .await
            .expect("create canary");
    }
    let running = env.run_controller(Arc::new(PanicsOnBoom));
    for name in ["podinfo", "boom"] {
        wait_for("both Canaries to initialise", || async {
            let c = canaries.get(name).await.ok()?;
            (phase(&c) == Phase::Initialized).then_some(())
        })
        .await;
        let new_revision = serde_json::json!({"spec": {"template": {"spec": {
            "containers": [{"name": "app", "image": "app:2"}]}}}});
        deployments
            .patch(name, &PatchParams::default(), &Patch::Merge(new_revision))
            .await
            .expect("new revision");
    }

    // The first check of "boom" panics: reported on that Canary, retried with backoff.
    let condition = wait_for("the Reconciled=False condition", || async {
        let c = canaries.get("boom").await.ok()?;
        c.status?
            .conditions
            .into_iter()
            .find(|c| c.type_ == conditions::RECONCILED && c.status == conditions::FALSE)
    })
    .await;
    assert!(
        condition.message.contains("injected panic"),
        "{}",
        condition.message
    );
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    wait_for("the ReconcilePanicked event", || async {
        events
            .list(&Default::default())
            .await
            .ok()?
            .items
            .into_iter()
            .find(|e| {
                e.reason.as_deref() == Some(reasons::RECONCILE_PANICKED)
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("boom")
            })
    })
    .await;

    // The other Canary is unaffected, and serin is still running.
    wait_for("podinfo to be promoted", || async {
        let c = canaries.get("podinfo").await.ok()?;
        (phase(&c) == Phase::Succeeded).then_some(())
    })
    .await;
    assert!(!running.task.is_finished(), "serin kept running");
    let boom = canaries.get("boom").await.expect("get boom");
    assert_eq!(phase(&boom), Phase::Progressing, "boom holds its step");

    running.stop().await;
    env.stop().await;
}

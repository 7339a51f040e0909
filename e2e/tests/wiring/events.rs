//! Lost events (issue 9, defect 8): serin stops between writing a transition's status and
//! publishing its events. Here the events API refuses every create while the transition
//! is recorded, then serin "restarts" (a new controller context, with an empty memory of
//! what it published): the next reconcile publishes each recorded event, once; a second
//! restart publishes nothing twice, and a reconcile with nothing new writes no event.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serin::api::{Canary, Phase};
use serin::controller::events;

use super::{
    Env, caches_caught_up, canary, count, phase, reconcile, reconcile_until, target, weight, writes,
};

/// The Canary's events by name, with the reason and note of each.
async fn published(env: &Env, c: &Canary) -> BTreeMap<String, (String, String)> {
    let api: Api<Event> = Api::namespaced(env.client.clone(), &env.ns);
    let list = api.list(&Default::default()).await.expect("list events");
    list.items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.uid.as_deref()) == c.uid().as_deref())
        .map(|e| {
            let name = e.name_any();
            (
                name,
                (e.reason.unwrap_or_default(), e.note.unwrap_or_default()),
            )
        })
        .collect()
}

/// Every event the status says was recorded exists under its name, and nothing else.
async fn exactly_once(env: &Env, canaries: &Api<Canary>) -> Canary {
    let c = canaries.get("podinfo").await.expect("get canary");
    let log = c.status.clone().unwrap_or_default().event_log;
    let uid = c.uid().unwrap_or_default();
    let expected: Vec<String> = (1..=log.recorded)
        .map(|n| events::name("podinfo", &uid, n))
        .collect();
    let out = published(env, &c).await;
    let names: Vec<String> = out.keys().cloned().collect();
    let mut sorted = expected.clone();
    sorted.sort();
    assert_eq!(names, sorted, "one event per recorded transition: {out:?}");
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_refused_after_its_transition_is_published_once_after_a_restart() {
    let env = Env::start().await;
    let (client, ns) = (env.client.clone(), env.ns.clone());
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let canaries: Api<Canary> = Api::namespaced(client.clone(), &ns);
    deployments
        .create(&PostParams::default(), &target("podinfo:1"))
        .await
        .expect("create target");
    canaries
        .create(&PostParams::default(), &canary())
        .await
        .expect("create canary");
    let ctx = env.library_ctx().await;
    reconcile_until("initialisation", &canaries, &ctx, |c| {
        phase(c) == Phase::Initialized
    })
    .await;
    caches_caught_up(&ctx, &deployments, &ns).await;
    let before = exactly_once(&env, &canaries).await;
    let recorded_before = before.status.unwrap_or_default().event_log.recorded;
    assert!(recorded_before >= 1, "initialisation has its event");

    // The events API refuses every create (serin's only creates) while a new revision
    // starts its analysis: the transitions are recorded, their events are not out.
    let faults = env.api.faults();
    faults.set_error_rate("create", 1.0);
    deployments
        .patch(
            "podinfo",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"template": {"spec": {
                "containers": [{"name": "app", "image": "podinfo:2"}]}}}})),
        )
        .await
        .expect("new revision");
    let c = reconcile_until("the first step", &canaries, &ctx, |c| weight(c) == 50).await;
    let log = c.status.clone().unwrap_or_default().event_log;
    assert!(log.recorded > recorded_before, "{log:?}");
    let missing: Vec<&str> = log.unpublished.iter().map(|e| e.message.as_str()).collect();
    assert!(
        missing.iter().any(|m| m.contains("New revision detected")),
        "{missing:?}"
    );
    let out = published(&env, &c).await;
    assert_eq!(
        out.len() as i64,
        recorded_before,
        "no event got through: {out:?}"
    );

    // serin restarts (the memory of what it published is gone) and the API is healthy:
    // the next reconcile publishes what the status lists, once.
    faults.clear();
    drop(ctx);
    let ctx = env.library_ctx().await;
    reconcile(&canaries, &ctx).await;
    let c = exactly_once(&env, &canaries).await;
    let out = published(&env, &c).await;
    assert!(
        out.values()
            .any(|(_, note)| note.contains("New revision detected")),
        "{out:?}"
    );

    // Another restart: the events still listed answer AlreadyExists, none is doubled.
    drop(ctx);
    let ctx = env.library_ctx().await;
    reconcile(&canaries, &ctx).await;
    exactly_once(&env, &canaries).await;

    // Steady state: what this process published costs nothing more.
    let counters = env.api.counters();
    counters.reset();
    reconcile(&canaries, &ctx).await;
    let idle = writes(&counters);
    assert_eq!(count(&idle, "create", "events"), 0, "{idle:?}");

    // The run goes on; every transition of it has exactly one event.
    reconcile_until("promotion", &canaries, &ctx, |c| {
        phase(c) == Phase::Succeeded
    })
    .await;
    exactly_once(&env, &canaries).await;
    env.stop().await;
}

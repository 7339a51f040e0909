//! The write budget of the whole controller (issue 16), counted by the API server: with
//! no other writer, initialisation writes each managed object once, every status write
//! of a rollout records a transition, and serin never meets a 409 Conflict of its own
//! making. And a Deployment applied together with its Canary (one `kubectl apply -f`,
//! as GitOps tools do) gives no spurious `TargetNotFound` Warning, while a Canary whose
//! target really is missing still gets one.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serin::api::{Canary, Phase, reasons};
use serin_sandbox::apiserver::Counters;

use super::{Env, Healthy, canary, canary_for, count, phase, target, target_for, wait_for, writes};

/// Canaries rolled out at once: enough for their reconciles to interleave.
const CANARIES: usize = 4;

fn name(i: usize) -> String {
    format!("app-{i}")
}

/// The 409 answers counted since the last reset, by resource.
fn conflicts(counters: &Counters) -> BTreeMap<String, u64> {
    counters
        .snapshot()
        .into_iter()
        .filter(|((verb, _), _)| verb == "conflict")
        .map(|((_, resource), n)| (resource, n))
        .collect()
}

async fn all_in(canaries: &Api<Canary>, want: Phase, what: &str) {
    wait_for(what, || async {
        let list = canaries.list(&Default::default()).await.ok()?;
        let done = list.items.iter().filter(|c| phase(c) == want).count();
        (done == CANARIES).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rollout_without_other_writers_writes_each_object_once_and_meets_no_conflict() {
    let env = Env::start().await;
    let (client, ns) = (env.client.clone(), env.ns.clone());
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let canaries: Api<Canary> = Api::namespaced(client.clone(), &ns);
    let running = env.run_controller(Arc::new(Healthy));
    let counters = env.api.counters();
    counters.reset();
    for i in 0..CANARIES {
        deployments
            .create(&PostParams::default(), &target_for(&name(i), "app:1"))
            .await
            .expect("create target");
        canaries
            .create(&PostParams::default(), &canary_for(&name(i)))
            .await
            .expect("create canary");
    }

    // Initialisation: the primary, three Services, two DestinationRules and one
    // VirtualService, each written once; the target scaled to zero once.
    all_in(&canaries, Phase::Initialized, "every Canary to initialise").await;
    wait_for("every target to scale to zero", || async {
        let list = deployments.list(&Default::default()).await.ok()?;
        let scaled = list
            .items
            .iter()
            .filter(|d| {
                !d.metadata
                    .name
                    .as_deref()
                    .unwrap_or("")
                    .ends_with("-primary")
            })
            .all(|d| d.spec.as_ref().and_then(|s| s.replicas) == Some(0));
        scaled.then_some(())
    })
    .await;
    let init = writes(&counters);
    let n = CANARIES as u64;
    for (verb, resource, once) in [
        ("patch", "deployments", 1),
        ("patch", "services", 3),
        ("patch", "destinationrules", 2),
        ("patch", "virtualservices", 1),
        ("patch", "deployments/scale", 1),
    ] {
        assert_eq!(
            count(&init, verb, resource),
            once * n,
            "{verb} {resource}: each object once per Canary: {init:?}"
        );
    }
    assert!(
        count(&init, "update", "canaries/status") <= 2 * n,
        "Initializing, then Initialized: {init:?}"
    );
    assert_eq!(conflicts(&counters), BTreeMap::new(), "initialisation");

    // A new revision for every Canary at once.
    counters.reset();
    for i in 0..CANARIES {
        let new_revision = serde_json::json!({"spec": {"template": {"spec": {
            "containers": [{"name": "app", "image": "app:2"}]}}}});
        deployments
            .patch(
                &name(i),
                &PatchParams::default(),
                &Patch::Merge(new_revision),
            )
            .await
            .expect("new revision");
    }
    all_in(&canaries, Phase::Succeeded, "every Canary to be promoted").await;
    let rollout = writes(&counters);
    let statuses = count(&rollout, "update", "canaries/status");
    let events = count(&rollout, "create", "events");
    assert!(statuses >= 4 * n, "a rollout has transitions: {rollout:?}");
    assert!(
        statuses <= events,
        "every status write of a rollout records a transition (and its event): {rollout:?}"
    );
    assert_eq!(conflicts(&counters), BTreeMap::new(), "the rollout");

    running.stop().await;
    env.stop().await;
}

/// A reconcile handed the Canary as it was before serin's own last status write (a cache
/// that has not caught up) waits for the cache: it neither decides on the old status nor
/// meets a 409 writing against its old resourceVersion.
#[tokio::test(flavor = "multi_thread")]
async fn a_reconcile_on_a_canary_older_than_its_own_status_write_waits_for_the_cache() {
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
    wait_for("the target in the cache", || async {
        let key = kube::runtime::reflector::ObjectRef::new("podinfo").within(&ns);
        ctx.deployments.get(&key).map(|_| ())
    })
    .await;

    let before = canaries.get("podinfo").await.expect("get canary");
    serin::controller::reconcile(&before, &ctx)
        .await
        .expect("first reconcile");
    let written = canaries.get("podinfo").await.expect("get canary");
    assert_eq!(phase(&written), Phase::Initializing, "the first decision");

    let counters = env.api.counters();
    counters.reset();
    serin::controller::reconcile(&before, &ctx)
        .await
        .expect("a reconcile on the old Canary is not an error");
    assert_eq!(conflicts(&counters), BTreeMap::new());
    let stale = writes(&counters);
    assert_eq!(
        count(&stale, "update", "canaries/status"),
        0,
        "no status written against the old version: {stale:?}"
    );
    // The fresh Canary decides again.
    serin::controller::reconcile(&written, &ctx)
        .await
        .expect("reconcile on the fresh Canary");
    env.stop().await;
}

/// The Warnings about `canary` with `reason`.
async fn warnings(events: &Api<Event>, canary: &str, reason: &str) -> usize {
    let list = events.list(&Default::default()).await.expect("list events");
    list.items
        .iter()
        .filter(|e| {
            e.type_.as_deref() == Some("Warning")
                && e.reason.as_deref() == Some(reason)
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(canary)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_target_applied_with_its_canary_gets_no_target_not_found_warning() {
    let env = Env::start().await;
    let (client, ns) = (env.client.clone(), env.ns.clone());
    let canaries: Api<Canary> = Api::namespaced(client.clone(), &ns);
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    let running = env.run_controller(Arc::new(Healthy));
    let dir = super::support::workdir().join(&ns);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, env.api.kubeconfig_yaml()).expect("kubeconfig");
    // The Canary first, as a GitOps tool may order them: its watch event comes first.
    let mut manifest = String::new();
    for doc in [
        serde_json::to_string(&canary_for("podinfo")).expect("canary"),
        serde_json::to_string(&target_for("podinfo", "app:1")).expect("deployment"),
    ] {
        // JSON is YAML: one document each.
        manifest.push_str("---\n");
        manifest.push_str(&doc);
        manifest.push('\n');
    }
    let file = dir.join("podinfo.yaml");
    std::fs::write(&file, manifest).expect("manifest");
    let path = file.to_string_lossy().into_owned();
    let kubectl = |args: Vec<String>| {
        let kubeconfig = kubeconfig.clone();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            super::support::kubectl::run_at(&kubeconfig, &args)
                .await
                .expect("kubectl")
        }
    };
    // Discovery first, so that the apply below makes only its own requests.
    kubectl(vec![
        "get".into(),
        "deployments".into(),
        "-n".into(),
        ns.clone(),
    ])
    .await;
    // Each request of the apply takes a while, as on a busy API server: serin sees the
    // Canary some hundreds of milliseconds before the Deployment, every time.
    env.api
        .faults()
        .set_latency(std::time::Duration::from_millis(300));
    let out = kubectl(vec![
        "apply".into(),
        "-n".into(),
        ns.clone(),
        "-f".into(),
        path,
    ])
    .await;
    env.api.faults().clear();
    assert!(
        out.status.success(),
        "kubectl apply: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for("the Canary to initialise", || async {
        let c = canaries.get("podinfo").await.ok()?;
        (phase(&c) == Phase::Initialized).then_some(())
    })
    .await;
    assert_eq!(
        warnings(&events, "podinfo", reasons::TARGET_NOT_FOUND).await,
        0,
        "the target arrived with its Canary"
    );

    // A Canary whose target is not coming is reported once the grace is over.
    canaries
        .create(&PostParams::default(), &canary_for("orphan"))
        .await
        .expect("create canary");
    wait_for("the TargetNotFound warning", || async {
        (warnings(&events, "orphan", reasons::TARGET_NOT_FOUND).await == 1).then_some(())
    })
    .await;

    running.stop().await;
    env.stop().await;
}

/// The apex Service and the routing objects exist before the status says `Initialized`:
/// whoever waits for it (`kubectl wait`, a test, a pipeline) finds the traffic set up, as
/// with Flagger. The first watch event that shows `Initialized` is compared, by the API
/// server's resourceVersion order, with the creation of each object.
#[tokio::test(flavor = "multi_thread")]
async fn the_routing_exists_before_the_status_says_initialized() {
    use futures::{StreamExt, TryStreamExt};
    use k8s_openapi::api::core::v1::Service;
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
    use kube::runtime::{WatchStreamExt, watcher};

    let env = Env::start().await;
    let (client, ns) = (env.client.clone(), env.ns.clone());
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let canaries: Api<Canary> = Api::namespaced(client.clone(), &ns);
    let running = env.run_controller(Arc::new(Healthy));
    let initialized = tokio::spawn({
        let canaries = canaries.clone();
        async move {
            let mut stream = watcher(canaries, watcher::Config::default())
                .applied_objects()
                .try_filter(|c| std::future::ready(phase(c) == Phase::Initialized))
                .boxed();
            tokio::time::timeout(super::WITHIN, stream.next()).await
        }
    });
    deployments
        .create(&PostParams::default(), &target_for("app", "app:1"))
        .await
        .expect("create target");
    canaries
        .create(&PostParams::default(), &canary_for("app"))
        .await
        .expect("create canary");
    let canary = initialized
        .await
        .expect("watch task")
        .expect("Initialized within the deadline")
        .expect("a watch event")
        .expect("the watch");
    let rv = |rv: Option<&String>| super::support::rv_number(rv).expect("numeric resourceVersion");
    let status_rv = rv(canary.metadata.resource_version.as_ref());
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    let apex = services.get("app").await.expect("the apex Service");
    assert!(rv(apex.metadata.resource_version.as_ref()) < status_rv);
    for (kind, plural, name) in [
        ("VirtualService", "virtualservices", "app"),
        ("DestinationRule", "destinationrules", "app-primary"),
        ("DestinationRule", "destinationrules", "app-canary"),
    ] {
        let gvk = GroupVersionKind::gvk("networking.istio.io", "v1", kind);
        let ar = ApiResource::from_gvk_with_plural(&gvk, plural);
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ar);
        let object = api.get(name).await.expect("the routing object");
        assert!(
            rv(object.metadata.resource_version.as_ref()) < status_rv,
            "{kind} {name} was written after the status said Initialized"
        );
    }
    running.stop().await;
    env.stop().await;
}

//! The wiring test, the middle of the test pyramid: serin's reconcile, called as a library
//! function, against the sandbox's in-process API server, with a fake metrics source.
//! It asserts through the API server's request counters that
//! - a reconcile with nothing changed writes nothing, and
//! - one analysis step writes no more than the status, the routing object and one event;
//!
//! and, running the whole controller, that a panicking reconcile ([`panics`]) and an
//! undecodable Canary are each reported and block nothing, and that initialisation and
//! a rollout keep the write budget with no 409 Conflict ([`writes`]).
//!
//! The kubelet stand-in makes Deployments ready; nothing else of the sandbox runs.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, ResourceExt};
use serin::api::{Canary, Phase};
use serin::controller::{self, Config, Ctx};
use serin::decide::Outcome;
use serin::metrics::{Endpoint, MetricsSource};
use serin::telemetry::Telemetry;
use serin_sandbox::apiserver::{ApiServer, ApiServerConfig, Counters};
use serin_sandbox::kubelet::{self, KubeletConfig};
use tokio::time::Instant;

#[path = "wiring/events.rs"]
mod events;
#[path = "wiring/panics.rs"]
mod panics;
#[path = "support/mod.rs"]
mod support;
#[path = "wiring/writes.rs"]
mod writes;

/// Long enough for the kubelet stand-in and the watches, short enough to fail fast.
const WITHIN: Duration = Duration::from_secs(30);
/// Pause between two looks at a condition.
const POLL: Duration = Duration::from_millis(50);
const WRITES: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];

/// Every query answers a healthy success rate.
struct Healthy;

impl MetricsSource for Healthy {
    fn query<'a>(&'a self, _: &'a Endpoint, _: &'a str) -> BoxFuture<'a, Outcome> {
        Box::pin(async { Outcome::Value(100.0) })
    }
}

/// Polls `check` until it returns Some, failing the test after [`WITHIN`].
async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WITHIN;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(POLL).await;
    }
}

/// Writes counted since the last reset, by (verb, resource).
fn writes(counters: &Counters) -> BTreeMap<(String, String), u64> {
    counters
        .snapshot()
        .into_iter()
        .filter(|((verb, _), _)| WRITES.contains(&verb.as_str()))
        .collect()
}

fn count(w: &BTreeMap<(String, String), u64>, verb: &str, resource: &str) -> u64 {
    w.get(&(verb.to_string(), resource.to_string()))
        .copied()
        .unwrap_or(0)
}

async fn client(api: &ApiServer) -> Client {
    let kc = Kubeconfig::from_yaml(&api.kubeconfig_yaml()).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("client config");
    Client::try_from(config).expect("client")
}

async fn install_crds(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in serin::api::crds() {
        crds.create(&PostParams::default(), &crd)
            .await
            .expect("create CRD");
    }
    serin_sandbox::mesh::install_istio_crds(client.clone())
        .await
        .expect("Istio CRDs");
    let canaries: Api<Canary> = Api::all(client.clone());
    wait_for("the Canary CRD to serve", || async {
        canaries.list(&Default::default()).await.ok()
    })
    .await;
}

/// A one-container Deployment named `name`, selecting its pods by `app: name`.
fn target_for(name: &str, image: &str) -> Deployment {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]}
            }
        }
    }))
    .expect("deployment")
}

fn target(image: &str) -> Deployment {
    target_for("podinfo", image)
}

fn canary() -> Canary {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "serin.dev/v1beta1", "kind": "Canary",
        "metadata": {"name": "podinfo"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898},
            "analysis": {"interval": "1s", "threshold": 1, "stepWeight": 50, "metrics": [
                {"name": "request-success-rate", "interval": "1m", "thresholdRange": {"min": 99}}
            ]}
        }
    }))
    .expect("canary")
}

/// [`canary`] under another name, targeting the Deployment of that name.
fn canary_for(name: &str) -> Canary {
    let mut c = canary();
    c.metadata.name = Some(name.into());
    c.spec.target_ref.name = name.into();
    c
}

/// Reconciles the stored Canary once.
async fn reconcile(canaries: &Api<Canary>, ctx: &Ctx) -> Canary {
    let c = canaries.get("podinfo").await.expect("get canary");
    controller::reconcile(&c, ctx).await.expect("reconcile");
    c
}

/// Reconciles until the stored status satisfies `done`.
async fn reconcile_until(
    what: &str,
    canaries: &Api<Canary>,
    ctx: &Ctx,
    done: impl Fn(&Canary) -> bool,
) -> Canary {
    wait_for(what, || async {
        reconcile(canaries, ctx).await;
        let c = canaries.get("podinfo").await.expect("get canary");
        done(&c).then_some(c)
    })
    .await
}

/// Waits until the controller's caches hold the API server's current Deployments, so
/// the reconcile under test sees what the API server has.
async fn caches_caught_up(ctx: &Ctx, deployments: &Api<Deployment>, ns: &str) {
    for name in ["podinfo", "podinfo-primary"] {
        wait_for("the caches to catch up", || async {
            let live = deployments.get(name).await.ok()?;
            let cached = ctx.deployments.get(&ObjectRef::new(name).within(ns))?;
            (cached.resource_version() == live.resource_version()).then_some(())
        })
        .await;
    }
}

fn weight(c: &Canary) -> i32 {
    c.status.as_ref().map(|s| s.canary_weight).unwrap_or(0)
}

fn phase(c: &Canary) -> Phase {
    c.status.as_ref().map(|s| s.phase()).unwrap_or_default()
}

/// The API server, a namespace of its own and the kubelet stand-in.
struct Env {
    api: ApiServer,
    client: Client,
    ns: String,
    stop: tokio::sync::oneshot::Sender<()>,
    kubelet: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Env {
    async fn start() -> Env {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let api = ApiServer::start(ApiServerConfig::default())
            .await
            .expect("API server");
        let client = client(&api).await;
        install_crds(&client).await;
        let ns = format!("wiring-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let namespace: Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).expect("ns");
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .expect("create namespace");
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
        Env {
            api,
            client,
            ns,
            stop,
            kubelet,
        }
    }

    fn config(&self) -> Config {
        Config {
            mesh_provider: "istio".into(),
            routers: serin::decide::Provider::ALL.to_vec(),
            metrics_server: "http://prometheus.invalid:9090".into(),
            min_interval: Duration::from_secs(1),
            namespace: Some(self.ns.clone()),
            hooks: serin::hooks::HookClients::new(Vec::new()).expect("webhook clients"),
            alerts: serin::alerts::AlertSender::new(
                serin::hooks::build_client(&[], false).expect("alert client"),
                serin::alerts::SendPolicy::default(),
            ),
            event_webhook: None,
            global_alerts: Vec::new(),
            cluster_name: None,
        }
    }

    /// The controller's context as the library builds it: its watches running and its
    /// caches synced, nothing in memory, nothing reconciling until the test calls
    /// [`controller::reconcile`]. A second one is serin after a restart.
    async fn library_ctx(&self) -> Arc<Ctx> {
        // Only Istio's CRDs are installed on this private server: watch its kinds alone, as
        // `serin run` does for the routers whose kinds the server serves.
        let kinds = serin::router::kinds_of(&[serin::decide::Provider::Istio]);
        let (ctx, watches) = controller::start_with(
            self.client.clone(),
            self.config(),
            Arc::new(Telemetry::new("istio")),
            Arc::new(Healthy),
            kinds,
        );
        watches.spawn(&ctx);
        wait_for("the caches to sync", || async {
            ctx.synced.load(Ordering::SeqCst).then_some(())
        })
        .await;
        ctx
    }

    /// Runs the whole controller, as `serin run` does, until [`Running::stop`].
    fn run_controller(&self, metrics: Arc<dyn MetricsSource>) -> Running {
        let telemetry = Arc::new(Telemetry::new("istio"));
        let ready = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(controller::run(
            self.client.clone(),
            self.config(),
            telemetry.clone(),
            metrics,
            ready.clone(),
            async move {
                let _ = stopped.await;
            },
        ));
        Running {
            telemetry,
            ready,
            stop,
            task,
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.kubelet.await;
        self.api.shutdown().await;
    }
}

/// The whole controller, running: its metrics, its readiness and its task.
struct Running {
    telemetry: Arc<Telemetry>,
    ready: Arc<AtomicBool>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops the controller and waits for it to finish.
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reconcile_writes_only_what_changed() {
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

    // Initialisation: primary, Services, routing objects, the target scaled to zero.
    reconcile_until("initialisation", &canaries, &ctx, |c| {
        phase(c) == Phase::Initialized
    })
    .await;
    wait_for("the target to scale to zero", || async {
        let d = deployments.get("podinfo").await.ok()?;
        (d.spec?.replicas == Some(0)).then_some(())
    })
    .await;
    caches_caught_up(&ctx, &deployments, &ns).await;
    reconcile(&canaries, &ctx).await;
    caches_caught_up(&ctx, &deployments, &ns).await;

    let counters = env.api.counters();
    counters.reset();
    reconcile(&canaries, &ctx).await;
    let idle = writes(&counters);
    assert!(
        idle.is_empty(),
        "a reconcile with nothing changed wrote {idle:?}"
    );

    // A new revision: analysis starts at the first weight once the canary is ready.
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
    let started = c
        .status
        .as_ref()
        .and_then(|s| s.step_started_at)
        .expect("step start");
    // The next step is due one interval after the first; let the writes of the first
    // settle in the caches meanwhile.
    wait_for("the next step to be due", || async {
        (chrono::Utc::now() >= started + chrono::Duration::seconds(1)).then_some(())
    })
    .await;
    caches_caught_up(&ctx, &deployments, &ns).await;

    counters.reset();
    let before = reconcile(&canaries, &ctx).await;
    let after = canaries.get("podinfo").await.expect("get canary");
    assert_eq!(weight(&before), 50);
    assert_eq!(weight(&after), 100, "the step advanced");
    let step = writes(&counters);
    let events = count(&step, "create", "events") + count(&step, "patch", "events");
    assert_eq!(count(&step, "update", "canaries/status"), 1, "{step:?}");
    assert!(count(&step, "patch", "virtualservices") <= 1, "{step:?}");
    assert!(events <= 1, "{step:?}");
    let total: u64 = step.values().sum();
    assert!(
        total <= 3,
        "one step writes the status, the routing object and one event: {step:?}"
    );

    env.stop().await;
}

/// A stored Canary serin cannot decode (a value an older server accepted) is reported
/// with an event and a metric and skipped; the other Canaries and the start go on.
#[tokio::test(flavor = "multi_thread")]
async fn an_undecodable_canary_is_reported_and_blocks_nothing() {
    let env = Env::start().await;
    let (client, ns) = (env.client.clone(), env.ns.clone());
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let canaries: Api<Canary> = Api::namespaced(client.clone(), &ns);
    // Written as raw JSON: the Rust type cannot even hold this value.
    let raw: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ns, &ApiResource::erase::<Canary>(&()));
    let mut bad = serde_json::to_value(canary()).expect("json");
    bad["metadata"]["name"] = "broken".into();
    bad["spec"]["progressDeadlineSeconds"] = 2_147_483_648_i64.into();
    let bad: DynamicObject = serde_json::from_value(bad).expect("dynamic object");
    // An older CRD without the bound stored it; today's CRD refuses it, so the bound is
    // lifted for the write and put back, as an upgrade of the CRD over old objects does.
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let set_bound = |bound: Option<i64>| {
        let crds = crds.clone();
        async move {
            let crd = crds
                .get("canaries.serin.dev")
                .await
                .expect("get the Canary CRD");
            let mut crd = serde_json::to_value(crd).expect("CRD as JSON");
            let field = &mut crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
                ["spec"]["properties"]["progressDeadlineSeconds"];
            match bound {
                Some(max) => field["maximum"] = max.into(),
                None => {
                    field.as_object_mut().map(|f| f.remove("maximum"));
                }
            }
            let crd: CustomResourceDefinition = serde_json::from_value(crd).expect("CRD");
            crds.replace("canaries.serin.dev", &PostParams::default(), &crd)
                .await
                .expect("replace the Canary CRD");
        }
    };
    set_bound(None).await;
    raw.create(&PostParams::default(), &bad)
        .await
        .expect("the API server stores what an old server accepted");
    set_bound(Some(2_147_483_647)).await;
    deployments
        .create(&PostParams::default(), &target("podinfo:1"))
        .await
        .expect("create target");
    canaries
        .create(&PostParams::default(), &canary())
        .await
        .expect("create canary");
    let running = env.run_controller(Arc::new(Healthy));
    wait_for("the good Canary to initialise", || async {
        let c = canaries.get("podinfo").await.ok()?;
        (phase(&c) == Phase::Initialized).then_some(())
    })
    .await;
    assert!(
        running.ready.load(Ordering::SeqCst),
        "serin started despite the broken Canary"
    );
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    let event = wait_for("the InvalidObject event", || async {
        events
            .list(&Default::default())
            .await
            .ok()?
            .items
            .into_iter()
            .find(|e| {
                e.reason.as_deref() == Some(serin::api::reasons::INVALID_OBJECT)
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("broken")
            })
    })
    .await;
    let note = event.note.unwrap_or_default();
    assert!(
        note.contains("progressDeadlineSeconds") || note.contains("2147483648"),
        "{note}"
    );
    let counted = running
        .telemetry
        .encode()
        .lines()
        .find_map(|l| l.strip_prefix("serin_invalid_objects_total "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert!(counted >= Some(1.0), "the metric counts it: {counted:?}");
    running.stop().await;
    env.stop().await;
}

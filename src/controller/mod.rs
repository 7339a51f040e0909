//! The controller: watches, caches and the reconcile pipeline
//! observe (caches) -> decide (pure) -> record (status, events) -> converge (objects).
//!
//! Reconcile is woken by watch events on Canaries, their target Deployments and the
//! objects they own, and by a requeue at the exact time the next step or deadline is due.
//! Nothing polls.

mod converge;
mod finalize;
pub mod observe;
mod pending;
mod record;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, Service};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tracing::{Instrument, info, info_span, warn};

use crate::api::{Canary, MetricTemplate};
use crate::checks::{self, Prometheus};
use crate::decide::{self, Identity, Next, Observation, Settings};
use crate::telemetry::Telemetry;

/// What `serin run` was told.
#[derive(Debug, Clone)]
pub struct Config {
    pub mesh_provider: String,
    pub metrics_server: String,
    /// Floor of analysis intervals (Flagger: 10s).
    pub min_interval: Duration,
    /// Watch one namespace, or all when None.
    pub namespace: Option<String>,
}

/// Shared state of every reconcile: the client, the caches, the recorder.
pub struct Ctx {
    pub client: Client,
    /// True once every watch cache has synced; reconciles wait for it, since a decision
    /// made on a half-filled cache would take a missing object for a deleted one.
    pub synced: Arc<std::sync::atomic::AtomicBool>,
    /// Writes in flight, so a reconcile on a lagging cache does not repeat them.
    pub pending: pending::Pending,
    pub config: Config,
    pub recorder: Recorder,
    pub prometheus: Prometheus,
    pub telemetry: Arc<Telemetry>,
    pub deployments: Store<Deployment>,
    pub services: Store<Service>,
    pub virtual_services: Store<DynamicObject>,
    pub destination_rules: Store<DynamicObject>,
    pub templates: Store<MetricTemplate>,
    pub virtual_service: ApiResource,
    pub destination_rule: ApiResource,
}

/// Errors of one reconcile; all are transient (the spec's problems are conditions).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[source] kube::Error),
}

impl Error {
    /// Fixed category, used as metric label.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(s)) if s.code == 409 => "conflict",
            Error::Kube(_) => "kube_api",
        }
    }
}

fn api<K>(client: &Client, ns: &Option<String>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

fn dyn_api(client: &Client, ns: &Option<String>, ar: &ApiResource) -> Api<DynamicObject> {
    match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
        None => Api::all_with(client.clone(), ar),
    }
}

/// Runs the controller until `shutdown` resolves. `ready` is set once every cache has
/// synced.
pub async fn run(
    client: Client,
    config: Config,
    telemetry: Arc<Telemetry>,
    ready: Arc<std::sync::atomic::AtomicBool>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let ns = config.namespace.clone();
    let wc = || watcher::Config::default().any_semantic();
    let vs_ar = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "networking.istio.io",
        "v1",
        "VirtualService",
    ));
    let dr_ar = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "networking.istio.io",
        "v1",
        "DestinationRule",
    ));

    let (deployments, dep_writer) = reflector::store();
    let dep_stream =
        reflector::reflector(dep_writer, watcher(api::<Deployment>(&client, &ns), wc()))
            .default_backoff()
            .touched_objects();
    let (services, svc_writer) = reflector::store();
    let svc_stream = reflector::reflector(svc_writer, watcher(api::<Service>(&client, &ns), wc()))
        .default_backoff()
        .touched_objects();
    let vs_writer = reflector::store::Writer::new(vs_ar.clone());
    let virtual_services = vs_writer.as_reader();
    let vs_stream = reflector::reflector(vs_writer, watcher(dyn_api(&client, &ns, &vs_ar), wc()))
        .default_backoff()
        .touched_objects();
    let dr_writer = reflector::store::Writer::new(dr_ar.clone());
    let destination_rules = dr_writer.as_reader();
    let dr_stream = reflector::reflector(dr_writer, watcher(dyn_api(&client, &ns, &dr_ar), wc()))
        .default_backoff()
        .touched_objects();
    let (templates, tpl_writer) = reflector::store();
    let tpl_stream = reflector::reflector(
        tpl_writer,
        watcher(api::<MetricTemplate>(&client, &ns), wc()),
    )
    .default_backoff()
    .touched_objects()
    .filter_map(|_| async { None::<Result<MetricTemplate, watcher::Error>> });

    let controller = Controller::new(api::<Canary>(&client, &ns), wc());
    let canaries = controller.store();
    let by_target = canaries.clone();
    let synced = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        synced: synced.clone(),
        pending: pending::Pending::default(),
        recorder: Recorder::new(client.clone(), Reporter::from("serin")),
        prometheus: Prometheus::default(),
        telemetry: telemetry.clone(),
        deployments: deployments.clone(),
        services: services.clone(),
        virtual_services: virtual_services.clone(),
        destination_rules: destination_rules.clone(),
        templates: templates.clone(),
        virtual_service: vs_ar.clone(),
        destination_rule: dr_ar.clone(),
        config,
    });

    let caches = [
        ("deployments", deployments.clone().wait_until_ready_boxed()),
        ("services", services.clone().wait_until_ready_boxed()),
        (
            "virtualservices",
            virtual_services.clone().wait_until_ready_boxed(),
        ),
        (
            "destinationrules",
            destination_rules.clone().wait_until_ready_boxed(),
        ),
        (
            "metrictemplates",
            templates.clone().wait_until_ready_boxed(),
        ),
        ("canaries", canaries.clone().wait_until_ready_boxed()),
    ];
    tokio::spawn(wait_for_caches(caches, synced, ready));
    // Templates only feed the cache; a change to one is seen at the next step.
    tokio::spawn(tpl_stream.for_each(|_| async {}));

    controller
        .watches_stream(dep_stream, move |d: Deployment| {
            // A Deployment wakes the Canaries that target it or own it.
            let ns = d.namespace().unwrap_or_default();
            let name = d.name_any();
            let owners: Vec<String> = d
                .owner_references()
                .iter()
                .filter(|o| o.kind == "Canary")
                .map(|o| o.name.clone())
                .collect();
            by_target
                .state()
                .into_iter()
                .filter(|c| c.namespace().as_deref() == Some(ns.as_str()))
                .filter(|c| c.spec.target_ref.name == name || owners.contains(&c.name_any()))
                .map(|c| ObjectRef::from_obj(c.as_ref()))
                .collect::<Vec<_>>()
        })
        .owns_stream(svc_stream)
        .owns_stream_with(vs_stream, vs_ar)
        .owns_stream_with(dr_stream, dr_ar)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|r| async move {
            // Reconcile errors are logged by the error policy; what arrives here are the
            // watch errors (a forbidden resource, a missing CRD), which must not be silent.
            if let Err(kube::runtime::controller::Error::QueueError(e)) = r {
                warn!(error = %e, "watch failed");
            }
        })
        .await;
}

/// Marks serin synced (and ready) once every cache has its first list, and says which
/// caches it is still waiting for every ten seconds until then: a cache that never syncs
/// (a missing CRD, a forbidden resource) must not go unexplained.
async fn wait_for_caches(
    caches: [(
        &'static str,
        futures::future::BoxFuture<'static, Result<(), reflector::store::WriterDropped>>,
    ); 6],
    synced: Arc<std::sync::atomic::AtomicBool>,
    ready: Arc<std::sync::atomic::AtomicBool>,
) {
    let waiting = Arc::new(std::sync::Mutex::new(
        caches.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
    ));
    let all = futures::future::join_all(caches.into_iter().map(|(name, fut)| {
        let waiting = waiting.clone();
        async move {
            let ok = fut.await.is_ok();
            if let Ok(mut w) = waiting.lock() {
                w.retain(|n| *n != name);
            }
            tracing::debug!(cache = name, "watch cache synced");
            ok
        }
    }));
    tokio::pin!(all);
    // Re-polled every second as well as on wake-ups, so a missed wake-up costs a second,
    // not the whole run; what is still missing is reported every ten seconds.
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut ticks = 0u32;
    loop {
        tokio::select! {
            results = &mut all => {
                if results.iter().all(|ok| *ok) {
                    info!("watch caches synced");
                    synced.store(true, std::sync::atomic::Ordering::SeqCst);
                    ready.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                return;
            }
            _ = tick.tick() => {
                ticks += 1;
                if ticks.is_multiple_of(10) {
                    let names = waiting.lock().map(|w| w.join(", ")).unwrap_or_default();
                    warn!(waiting_for = %names, "watch caches not synced yet");
                }
            }
        }
    }
}

trait WaitBoxed {
    fn wait_until_ready_boxed(
        self,
    ) -> futures::future::BoxFuture<'static, Result<(), reflector::store::WriterDropped>>;
}

impl<K> WaitBoxed for Store<K>
where
    K: kube::Resource + Clone + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + Send + Sync,
{
    fn wait_until_ready_boxed(
        self,
    ) -> futures::future::BoxFuture<'static, Result<(), reflector::store::WriterDropped>> {
        Box::pin(async move { self.wait_until_ready().await })
    }
}

fn error_policy(canary: Arc<Canary>, error: &Error, ctx: Arc<Ctx>) -> Action {
    ctx.telemetry.reconcile_error(error.category());
    warn!(canary = %canary.name_any(), namespace = ?canary.namespace(), error = %error, "reconcile failed");
    match error.category() {
        // A stale cache: the fresh object is on its way; look again soon.
        "conflict" => Action::requeue(Duration::from_millis(200)),
        _ => Action::requeue(Duration::from_secs(5)),
    }
}

async fn reconcile(canary: Arc<Canary>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let span = info_span!("reconcile", canary = %canary.name_any(), namespace = %canary.namespace().unwrap_or_default());
    let started = std::time::Instant::now();
    let result = reconcile_inner(&canary, &ctx).instrument(span).await;
    ctx.telemetry.reconciled(started.elapsed());
    result
}

async fn reconcile_inner(canary: &Canary, ctx: &Ctx) -> Result<Action, Error> {
    if !ctx.synced.load(std::sync::atomic::Ordering::SeqCst) {
        return Ok(Action::requeue(Duration::from_millis(200)));
    }
    if let Some(action) = finalize::handle(canary, ctx).await? {
        return Ok(action);
    }
    let ns = canary.namespace().unwrap_or_default();
    let now = Utc::now();
    let target_obj = ctx
        .deployments
        .get(&ObjectRef::new(&canary.spec.target_ref.name).within(&ns));
    let primary_obj = ctx
        .deployments
        .get(&ObjectRef::new(&format!("{}-primary", canary.spec.target_ref.name)).within(&ns));
    let mut obs = Observation {
        target: target_obj.as_deref().map(observe::target),
        primary: primary_obj.as_deref().map(observe::primary),
        checks: None,
    };
    let who = Identity {
        name: canary.name_any(),
        namespace: ns.clone(),
        target: canary.spec.target_ref.name.clone(),
        generation: canary.metadata.generation,
    };
    let settings = Settings::from_spec(
        &canary.spec,
        &ctx.config.mesh_provider,
        ctx.config.min_interval,
    );
    let unsupported = decide::unsupported_fields(&canary.spec);
    let status = canary.status.clone().unwrap_or_default();
    let decide_now = |obs: &Observation| {
        decide::decide(
            &who,
            &settings,
            &unsupported,
            canary.spec.suspend,
            &status,
            obs,
            now,
        )
    };
    let mut decision = decide_now(&obs);
    if decision.next == Next::RunChecks {
        obs.checks = Some(run_checks(canary, ctx).await);
        decision = decide_now(&obs);
    }
    record::record(canary, ctx, &decision).await?;
    ctx.telemetry.observe_canary(canary, &decision.status);
    if let (Some(target), false) = (
        target_obj.as_deref(),
        canary.spec.suspend || settings.is_err(),
    ) {
        converge::converge(canary, ctx, &decision.status, target).await?;
    }
    Ok(match decision.next {
        Next::At(at) => Action::requeue((at - Utc::now()).to_std().unwrap_or(Duration::ZERO)),
        Next::RunChecks => Action::requeue(Duration::ZERO),
        Next::Idle => Action::await_change(),
    })
}

async fn run_checks(canary: &Canary, ctx: &Ctx) -> Vec<crate::api::MetricStatus> {
    let templates = |ns: &str, name: &str| {
        ctx.templates
            .get(&ObjectRef::new(name).within(ns))
            .map(|t| t.as_ref().clone())
    };
    // Secrets are read only for templates that name one, once per step: watching every
    // Secret of the cluster would cost far more memory than these few reads.
    let mut secrets: std::collections::BTreeMap<(String, String), Result<_, String>> =
        std::collections::BTreeMap::new();
    if let Some(a) = &canary.spec.analysis {
        for m in &a.metrics {
            let Some(r) = &m.template_ref else { continue };
            let ns = r
                .namespace
                .clone()
                .unwrap_or_else(|| canary.namespace().unwrap_or_default());
            let Some(t) = templates(&ns, &r.name) else {
                continue;
            };
            let Some(s) = &t.spec.provider.secret_ref else {
                continue;
            };
            let key = (ns.clone(), s.name.clone());
            if secrets.contains_key(&key) {
                continue;
            }
            let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
            let data = match api.get_opt(&s.name).await {
                Ok(Some(secret)) => Ok(secret
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                    .collect::<std::collections::BTreeMap<_, _>>()),
                Ok(None) => Err(format!("Secret {}.{ns} not found", s.name)),
                Err(e) => Err(format!("Secret {}.{ns} could not be read: {e}", s.name)),
            };
            secrets.insert(key, data);
        }
    }
    let secret = |ns: &str, name: &str| {
        secrets
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
            .unwrap_or_else(|| Err(format!("Secret {name}.{ns} not found")))
    };
    let planned = checks::plan(canary, &ctx.config.metrics_server, &templates, &secret);
    let results = ctx.prometheus.run(&planned, Utc::now()).await;
    ctx.telemetry.observe_checks(canary, &results);
    results
}

//! The watches: one reflector cache per kind serin reads (Deployments, Services, every
//! router's routing kinds, MetricTemplates, Canaries) and the events that wake a Canary's
//! reconcile. [`start`] builds the caches and the shared [`Ctx`]; [`run`] drives them with
//! the Controller, and a test can drive them without it ([`Watches::spawn`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::DeserializeGuard;
use kube::runtime::controller::Controller;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tracing::{info, warn};

use super::targets::TargetIndex;
use super::trim;
use super::{Backoff, Config, Ctx, error_policy, pending, reconcile_guarded};
use crate::api::{AutoscalerKind, Canary, CanaryAction, MetricTemplate};
use crate::autoscaling::resource;
use crate::metrics::MetricsSource;
use crate::router;
use crate::telemetry::Telemetry;

type Touched<K> = BoxStream<'static, Result<K, watcher::Error>>;
type Ready = (
    String,
    BoxFuture<'static, Result<(), reflector::store::WriterDropped>>,
);

/// The watch streams behind the caches of a [`Ctx`]; they fill the caches while polled.
pub struct Watches {
    deployments: Touched<Deployment>,
    services: Touched<Service>,
    routing: Vec<(ApiResource, Touched<DynamicObject>)>,
    templates: Touched<MetricTemplate>,
    hpas: Touched<DynamicObject>,
    scaled_objects: Touched<DynamicObject>,
    actions: Touched<CanaryAction>,
    /// Waited for only when KEDA's CRD exists (see [`run`]).
    scaled_objects_ready: Ready,
    ready: Vec<Ready>,
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

/// The most reconciles that run at once. Unbounded, every Canary woken together runs at
/// once, each holding an API connection (and its read buffer) while it waits; at 300
/// Canaries that cost about twice the CPU per rollout and a slower reaction. A reconcile
/// mostly waits on the API server, so a few dozen keep it busy.
const RECONCILE_CONCURRENCY: u16 = 32;

fn wc() -> watcher::Config {
    watcher::Config::default().any_semantic()
}

fn cache_ready<K>(name: &str, store: &Store<K>) -> Ready
where
    K: kube::Resource + Clone + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + Send + Sync,
{
    let store = store.clone();
    (
        name.to_string(),
        Box::pin(async move { store.wait_until_ready().await }),
    )
}

/// A cache of a namespaced built-in or serin kind, trimmed by `trim` before it enters
/// the store, and the stream that fills it.
fn typed_cache<K>(client: &Client, ns: &Option<String>, trim: fn(&mut K)) -> (Store<K>, Touched<K>)
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(api(client, ns), wc()).modify(trim))
        .default_backoff()
        .touched_objects()
        .boxed();
    (store, stream)
}

/// A cache of a dynamic kind and the stream that fills it.
fn dyn_cache(
    client: &Client,
    ns: &Option<String>,
    ar: ApiResource,
) -> (Store<DynamicObject>, Touched<DynamicObject>) {
    let writer = reflector::store::Writer::new(ar.clone());
    let store = writer.as_reader();
    let stream = reflector::reflector(
        writer,
        watcher(dyn_api(client, ns, &ar), wc()).modify(trim::dynamic),
    )
    .default_backoff()
    .touched_objects()
    .boxed();
    (store, stream)
}

/// Whether KEDA's ScaledObject CRD is served. Without it there is nothing to watch, and
/// serin must not hold its readiness back for a cache that can never sync.
async fn keda_installed(client: &Client) -> bool {
    let ar = resource(AutoscalerKind::ScaledObject);
    match client.list_api_group_resources(&ar.api_version).await {
        Ok(list) => list.resources.iter().any(|r| r.name == ar.plural),
        Err(e) => {
            info!(error = %e, "no KEDA ScaledObject CRD: autoscalerRef to a ScaledObject cannot be honoured");
            false
        }
    }
}

/// The Canaries in `obj`'s namespace that name it in `autoscalerRef` or own it.
fn autoscaler_owners(
    canaries: &Store<DeserializeGuard<Canary>>,
    kind: AutoscalerKind,
    obj: &DynamicObject,
) -> Vec<ObjectRef<DeserializeGuard<Canary>>> {
    let ns = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let owners: Vec<String> = obj
        .owner_references()
        .iter()
        .filter(|o| o.kind == "Canary")
        .map(|o| o.name.clone())
        .collect();
    canaries
        .state()
        .into_iter()
        .filter(|g| g.namespace().as_deref() == Some(ns.as_str()))
        .filter(|g| match &g.0 {
            Ok(c) => {
                owners.contains(&c.name_any())
                    || c.spec
                        .autoscaler_ref
                        .as_ref()
                        .is_some_and(|a| a.kind == kind && a.name == name)
            }
            Err(_) => false,
        })
        .map(|g| ObjectRef::from_obj(g.as_ref()))
        .collect()
}

/// Builds the caches and the context every reconcile shares, watching every router's kinds.
pub fn start(
    client: Client,
    config: Config,
    telemetry: Arc<Telemetry>,
    metrics: Arc<dyn MetricsSource>,
) -> (Arc<Ctx>, Watches) {
    start_with(client, config, telemetry, metrics, router::all_kinds())
}

/// [`start`], watching only the routing kinds given (see `controller::kinds`).
pub fn start_with(
    client: Client,
    config: Config,
    telemetry: Arc<Telemetry>,
    metrics: Arc<dyn MetricsSource>,
    routing_kinds: Vec<ApiResource>,
) -> (Arc<Ctx>, Watches) {
    let ns = config.namespace.clone();
    let (deployments, dep_stream) = typed_cache(&client, &ns, trim::deployment);
    let (services, svc_stream) = typed_cache(&client, &ns, trim::service);
    let (templates, tpl_stream) = typed_cache(&client, &ns, trim::metadata);
    let (actions, act_stream) = typed_cache(&client, &ns, trim::metadata);
    let mut caches = vec![
        cache_ready("deployments", &deployments),
        cache_ready("services", &services),
        cache_ready("canaryactions", &actions),
    ];
    let mut routing = Vec::new();
    let mut routing_streams = Vec::new();
    for ar in routing_kinds {
        let (store, stream) = dyn_cache(&client, &ns, ar.clone());
        caches.push(cache_ready(&ar.plural, &store));
        routing.push((ar.clone(), store));
        routing_streams.push((ar, stream));
    }
    caches.push(cache_ready("metrictemplates", &templates));
    let (hpas, hpa_stream) = dyn_cache(
        &client,
        &ns,
        resource(AutoscalerKind::HorizontalPodAutoscaler),
    );
    caches.push(cache_ready("horizontalpodautoscalers", &hpas));
    let (scaled_objects, so_stream) =
        dyn_cache(&client, &ns, resource(AutoscalerKind::ScaledObject));
    let scaled_objects_ready = cache_ready("scaledobjects", &scaled_objects);
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        synced: Arc::new(AtomicBool::new(false)),
        pending: pending::Pending::default(),
        memo: Default::default(),
        backoff: Backoff::default(),
        notices: super::notices::Notices::new(client),
        published: Default::default(),
        metrics,
        telemetry,
        deployments,
        services,
        routing,
        templates,
        hpas,
        scaled_objects,
        actions,
        config,
    });
    let watches = Watches {
        deployments: dep_stream,
        services: svc_stream,
        routing: routing_streams,
        templates: tpl_stream,
        hpas: hpa_stream,
        scaled_objects: so_stream,
        actions: act_stream,
        scaled_objects_ready,
        ready: caches,
    };
    (ctx, watches)
}

impl Watches {
    /// Drives the caches without a Controller (for tests that call reconcile themselves);
    /// `ctx.synced` turns true once they have synced.
    pub fn spawn(self, ctx: &Ctx) {
        tokio::spawn(self.deployments.for_each(|_| async {}));
        tokio::spawn(self.services.for_each(|_| async {}));
        tokio::spawn(self.templates.for_each(|_| async {}));
        tokio::spawn(self.hpas.for_each(|_| async {}));
        tokio::spawn(self.scaled_objects.for_each(|_| async {}));
        tokio::spawn(self.actions.for_each(|_| async {}));
        for (_, s) in self.routing {
            tokio::spawn(s.for_each(|_| async {}));
        }
        let ready = Arc::new(AtomicBool::new(false));
        tokio::spawn(wait_for_caches(self.ready, ctx.synced.clone(), ready));
    }
}

/// Runs the controller until `shutdown` resolves. `ready` is set once every cache has
/// synced.
pub async fn run(
    client: Client,
    config: Config,
    telemetry: Arc<Telemetry>,
    metrics: Arc<dyn MetricsSource>,
    ready: Arc<AtomicBool>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let ns = config.namespace.clone();
    let kinds = super::kinds::served_routing_kinds(&client, &config.routers).await;
    let (ctx, mut watches) = start_with(client.clone(), config, telemetry, metrics, kinds);
    // Decoding through the guard: one undecodable Canary is reported and skipped instead
    // of failing the whole list (and with it every other Canary and the start).
    let index = TargetIndex::default();
    let (canaries, canary_writer) = reflector::store();
    let indexed = index.clone();
    let forget = ctx.clone();
    let canary_stream = reflector::reflector(
        canary_writer,
        watcher(api::<DeserializeGuard<Canary>>(&client, &ns), wc())
            .modify(trim::metadata)
            .map(move |event| {
                if let Ok(event) = &event {
                    indexed.observe(event);
                    // A deleted Canary's series leave /metrics with it.
                    if let watcher::Event::Delete(DeserializeGuard(Ok(canary))) = event {
                        forget.telemetry.forget(canary);
                        forget.memo.forget(&canary.uid().unwrap_or_default());
                    }
                }
                event
            }),
    )
    .default_backoff()
    .applied_objects();
    let controller = Controller::for_stream(canary_stream, canaries.clone()).with_config(
        kube::runtime::controller::Config::default().concurrency(RECONCILE_CONCURRENCY),
    );
    watches.ready.push(cache_ready("canaries", &canaries));
    let keda = keda_installed(&client).await;
    if keda {
        watches.ready.push(watches.scaled_objects_ready);
    }
    tokio::spawn(wait_for_caches(watches.ready, ctx.synced.clone(), ready));
    // Templates only feed the cache; a change to one is seen at the next step.
    tokio::spawn(watches.templates.for_each(|_| async {}));

    let mut controller = controller
        .watches_stream(watches.deployments, move |d: Deployment| {
            // A Deployment wakes the Canaries that target it (through the index, not a
            // scan) or own it (its primary).
            let ns = d.namespace().unwrap_or_default();
            let mut names = index.canaries(&ns, &d.name_any());
            names.extend(
                d.owner_references()
                    .iter()
                    .filter(|o| o.kind == "Canary")
                    .map(|o| o.name.clone()),
            );
            names.sort();
            names.dedup();
            names
                .into_iter()
                .map(|name| ObjectRef::new(&name).within(&ns))
                .collect::<Vec<_>>()
        })
        .owns_stream(watches.services)
        .watches_stream(watches.actions, |a: CanaryAction| {
            // An undecided action wakes the Canary it names; a decided one is left to
            // the actions' lifecycle (super::actions::run).
            let ns = a.namespace().unwrap_or_default();
            let undecided = a.status.as_ref().and_then(|s| s.outcome).is_none();
            undecided
                .then(|| ObjectRef::new(&a.spec.canary).within(&ns))
                .into_iter()
        });
    let hpa_canaries = canaries.clone();
    controller = controller.watches_stream_with(
        watches.hpas,
        move |o: DynamicObject| {
            autoscaler_owners(&hpa_canaries, AutoscalerKind::HorizontalPodAutoscaler, &o)
        },
        resource(AutoscalerKind::HorizontalPodAutoscaler),
    );
    if keda {
        let so_canaries = canaries.clone();
        controller = controller.watches_stream_with(
            watches.scaled_objects,
            move |o: DynamicObject| {
                autoscaler_owners(&so_canaries, AutoscalerKind::ScaledObject, &o)
            },
            resource(AutoscalerKind::ScaledObject),
        );
    }
    for (ar, stream) in watches.routing {
        controller = controller.owns_stream_with(stream, ar);
    }
    let lifecycle = super::actions::run(api(&client, &ns), canaries.clone(), ctx.clone());
    let main = controller
        .graceful_shutdown_on(shutdown)
        .run(reconcile_guarded, error_policy, ctx)
        .for_each(|r| async move {
            // Reconcile errors are logged by the error policy; what arrives here are the
            // watch errors (a forbidden resource, a missing CRD), which must not be silent.
            if let Err(kube::runtime::controller::Error::QueueError(e)) = r {
                warn!(error = %e, "watch failed");
            }
        });
    // The actions' lifecycle ends with the main controller (at shutdown).
    tokio::select! {
        _ = main => {}
        _ = lifecycle => {}
    }
}

/// Marks serin synced (and ready) once every cache has its first list, and says which
/// caches it is still waiting for every ten seconds until then: a cache that never syncs
/// (a missing CRD, a forbidden resource) must not go unexplained.
async fn wait_for_caches(caches: Vec<Ready>, synced: Arc<AtomicBool>, ready: Arc<AtomicBool>) {
    let waiting = Arc::new(std::sync::Mutex::new(
        caches
            .iter()
            .map(|(name, _)| name.clone())
            .collect::<Vec<_>>(),
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
                    synced.store(true, Ordering::SeqCst);
                    ready.store(true, Ordering::SeqCst);
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

//! The controller: the reconcile pipeline
//! observe ([`snapshot`], once) -> decide ([`crate::decide`], pure; [`gather`] fetches the
//! inputs it asks for) -> record ([`record`]: status, events) -> converge ([`converge`]:
//! carries out the plan, with the Canary's router).
//!
//! [`watches`] wires the caches and the watch events that wake reconcile; a requeue at the
//! exact time the next step or deadline is due does the rest. Nothing polls. A Canary that
//! cannot be decoded is reported by [`invalid`] and skipped.

mod actions;
mod alerts;
mod autoscaling;
mod converge;
mod error;
pub mod events;
mod finalize;
pub mod gather;
mod hooks;
mod invalid;
mod kinds;
mod memo;
mod notices;
pub mod observe;
mod panics;
mod pending;
mod record;
pub mod snapshot;
mod targets;
pub mod trim;
mod watches;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::{ApiResource, DynamicObject};
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use kube::{Client, ResourceExt};
use tracing::{Instrument, info_span, warn};

use crate::api::{Canary, CanaryAction, MetricTemplate, Phase};
use crate::decide::{self, Identity, Next, Provider, Settings};
use crate::metrics::MetricsSource;
use crate::router::{self, Router};
use crate::telemetry::Telemetry;
pub use error::{Backoff, Category, Error};
use snapshot::Snapshot;
pub use watches::{Watches, run, start, start_with};

/// What `serin run` was told.
#[derive(Debug, Clone)]
pub struct Config {
    pub mesh_provider: String,
    pub metrics_server: String,
    /// Floor of analysis intervals (Flagger: 10s).
    pub min_interval: Duration,
    /// Watch one namespace, or all when None.
    pub namespace: Option<String>,
    /// The routers whose kinds serin watches (and has RBAC for): `--routers`.
    pub routers: Vec<crate::decide::Provider>,
    /// The HTTP clients webhook calls share (host mappings, concurrency bound).
    pub hooks: crate::hooks::HookClients,
    /// Delivers `analysis.alerts` notifications.
    pub alerts: crate::alerts::AlertSender,
    /// `--event-webhook`: receives every event of every Canary.
    pub event_webhook: Option<String>,
    /// Providers of `--slack-url` and `--msteams-url`: they receive every alert of the
    /// Canaries that set no `analysis.alerts` of their own.
    pub global_alerts: Vec<crate::api::AlertProviderSpec>,
    /// `--cluster-name`: added to every alert as its `Cluster` field.
    pub cluster_name: Option<String>,
}

/// Shared state of every reconcile: the client, the caches, the event publishers.
pub struct Ctx {
    pub client: Client,
    /// True once every watch cache has synced; reconciles wait for it, since a decision
    /// made on a half-filled cache would take a missing object for a deleted one.
    pub synced: Arc<AtomicBool>,
    /// Writes in flight, so a reconcile on a lagging cache does not repeat them.
    pending: pending::Pending,
    /// What converge built last, so an unchanged Canary builds nothing ([`memo`]).
    memo: memo::Memo,
    backoff: Backoff,
    pub config: Config,
    /// Events that are not transitions ([`notices`]).
    pub notices: notices::Notices,
    /// Transition events known to be published ([`events`]).
    published: events::Published,
    pub metrics: Arc<dyn MetricsSource>,
    pub telemetry: Arc<Telemetry>,
    pub deployments: Store<Deployment>,
    pub services: Store<Service>,
    /// One cache per routing kind of every router.
    pub routing: Vec<(ApiResource, Store<DynamicObject>)>,
    pub templates: Store<MetricTemplate>,
    /// `autoscaling/v2` HorizontalPodAutoscalers and KEDA ScaledObjects, for
    /// `autoscalerRef` (the latter stays empty without KEDA's CRD).
    pub hpas: Store<DynamicObject>,
    pub scaled_objects: Store<DynamicObject>,
    /// CanaryActions: each wakes the Canary it names, whose reconcile decides it.
    pub actions: Store<CanaryAction>,
}

fn key(canary: &Canary) -> String {
    format!(
        "{}/{}",
        canary.namespace().unwrap_or_default(),
        canary.name_any()
    )
}

fn error_policy(guard: Arc<DeserializeGuard<Canary>>, error: &Error, ctx: Arc<Ctx>) -> Action {
    let category = error.category();
    ctx.telemetry.reconcile_error(category.as_str());
    let (name, ns) = (guard.name_any(), guard.namespace().unwrap_or_default());
    warn!(canary = %name, namespace = %ns, error = %error, category = category.as_str(), "reconcile failed");
    Action::requeue(ctx.backoff.failed(&format!("{ns}/{name}"), category))
}

async fn reconcile_guarded(
    guard: Arc<DeserializeGuard<Canary>>,
    ctx: Arc<Ctx>,
) -> Result<Action, Error> {
    match &guard.0 {
        Ok(canary) => {
            let result = panics::catch(reconcile(canary, &ctx)).await;
            if let Err(error) = &result {
                panics::report_failure(canary, &ctx, error).await;
            }
            result
        }
        Err(invalid) => Ok(invalid::report(invalid, &ctx).await),
    }
}

/// One reconcile of one Canary: observe, decide, record, converge.
pub async fn reconcile(canary: &Canary, ctx: &Ctx) -> Result<Action, Error> {
    let span = info_span!("reconcile", canary = %canary.name_any(), namespace = %canary.namespace().unwrap_or_default());
    let started = std::time::Instant::now();
    let result = reconcile_inner(canary, ctx).instrument(span).await;
    ctx.telemetry.reconciled(started.elapsed());
    if result.is_ok() {
        ctx.backoff.succeeded(&key(canary));
    }
    result
}

async fn reconcile_inner(canary: &Canary, ctx: &Ctx) -> Result<Action, Error> {
    if !ctx.synced.load(Ordering::SeqCst) {
        return Ok(Action::requeue(Duration::from_millis(200)));
    }
    // The cache has not seen serin's own last status write: the watch event that brings
    // it wakes this Canary; deciding now would decide on the old status (and be refused).
    if ctx
        .pending
        .status_stale(&key(canary), canary.resource_version().as_deref())
    {
        return Ok(Action::requeue(STATUS_WAIT));
    }
    let now = Utc::now();
    let provider = canary
        .spec
        .provider
        .as_deref()
        .unwrap_or(&ctx.config.mesh_provider);
    let router: Option<&dyn Router> = Provider::parse(provider).ok().map(router::for_provider);
    let snap = Snapshot::take(canary, ctx, router);
    if let Some(action) = finalize::handle(canary, ctx, &snap, router, now).await? {
        return Ok(action);
    }
    // A new Canary whose target the cache does not hold yet: applied together with it,
    // the Deployment is most likely on its way (its event wakes this Canary).
    if let Some(wait) = snap.target_unseen(canary) {
        return Ok(Action::requeue(wait));
    }
    let who = Identity {
        name: canary.name_any(),
        namespace: canary.namespace().unwrap_or_default(),
        target: canary.spec.target_ref.name.clone(),
        generation: canary.metadata.generation,
    };
    let settings = Settings::from_spec(
        &canary.spec,
        &ctx.config.mesh_provider,
        ctx.config.min_interval,
    );
    let unsupported = decide::unsupported_fields(&canary.spec, provider);
    let status = canary.status.clone().unwrap_or_default();
    let mut obs = snap.observation(observe::ReadyThresholds::of(&canary.spec));
    obs.actions = actions::pending(canary, ctx);
    let decide_now = |obs: &decide::Observation| {
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
    if let (Next::Gather(request), Some(router)) = (&decision.next, router) {
        let checksum = obs
            .target
            .as_ref()
            .map(|t| t.revision.clone())
            .unwrap_or_default();
        obs.inputs = gather::gather(canary, ctx, router, *request, &checksum).await;
        decision = decide_now(&obs);
        if obs.inputs.metrics.is_some() {
            ctx.telemetry
                .observe_checks(canary, &decision.status.metrics);
        }
    }
    // Initialisation ends by creating the apex Service and the routing objects on the
    // primary. They are created before the status says Initialized, so whoever waits for
    // Initialized finds the traffic set up, as with Flagger. Applying is idempotent: a
    // crash or a refused status write in between repeats it (without a second write, see
    // `pending`) and then records.
    let routes_first =
        status.phase() == Phase::Initializing && decision.status.phase() == Phase::Initialized;
    let plan = decision.plan.as_ref().zip(router);
    if routes_first && let Some((plan, router)) = plan {
        converge::converge(canary, ctx, plan, router, &snap).await?;
    }
    let events_out = record::record(canary, ctx, &decision).await?;
    actions::report(canary, ctx, &decision).await;
    ctx.telemetry.observe_canary(canary, &decision.status);
    if !routes_first && let Some((plan, router)) = plan {
        converge::converge(canary, ctx, plan, router, &snap).await?;
    }
    // Only a whole reconcile clears a past failure: clearing it before converge would
    // make a write that keeps being refused flip the condition on every retry.
    panics::clear(canary, ctx, &decision.status).await;
    let next = match decision.next {
        Next::At(at) => Some(until(at)),
        Next::Gather(_) => Some(Duration::ZERO),
        Next::Idle => None,
    };
    // An event the API refused is retried soon, even when nothing else is due.
    let next = match (events_out, next) {
        (false, next) => Some(next.map_or(EVENT_RETRY, |d| d.min(EVENT_RETRY))),
        (true, next) => next,
    };
    Ok(next.map_or_else(Action::await_change, Action::requeue))
}

/// The fallback when a reconcile waits for the cache to see serin's own status write:
/// the watch event normally wakes the Canary long before.
const STATUS_WAIT: Duration = Duration::from_secs(1);

/// How soon a reconcile retries the events it could not publish.
const EVENT_RETRY: Duration = Duration::from_secs(5);

/// The longest requeue: a reconcile is always safe to run early (it decides again), while
/// the runtime adds the delay to an `Instant`, which panics on overflow.
const MAX_REQUEUE: Duration = Duration::from_secs(3600);

/// How long until `at`, at least zero and at most [`MAX_REQUEUE`].
fn until(at: chrono::DateTime<Utc>) -> Duration {
    (at - Utc::now())
        .to_std()
        .unwrap_or(Duration::ZERO)
        .min(MAX_REQUEUE)
}

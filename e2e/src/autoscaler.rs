//! Autoscaler stand-ins: the HPA controller and the KEDA operator, as far as
//! serin can observe them.
//!
//! Reflectors keep HorizontalPodAutoscalers, Deployments and (with KEDA)
//! ScaledObjects; on a fixed tick ([`AutoscalerConfig::tick`]) every
//! ScaledObject is reconciled first ([`keda`], [`keda_plan`]: its
//! `keda-hpa-<name>` HPA, pausing, scale to and from zero), then every HPA
//! ([`hpa`]: replicas within min/max from a simulated utilisation, written
//! through the target's `scale` subresource; [`hpa_status`]: the status,
//! written through the HPA's `status` subresource only when it changed).
//!
//! The utilisation is a test-controlled knob, [`UTILIZATION_ANNOTATION`], in
//! percent of the HPA's targets: on the HPA, else on the target Deployment
//! (for KEDA, on the ScaledObject, which copies it to its HPA). Without it,
//! [`RPS_PER_REPLICA_ANNOTATION`] derives it from the mesh's request rate
//! ([`load`]). With neither, the workload runs exactly at target and the
//! replica count stays where it is. For a ScaledObject, a utilisation of
//! `"0"` also means "triggers inactive".
//!
//! It talks to the API server only through a kube `Client`, so it also runs
//! against a real API server without a controller manager.

mod act;
pub mod conditions;
pub mod crd;
pub mod hpa;
pub mod hpa_status;
#[cfg(test)]
mod hpa_tests;
pub mod keda;
mod keda_act;
pub mod keda_plan;
#[cfg(test)]
mod keda_tests;
pub mod load;

use crate::standin::{reflect, spawn_until};
use std::future::Future;
use std::time::Duration;

use futures::Stream;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::reflector::{Store, store::Writer};
use kube::runtime::watcher;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

pub use crd::{install_scaled_object_crd, scaled_object_crd};
pub use load::RPS_PER_REPLICA_ANNOTATION;

/// Annotation setting the simulated utilisation, in percent of target
/// (`"150"`: 1.5 times the target, the HPA wants 1.5 times the replicas).
pub const UTILIZATION_ANNOTATION: &str = "autoscaler.sandbox.serin.dev/utilization";

/// Settings of the autoscaler stand-ins.
#[derive(Clone, Debug)]
pub struct AutoscalerConfig {
    /// Time between two passes over every HPA and ScaledObject (the real
    /// controller's sync period is 15 s).
    pub tick: Duration,
    /// Scale-down stabilisation window of HPAs that set none (the real
    /// controller's default is 300 s).
    pub downscale_stabilization: Duration,
    /// Watch only this namespace (tests running their own stand-ins).
    pub namespace: Option<String>,
    /// Run the HPA controller stand-in (off against a cluster that has one).
    pub hpa_controller: bool,
    /// Install the ScaledObject CRD and run the KEDA stand-in.
    pub keda: bool,
    /// The mesh stand-in's `/metrics`, read every tick for the load of
    /// targets annotated with [`RPS_PER_REPLICA_ANNOTATION`].
    pub mesh_metrics_url: Option<String>,
}

impl Default for AutoscalerConfig {
    fn default() -> Self {
        Self {
            tick: Duration::from_secs(1),
            downscale_stabilization: Duration::from_secs(300),
            namespace: None,
            hpa_controller: true,
            keda: true,
            mesh_metrics_url: None,
        }
    }
}

/// The reflectors' stores the passes read.
#[derive(Clone)]
struct Stores {
    hpas: Store<HorizontalPodAutoscaler>,
    deployments: Store<Deployment>,
    scaled_objects: Option<Store<DynamicObject>>,
}

/// Running autoscaler stand-ins. Dropping it stops their tasks.
pub struct Autoscaler {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// The ScaledObject's API resource.
pub fn scaled_object_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk(crd::GROUP, crd::VERSION, "ScaledObject");
    ApiResource::from_gvk_with_plural(&gvk, "scaledobjects")
}

impl Autoscaler {
    /// Installs the ScaledObject CRD (with KEDA on), starts the watches and
    /// the tick loop.
    pub async fn start(client: Client, cfg: AutoscalerConfig) -> anyhow::Result<Autoscaler> {
        let keda = cfg.keda && install_scaled_object_crd(client.clone()).await?;
        let (stop, _) = watch::channel(false);
        let ns = cfg.namespace.as_deref();
        let (hpa_writer, deploy_writer) = (Writer::default(), Writer::default());
        let mut stores = Stores {
            hpas: hpa_writer.as_reader(),
            deployments: deploy_writer.as_reader(),
            scaled_objects: None,
        };
        let mut tasks = vec![
            spawn_until(
                &stop,
                reflect("autoscaler", hpa_writer, typed_api(&client, ns)),
            ),
            spawn_until(
                &stop,
                reflect("autoscaler", deploy_writer, typed_api(&client, ns)),
            ),
        ];
        if keda {
            let resource = scaled_object_resource();
            let writer = Writer::new(resource.clone());
            stores.scaled_objects = Some(writer.as_reader());
            let api = match ns {
                Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
                None => Api::all_with(client.clone(), &resource),
            };
            let events = watcher(api, watcher::Config::default());
            tasks.push(spawn_until(&stop, reflect("autoscaler", writer, events)));
        }
        let passes = act::Passes::new(client, cfg.clone());
        tasks.push(spawn_until(&stop, tick_loop(passes, stores, cfg.tick)));
        Ok(Autoscaler { stop, tasks })
    }

    /// Stops the passes and the watches, and waits for them.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for Autoscaler {
    fn drop(&mut self) {
        self.tasks.iter().for_each(JoinHandle::abort);
    }
}

/// Runs the stand-ins until `shutdown` completes.
pub async fn run(
    client: Client,
    cfg: AutoscalerConfig,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let autoscaler = Autoscaler::start(client, cfg).await?;
    shutdown.await;
    autoscaler.shutdown().await;
    Ok(())
}

/// A watch of a built-in kind, in one namespace or all.
fn typed_api<K>(
    client: &Client,
    namespace: Option<&str>,
) -> impl Stream<Item = watcher::Result<watcher::Event<K>>> + Send + use<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + 'static,
    K::DynamicType: Default,
{
    let api = match namespace {
        Some(ns) => Api::<K>::namespaced(client.clone(), ns),
        None => Api::<K>::all(client.clone()),
    };
    watcher(api, watcher::Config::default())
}

/// Waits for the first lists, then runs a KEDA pass and an HPA pass per tick.
async fn tick_loop(mut passes: act::Passes, stores: Stores, tick: Duration) {
    let _ = stores.hpas.wait_until_ready().await;
    let _ = stores.deployments.wait_until_ready().await;
    if let Some(objects) = &stores.scaled_objects {
        let _ = objects.wait_until_ready().await;
    }
    let mut interval = tokio::time::interval(tick.max(Duration::from_millis(10)));
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        // Reading the mesh's /metrics is the costliest part of a tick (megabytes of text
        // at a thousand routes): only worth it when something scales on it.
        let scaling = !stores.hpas.state().is_empty()
            || stores
                .scaled_objects
                .as_ref()
                .is_some_and(|o| !o.state().is_empty());
        if scaling {
            passes.measure_load().await;
        }
        if let Some(objects) = &stores.scaled_objects {
            passes
                .keda(&objects.state(), &stores.deployments, &stores.hpas)
                .await;
        }
        passes.hpas(&stores.hpas.state(), &stores.deployments).await;
    }
}

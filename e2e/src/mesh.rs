//! Mesh stand-in: plays Istio's data plane for the sandbox's workloads.
//!
//! It applies minimal VirtualService and DestinationRule CRDs ([`crds`]),
//! keeps reflectors of VirtualServices, Services and Deployments, and on a
//! fixed tick sends request traffic to every host of every VirtualService
//! ([`traffic`]): split by the route weights and header matches
//! ([`routing`]), served by the ready Deployments behind the destination
//! Services, answered as their pod templates say ([`behaviour`]). The
//! outcomes are Istio's standard metrics ([`metrics`]), served on `/metrics`.
//!
//! It talks to the API server only through a kube `Client`.

pub mod behaviour;
pub mod crds;
pub mod load;
pub mod metrics;
pub mod routing;
pub mod traffic;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::reflector::{self, Store, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde::Deserialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

pub use crds::{install_istio_crds, istio_crds};
pub use load::{LoadRequest, MeshLoad};
pub use traffic::TrafficClass;

use metrics::Registry;
use routing::{Cluster, ServingRevisions, VirtualServiceSpec};
use traffic::{Generator, HostTraffic};

/// VirtualService annotation overriding the request rate of its hosts.
pub const RPS_ANNOTATION: &str = "mesh.sandbox.serin.dev/rps";

/// Longest stretch of time one tick makes up for after the runtime stalled.
const MAX_TICK_GAP: Duration = Duration::from_secs(5);

/// Settings of the mesh stand-in.
#[derive(Clone, Debug)]
pub struct MeshConfig {
    /// Requests per second sent to each host of each VirtualService.
    pub rps_per_host: f64,
    /// Address of the `/metrics` endpoint; port 0 picks a free port.
    pub listen: SocketAddr,
    /// How often counters advance.
    pub tick: Duration,
    /// Shares of the traffic carrying headers (for header-matched routes);
    /// the rest carries none.
    pub header_traffic: Vec<TrafficClass>,
}

impl Default for MeshConfig {
    fn default() -> Self {
        Self {
            rps_per_host: 20.0,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tick: Duration::from_millis(100),
            header_traffic: Vec::new(),
        }
    }
}

/// A running mesh stand-in. Dropping it stops its tasks.
pub struct Mesh {
    addr: SocketAddr,
    knobs: Arc<Knobs>,
    load: MeshLoad,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Settings that can change while the mesh runs.
struct Knobs {
    /// `f64` bits of the default requests per second per host.
    rps: AtomicU64,
    header_traffic: Mutex<Vec<TrafficClass>>,
}

impl Knobs {
    fn rps(&self) -> f64 {
        f64::from_bits(self.rps.load(Ordering::Relaxed))
    }

    /// The header classes, plus the plain traffic taking the rest.
    fn classes(&self) -> Vec<TrafficClass> {
        let mut classes = self
            .header_traffic
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default();
        let plain = 1.0 - classes.iter().map(|c| c.share).sum::<f64>();
        classes.push(TrafficClass {
            headers: Default::default(),
            share: plain.max(0.0),
        });
        classes
    }
}

/// What the tick reads: the reflectors' stores.
#[derive(Clone)]
struct Stores {
    virtual_services: Store<DynamicObject>,
    services: Store<Service>,
    deployments: Store<Deployment>,
}

impl Mesh {
    /// Installs the Istio CRDs, starts the watches, the traffic and the
    /// `/metrics` endpoint.
    pub async fn start(client: Client, cfg: MeshConfig) -> anyhow::Result<Mesh> {
        install_istio_crds(client.clone()).await?;
        let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
        let addr = listener.local_addr()?;
        let (stop, _) = watch::channel(false);
        let registry = Arc::new(Mutex::new(Registry::default()));
        let knobs = Arc::new(Knobs {
            rps: AtomicU64::new(cfg.rps_per_host.max(0.0).to_bits()),
            header_traffic: Mutex::new(cfg.header_traffic.clone()),
        });

        let gvk = GroupVersionKind::gvk(crds::GROUP, "v1", "VirtualService");
        let resource = ApiResource::from_gvk(&gvk);
        let vs_writer = Writer::new(resource.clone());
        let (svc_writer, deploy_writer) = (Writer::default(), Writer::default());
        let stores = Stores {
            virtual_services: vs_writer.as_reader(),
            services: svc_writer.as_reader(),
            deployments: deploy_writer.as_reader(),
        };
        let vs_api = Api::<DynamicObject>::all_with(client.clone(), &resource);
        let mut tasks = vec![
            spawn_until(
                &stop,
                reflect(vs_writer, watcher(vs_api, watcher::Config::default())),
            ),
            spawn_until(
                &stop,
                reflect(
                    svc_writer,
                    watcher(Api::all(client.clone()), watcher::Config::default()),
                ),
            ),
            spawn_until(
                &stop,
                reflect(
                    deploy_writer,
                    watcher(Api::all(client), watcher::Config::default()),
                ),
            ),
        ];
        let load = MeshLoad::default();
        let generate = generate(
            stores,
            cfg.tick,
            knobs.clone(),
            load.clone(),
            registry.clone(),
        );
        tasks.push(spawn_until(&stop, generate));
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || serve_metrics(registry.clone())),
        );
        let mut stopped = stop.subscribe();
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = stopped.wait_for(|s| *s).await;
        });
        tasks.push(tokio::spawn(async move {
            if let Err(error) = serve.await {
                tracing::warn!(%error, "metrics endpoint failed");
            }
        }));
        Ok(Mesh {
            addr,
            knobs,
            load,
            stop,
            tasks,
        })
    }

    /// Address of the `/metrics` endpoint.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// URL of the `/metrics` endpoint.
    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.addr)
    }

    /// Changes the request rate of hosts without an [`RPS_ANNOTATION`].
    pub fn set_rps(&self, rps_per_host: f64) {
        let bits = rps_per_host.max(0.0).to_bits();
        self.knobs.rps.store(bits, Ordering::Relaxed);
    }

    /// Changes the shares of traffic carrying headers (see
    /// [`MeshConfig::header_traffic`]).
    pub fn set_header_traffic(&self, classes: Vec<TrafficClass>) {
        if let Ok(mut current) = self.knobs.header_traffic.lock() {
            *current = classes;
        }
    }

    /// A handle that adds load on top of the steady traffic (see [`load`]).
    pub fn load(&self) -> MeshLoad {
        self.load.clone()
    }

    /// Stops the traffic, the watches and the endpoint, and waits for them.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for Mesh {
    fn drop(&mut self) {
        self.tasks.iter().for_each(JoinHandle::abort);
    }
}

/// Runs the mesh stand-in until `shutdown` completes.
pub async fn run(
    client: Client,
    cfg: MeshConfig,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let mesh = Mesh::start(client, cfg).await?;
    tracing::info!(url = %mesh.metrics_url(), "mesh metrics served");
    shutdown.await;
    mesh.shutdown().await;
    Ok(())
}

/// Spawns `task`, ending it when the mesh stops.
fn spawn_until(
    stop: &watch::Sender<bool>,
    task: impl Future<Output = ()> + Send + 'static,
) -> JoinHandle<()> {
    let mut stopped = stop.subscribe();
    tokio::spawn(async move {
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => {}
            () = task => {}
        }
    })
}

/// Feeds a store from a watch; errors are retried with backoff.
async fn reflect<K>(
    writer: Writer<K>,
    stream: impl Stream<Item = watcher::Result<watcher::Event<K>>> + Send,
) where
    K: kube::Resource + Clone + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    let events = reflector::reflector(writer, stream).default_backoff();
    events
        .for_each(|event| async move {
            if let Err(error) = event {
                tracing::warn!(%error, kind = std::any::type_name::<K>(), "mesh watch failed");
            }
        })
        .await;
}

/// The tick loop: sends each tick's share of traffic.
async fn generate(
    stores: Stores,
    tick: Duration,
    knobs: Arc<Knobs>,
    load: MeshLoad,
    registry: Arc<Mutex<Registry>>,
) {
    let mut generator = Generator::default();
    let mut serving = ServingRevisions::default();
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last = Instant::now();
    loop {
        interval.tick().await;
        let now = Instant::now();
        let seconds = now.duration_since(last).min(MAX_TICK_GAP).as_secs_f64();
        last = now;
        let (classes, virtual_services) = (knobs.classes(), stores.virtual_services.state());
        let hosts = hosts(&virtual_services, knobs.rps());
        let extra: Vec<_> = load
            .active(now)
            .into_iter()
            .map(|request| {
                let routes = load::routes_for(&request, &hosts);
                (request, routes)
            })
            .collect();
        let deployments = stores.deployments.state();
        serving.update(&deployments);
        let cluster = Cluster::new(stores.services.state(), deployments, &serving);
        let Ok(mut guard) = registry.lock() else {
            return;
        };
        let traffic: Vec<HostTraffic<'_>> = hosts
            .iter()
            .flat_map(|(vs, namespace, spec, rps)| {
                spec.hosts.iter().map(move |host| HostTraffic {
                    key: format!("{namespace}/{vs}/{host}"),
                    namespace,
                    spec,
                    rps: *rps,
                })
            })
            .chain(
                extra
                    .iter()
                    .map(|(request, (spec, namespace))| HostTraffic {
                        key: format!("load/{}/{}", request.namespace, request.host),
                        namespace,
                        spec,
                        rps: request.rps,
                    }),
            )
            .collect();
        generator.tick(&traffic, &classes, &cluster, seconds, &mut guard);
    }
}

/// Name, namespace, parsed spec and rate of every VirtualService. One whose
/// spec does not parse sends no traffic, as Istio would reject it.
fn hosts(
    objects: &[Arc<DynamicObject>],
    default_rps: f64,
) -> Vec<(String, String, VirtualServiceSpec, f64)> {
    objects
        .iter()
        .filter_map(|vs| {
            let spec = VirtualServiceSpec::deserialize(vs.data.get("spec")?).ok()?;
            let rps = vs
                .annotations()
                .get(RPS_ANNOTATION)
                .and_then(|r| r.trim().parse::<f64>().ok());
            let rps = rps
                .filter(|r| r.is_finite() && *r >= 0.0)
                .unwrap_or(default_rps);
            Some((vs.name_any(), vs.namespace().unwrap_or_default(), spec, rps))
        })
        .collect()
}

async fn serve_metrics(registry: Arc<Mutex<Registry>>) -> impl axum::response::IntoResponse {
    let body = registry.lock().map(|r| r.render()).unwrap_or_default();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

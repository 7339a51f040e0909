//! Mesh stand-in: plays Istio's data plane for the sandbox's workloads.
//!
//! It applies minimal VirtualService and DestinationRule CRDs ([`crds`]),
//! keeps reflectors of VirtualServices, Services and Deployments, and on a
//! fixed tick sends request traffic to every host of every VirtualService
//! ([`traffic`]), in classes carrying headers, cookies, paths or query
//! parameters ([`classes`]), optionally from simulated clients that keep
//! their cookies ([`clients`]). Each request takes the first http route
//! whose matches it meets ([`matching`]), goes by the route weights and is
//! mirrored as the route says ([`routing`]), is served by the ready
//! Deployments behind the destination Services and answered as their pod
//! templates say ([`behaviour`]). The outcomes are Istio's standard metrics
//! ([`metrics`]), served on `/metrics`; each client's recent outcomes are
//! served on `/clients`.
//!
//! It talks to the API server only through a kube `Client`.

pub mod behaviour;
pub mod catalog;
pub mod classes;
pub mod clients;
pub mod crds;
pub mod envoy;
pub mod gateway;
pub mod load;
pub mod matching;
pub mod metrics;
pub mod routing;
pub mod spec;
pub mod traffic;

use crate::standin::{reflect_counted, spawn_until};
use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::reflector::{Store, store::Writer};
use kube::runtime::watcher;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

pub use catalog::RPS_ANNOTATION;
pub use classes::TrafficClass;
pub use crds::{install_istio_crds, istio_crds};
pub use load::{LoadRequest, MeshLoad};

use catalog::{Catalog, Served};
use classes::ClassSet;
use clients::Population;
use metrics::Registry;
use routing::{Cluster, ClusterObjects, ServingRevisions};
use traffic::{Generator, HostTraffic, TickInput};

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
    /// Shares of the traffic carrying headers, cookies, a path or query
    /// parameters (for matched routes); the rest is a plain `GET /`.
    pub header_traffic: Vec<TrafficClass>,
    /// Simulated clients per VirtualService host, each keeping the cookies
    /// responses set (session affinity); 0 sends stateless traffic.
    pub session_clients: usize,
    /// Seed of the clients' weighted destination picks.
    pub seed: u64,
    /// Whether `/metrics` serves the latency histograms (Istio's and Envoy's) beside the
    /// request counters. Histograms are 22 of every 23 series: a benchmark of a thousand
    /// Canaries without latency checks turns them off to keep Prometheus small.
    pub histograms: bool,
}

impl Default for MeshConfig {
    fn default() -> Self {
        Self {
            rps_per_host: 20.0,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tick: Duration::from_millis(100),
            header_traffic: Vec::new(),
            session_clients: 0,
            seed: traffic::DEFAULT_SEED,
            histograms: true,
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
    classes: Mutex<Arc<ClassSet>>,
    session_clients: AtomicUsize,
}

impl Knobs {
    fn rps(&self) -> f64 {
        f64::from_bits(self.rps.load(Ordering::Relaxed))
    }

    fn classes(&self) -> Arc<ClassSet> {
        self.classes.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

/// What the endpoints read and the tick loop writes.
#[derive(Default)]
struct Shared {
    registry: Mutex<Registry>,
    population: Mutex<Population>,
}

/// What the tick reads: the reflectors' stores, and how often each kind of input changed.
#[derive(Clone)]
struct Stores {
    virtual_services: Store<DynamicObject>,
    services: Store<Service>,
    deployments: Store<Deployment>,
    gateway: gateway::GatewayStores,
    changes: Changes,
}

/// Event counts of the watches, by what they feed: the tick rebuilds the routes or the
/// cluster only when its count moved, so a mesh with nothing changing does no more per
/// tick than send its traffic.
#[derive(Clone, Default)]
struct Changes {
    /// VirtualServices, Gateway API routes and Gateways, and Services (a route's
    /// backends must exist to be accepted).
    routes: Arc<AtomicU64>,
    /// Services and Deployments.
    cluster: Arc<AtomicU64>,
}

impl Mesh {
    /// Installs the Istio CRDs, starts the watches, the traffic and the
    /// `/metrics` endpoint.
    pub async fn start(client: Client, cfg: MeshConfig) -> anyhow::Result<Mesh> {
        install_istio_crds(client.clone()).await?;
        crds::install(client.clone(), gateway::gateway_crds()).await?;
        let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
        let addr = listener.local_addr()?;
        let (stop, _) = watch::channel(false);
        let shared = Arc::new(Shared::default());
        let knobs = Arc::new(Knobs {
            rps: AtomicU64::new(cfg.rps_per_host.max(0.0).to_bits()),
            classes: Mutex::new(Arc::new(ClassSet::new(&cfg.header_traffic))),
            session_clients: AtomicUsize::new(cfg.session_clients),
        });

        let gvk = GroupVersionKind::gvk(crds::GROUP, "v1", "VirtualService");
        let resource = ApiResource::from_gvk(&gvk);
        let vs_writer = Writer::new(resource.clone());
        let (svc_writer, deploy_writer) = (Writer::default(), Writer::default());
        let gw_writers = ["HTTPRoute", "GRPCRoute", "Gateway"].map(|k| {
            let ar = gateway::resource(k);
            (Writer::new(ar.clone()), ar)
        });
        let gateway_stores = gateway::GatewayStores {
            http_routes: gw_writers[0].0.as_reader(),
            grpc_routes: gw_writers[1].0.as_reader(),
            gateways: gw_writers[2].0.as_reader(),
        };
        let stores = Stores {
            virtual_services: vs_writer.as_reader(),
            services: svc_writer.as_reader(),
            deployments: deploy_writer.as_reader(),
            gateway: gateway_stores.clone(),
            changes: Changes::default(),
        };
        let changes = stores.changes.clone();
        let routes = vec![changes.routes.clone()];
        let both = vec![changes.routes.clone(), changes.cluster.clone()];
        let cluster = vec![changes.cluster.clone()];
        let vs_api = Api::<DynamicObject>::all_with(client.clone(), &resource);
        let mut tasks = vec![
            spawn_until(
                &stop,
                reflect_counted(
                    "mesh",
                    vs_writer,
                    watcher(vs_api, watcher::Config::default()),
                    routes.clone(),
                ),
            ),
            spawn_until(
                &stop,
                reflect_counted(
                    "mesh",
                    svc_writer,
                    watcher(Api::all(client.clone()), watcher::Config::default()),
                    both,
                ),
            ),
            spawn_until(
                &stop,
                reflect_counted(
                    "mesh",
                    deploy_writer,
                    watcher(Api::all(client.clone()), watcher::Config::default()),
                    cluster,
                ),
            ),
            spawn_until(
                &stop,
                gateway::report_status(client.clone(), gateway_stores, stores.services.clone()),
            ),
        ];
        for (writer, ar) in gw_writers {
            let api = Api::<DynamicObject>::all_with(client.clone(), &ar);
            let stream = watcher(api, watcher::Config::default());
            let changes = routes.clone();
            tasks.push(spawn_until(
                &stop,
                reflect_counted("mesh", writer, stream, changes),
            ));
        }
        let generator = Generator::seeded(cfg.seed);
        let load = MeshLoad::default();
        let generate = generate(
            stores,
            cfg.tick,
            knobs.clone(),
            load.clone(),
            shared.clone(),
            generator,
        );
        tasks.push(spawn_until(&stop, generate));
        let for_clients = shared.clone();
        let app = axum::Router::new()
            .route(
                "/metrics",
                axum::routing::get(move || serve_metrics(shared.clone(), cfg.histograms)),
            )
            .route(
                "/clients",
                axum::routing::get(move || serve_clients(for_clients.clone())),
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

    /// URL of the `/clients` endpoint (see [`clients::PopulationView`]).
    pub fn clients_url(&self) -> String {
        format!("http://{}/clients", self.addr)
    }

    /// Changes the traffic classes (see [`MeshConfig::header_traffic`]).
    pub fn set_header_traffic(&self, classes: Vec<TrafficClass>) {
        if let Ok(mut current) = self.knobs.classes.lock() {
            *current = Arc::new(ClassSet::new(&classes));
        }
    }

    /// A handle that adds load on top of the steady traffic (see [`load`]).
    pub fn load(&self) -> MeshLoad {
        self.load.clone()
    }

    /// Changes the number of simulated clients per host (see
    /// [`MeshConfig::session_clients`]).
    pub fn set_session_clients(&self, clients: usize) {
        self.knobs.session_clients.store(clients, Ordering::Relaxed);
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

/// The tick loop: sends each tick's share of traffic.
async fn generate(
    stores: Stores,
    tick: Duration,
    knobs: Arc<Knobs>,
    load: MeshLoad,
    shared: Arc<Shared>,
    mut generator: Generator,
) {
    let mut catalog = Catalog::default();
    let mut serving = ServingRevisions::default();
    let mut served: Vec<Arc<Served>> = Vec::new();
    let mut objects = Arc::new(ClusterObjects::default());
    // Counts last seen; u64::MAX: never read.
    let (mut routes_seen, mut cluster_seen) = (u64::MAX, u64::MAX);
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last = Instant::now();
    loop {
        interval.tick().await;
        let now = Instant::now();
        let seconds = now.duration_since(last).min(MAX_TICK_GAP).as_secs_f64();
        last = now;
        // Counts are read before the stores: a change landing in between is read now
        // and again next tick, never missed.
        let routes_now = stores.changes.routes.load(Ordering::Acquire);
        let cluster_now = stores.changes.cluster.load(Ordering::Acquire);
        if routes_now != routes_seen {
            let mut routing = stores.virtual_services.state();
            routing.extend(stores.gateway.virtual_services(&stores.services));
            served = catalog.refresh(&routing);
            routes_seen = routes_now;
        }
        if cluster_now != cluster_seen {
            let deployments = stores.deployments.state();
            serving.update(&deployments);
            objects = Arc::new(ClusterObjects::new(stores.services.state(), deployments));
            cluster_seen = cluster_now;
        }
        let cluster = Cluster {
            objects: objects.clone(),
            serving: &serving,
            // Both counts only grow: their sum moves when either does.
            epoch: Some(routes_now.wrapping_add(cluster_now)),
        };
        let classes = knobs.classes();
        let extra: Vec<(LoadRequest, Arc<Served>)> = load
            .active(now)
            .into_iter()
            .filter_map(|request| {
                let routes = load::routes_for(&request, &served)?;
                Some((request, routes))
            })
            .collect();
        let mut traffic = host_traffic(&served, knobs.rps());
        traffic.extend(extra.iter().map(|(request, routes)| HostTraffic {
            key: format!("load/{}/{}", request.namespace, request.host),
            host: &request.host,
            namespace: &routes.namespace,
            vs: &routes.vs,
            rps: request.rps,
        }));
        let input = TickInput {
            classes: &classes,
            cluster: &cluster,
            seconds,
        };
        let (Ok(mut registry), Ok(mut population)) =
            (shared.registry.lock(), shared.population.lock())
        else {
            return;
        };
        let clients = knobs.session_clients.load(Ordering::Relaxed);
        if population.size() != clients {
            population.resize(clients);
        }
        let keys: HashSet<&str> = traffic.iter().map(|h| h.key.as_str()).collect();
        population.retain_hosts(&keys);
        generator.tick(&traffic, &input, &mut registry, &mut population);
    }
}

/// Every host of every served VirtualService with its rate, if it has one.
fn host_traffic(served: &[Arc<Served>], default_rps: f64) -> Vec<HostTraffic<'_>> {
    served
        .iter()
        .filter(|s| s.rps.unwrap_or(default_rps) > 0.0)
        .flat_map(|s| {
            let rps = s.rps.unwrap_or(default_rps);
            s.hosts.iter().map(move |(host, key)| HostTraffic {
                key: key.clone(),
                host,
                namespace: &s.namespace,
                vs: &s.vs,
                rps,
            })
        })
        .collect()
}

async fn serve_clients(shared: Arc<Shared>) -> impl axum::response::IntoResponse {
    let view = shared.population.lock().map(|p| p.view()).ok();
    axum::Json(view)
}

async fn serve_metrics(shared: Arc<Shared>, histograms: bool) -> impl axum::response::IntoResponse {
    let body = shared
        .registry
        .lock()
        .map(|r| r.render_with(histograms))
        .unwrap_or_default();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

//! An in-process Kubernetes API server on loopback HTTP, for tests and demos without a
//! cluster. It implements the API conventions serin, kube-rs and kubectl rely on.
//!
//! Implemented:
//! - discovery (`/version`, `/api`, `/apis`, group and group-version documents; legacy
//!   forms only) and OpenAPI v3 documents declaring server-side field validation;
//! - built-in kinds Namespace, Service, ConfigMap, Secret, Event (core/v1 and
//!   events.k8s.io/v1 over one store), Pod, ReplicaSet, ResourceQuota, LimitRange,
//!   ServiceAccount, Deployment (status and scale subresources), Lease,
//!   HorizontalPodAutoscaler (autoscaling/v2), CustomResourceDefinition; built-ins are
//!   decoded through their k8s-openapi types (unknown fields per `fieldValidation`),
//!   defaulted and validated like on a real server;
//! - CRDs: served as soon as they are written (scope, versions, status/scale subresources,
//!   printer columns, short names, categories), objects pruned, defaulted and validated by
//!   their schema (422 `Status` with causes), deleted with their CRD;
//! - uid, creationTimestamp, one global resourceVersion, `generation`, optimistic
//!   concurrency, finalizers and `deletionTimestamp`, namespace termination, garbage
//!   collection (background, foreground, orphan), label and field selectors, dryRun;
//! - merge, JSON, strategic merge (built-ins) patches and server-side apply, managedFields;
//! - list with `limit`/`continue`; watch with resourceVersion, bookmarks, timeouts,
//!   selectors, `sendInitialEvents`, and 410 Gone beyond the kept history;
//! - `selfsubjectreviews` (`kubectl auth whoami`): the caller is anonymous unless it
//!   impersonates (`--as`), see `reviews.rs`;
//! - Table and PartialObjectMetadata renderings; fault switches and request counters
//!   (also over HTTP: `PUT /sandbox/faults`, `GET`/`DELETE /sandbox/counters`); counters
//!   name subresources as `deployments/status`, `deployments/scale`, and count each
//!   409 answer once more under the verb `conflict`.
//!
//! Answers are always JSON. The protobuf bodies kubectl's typed clients send (`kubectl
//! create namespace|configmap|secret|deployment|service|quota|serviceaccount`, `kubectl
//! autoscale`) are decoded.
//!
//! Knowingly not implemented: authentication and authorization (no RBAC), admission
//! webhooks, protobuf for other kinds and CBOR, aggregated discovery, OpenAPI v2 (kubectl
//! then validates on the server and computes apply patches from its own types), CRD
//! conversion webhooks (CRD versions share one stored form, as with strategy `None`),
//! pods actually running (see the kubelet stand-in), legacy `/watch/` paths, graceful pod
//! deletion, and field selectors limited to what a real server supports (any dotted path
//! is accepted, except on Events which know exactly their own labels).
//!
//! The one lock: a `std::sync::Mutex` over the store; writes are computed outside it on
//! a snapshot and committed if the snapshot is still current, and each stored object keeps
//! its JSON encoding so lists and watch fan-out do not serialize it again.
//!
//! Layout, each part depending only on those after it:
//! - `routes.rs`: the one axum handler, routing by path to the rest;
//! - `verbs/`: what each API verb does (read, watch, write, patching, delete, scale);
//! - `http/`: the server state and request types, responses and renderings, discovery
//!   and OpenAPI documents, protobuf bodies, the test switches;
//! - `admission/`: decoding, defaults and validation of a write;
//! - `storage/`: the store and its change feed, the registry (built-in kinds, CRDs), the
//!   cluster state and commit step, deletion's life cycle, IP allocation;
//! - shared leaves: `error`, [`events`], `selector`, [`jsonpath`], [`table`],
//!   [`patch`] and [`schema`].

mod admission;
mod error;
pub mod events;
mod http;
pub mod jsonpath;
pub mod patch;
mod reviews;
mod routes;
pub mod schema;
mod selector;
mod storage;
pub mod table;
mod verbs;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch as signal;
use tokio::task::JoinHandle;

pub use error::{ApiError, Cause};
pub use http::faults::{Counters, FaultSettings, Faults};

/// How to run the server.
#[derive(Debug, Clone)]
pub struct ApiServerConfig {
    /// Where to listen (default `127.0.0.1:0`, a free port).
    pub addr: SocketAddr,
    /// Watch events kept per resource for resuming watches (older ones answer 410 Gone).
    pub watch_history: usize,
}

impl Default for ApiServerConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            watch_history: 10_000,
        }
    }
}

/// A running API server; dropping it or calling [`ApiServer::shutdown`] stops it.
pub struct ApiServer {
    addr: SocketAddr,
    faults: Faults,
    counters: Counters,
    stop: signal::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl ApiServer {
    /// Binds the listener and serves in a background task.
    pub async fn start(cfg: ApiServerConfig) -> anyhow::Result<ApiServer> {
        let listener = tokio::net::TcpListener::bind(cfg.addr).await?;
        let addr = listener.local_addr()?;
        let published = Arc::new(AtomicU64::new(0));
        let store = storage::store::Store::new(cfg.watch_history, published.clone());
        let (stop, stopped) = signal::channel(false);
        let faults = Faults::default();
        let counters = Counters::default();
        let state = Arc::new(http::server::Server {
            cluster: Mutex::new(storage::cluster::Cluster::new(store)),
            faults: faults.clone(),
            counters: counters.clone(),
            published,
            shutdown: stopped.clone(),
            addr,
        });
        let app = axum::Router::new()
            .fallback(routes::handle)
            .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
            .with_state(state);
        let mut until = stopped;
        let task = tokio::spawn(async move {
            let stop = async move {
                let _ = until.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::warn!(error = %e, "API server stopped with an error");
            }
        });
        Ok(ApiServer {
            addr,
            faults,
            counters,
            stop,
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig with context `sandbox` (namespace `default`, no credentials).
    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: sandbox\n  cluster:\n    server: {}\n\
             contexts:\n- name: sandbox\n  context:\n    cluster: sandbox\n    user: sandbox\n    namespace: default\n\
             current-context: sandbox\nusers:\n- name: sandbox\n  user: {{}}\npreferences: {{}}\n",
            self.url()
        )
    }

    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, self.kubeconfig_yaml())
    }

    pub fn faults(&self) -> Faults {
        self.faults.clone()
    }

    pub fn counters(&self) -> Counters {
        self.counters.clone()
    }

    /// Stops serving: ends watch streams, lets in-flight requests finish (up to 5 s).
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

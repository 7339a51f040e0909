//! The state every request handler shares: the server (the one mutex over the cluster,
//! the test switches, the watch publication mark) and what a handler gets from routing:
//! the request and the resource its path names. Routing itself is in [`crate::apiserver::routes`].

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, header};
use tokio::sync::watch;

use super::faults::{Counters, Faults};
use crate::apiserver::storage::cluster::Cluster;
use crate::apiserver::storage::registry::ResourceDef;

pub struct Server {
    pub cluster: Mutex<Cluster>,
    pub faults: Faults,
    pub counters: Counters,
    /// The highest resourceVersion already handed to watchers.
    pub published: Arc<AtomicU64>,
    /// Becomes true when the server stops (ends watch streams).
    pub shutdown: watch::Receiver<bool>,
    pub addr: std::net::SocketAddr,
}

impl Server {
    pub fn lock(&self) -> MutexGuard<'_, Cluster> {
        self.cluster.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Everything a resource handler needs from the request.
pub struct Req {
    pub method: Method,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Req {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.param(key), Some("true" | "1"))
    }

    pub fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// The resource a path names.
pub struct Target {
    pub def: Arc<ResourceDef>,
    pub version: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

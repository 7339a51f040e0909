//! A stand-in for flagger-loadtester, speaking its HTTP contract, so that a Canary whose
//! webhooks point at `http://flagger-loadtester.test/` works on the sandbox once serin
//! maps that host to this server (the host mapping `flagger-loadtester.test=ADDR`, see
//! `serin::hooks::HostMapping`).
//!
//! Routes, status codes and bodies are the real loadtester's:
//! - `POST /` with the webhook payload: `metadata.type` `cmd` (the default) starts the
//!   command in the background and answers 202 (deduplicated per canary and command;
//!   `hey`/`curl` send their traffic through the mesh stand-in, see [`tasks`]); `bash`
//!   runs it and answers 200 (with the output when `returnCmdOutput` is true) or 500 with
//!   the output; no metadata is 400.
//! - `/gate/approve` 200, `/gate/halt` 403.
//! - `/gate/check` 200 "Approved" when the gate of `name.namespace` is open, else 403
//!   "Forbidden"; `/gate/open` and `/gate/close` (202) change it. Gates start closed.
//! - `/rollback/check|open|close`: the same with a separate gate per canary.
//! - `/healthz` 200.
//!
//! Every request but `/healthz` is recorded ([`LoadTester::requests`]: path and JSON body), so tests can check
//! what a webhook sent.

pub mod tasks;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::any;
use serde::Deserialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::mesh::MeshLoad;
use tasks::Tasks;

/// Settings of the loadtester stand-in.
#[derive(Clone, Debug)]
pub struct LoadTesterConfig {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Longest run of one command (the real one's `-timeout`, default 1h).
    pub timeout: Duration,
}

impl Default for LoadTesterConfig {
    fn default() -> Self {
        LoadTesterConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            timeout: Duration::from_secs(3600),
        }
    }
}

/// The webhook payload as the loadtester reads it.
#[derive(Debug, Default, Deserialize)]
struct Payload {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

/// Gate state per key (`name.namespace`, or `rollback.name.namespace`); closed unless opened.
#[derive(Clone, Debug, Default)]
pub struct Gates(Arc<Mutex<HashMap<String, bool>>>);

impl Gates {
    pub fn open(&self, key: &str) {
        self.set(key, true);
    }

    pub fn close(&self, key: &str) {
        self.set(key, false);
    }

    pub fn is_open(&self, key: &str) -> bool {
        self.0
            .lock()
            .map(|g| g.get(key).copied().unwrap_or(false))
            .unwrap_or(false)
    }

    fn set(&self, key: &str, open: bool) {
        if let Ok(mut gates) = self.0.lock() {
            gates.insert(key.to_owned(), open);
        }
    }
}

/// One request the stand-in received: its path and its body (JSON, or null).
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub path: String,
    pub body: serde_json::Value,
}

/// The requests received, oldest first; the oldest are forgotten past [`MAX_RECORDED`].
#[derive(Clone, Debug, Default)]
struct Recorded(Arc<Mutex<Vec<Request>>>);

/// Requests kept for tests.
const MAX_RECORDED: usize = 10_000;

impl Recorded {
    fn push(&self, path: &str, body: &Bytes) {
        let body = serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
        if let Ok(mut all) = self.0.lock() {
            if all.len() >= MAX_RECORDED {
                all.remove(0);
            }
            all.push(Request {
                path: path.to_owned(),
                body,
            });
        }
    }

    fn all(&self) -> Vec<Request> {
        self.0.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

#[derive(Clone)]
struct Shared {
    gates: Gates,
    tasks: Tasks,
    timeout: Duration,
    recorded: Recorded,
}

/// A running loadtester stand-in.
pub struct LoadTester {
    addr: SocketAddr,
    gates: Gates,
    tasks: Tasks,
    recorded: Recorded,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl LoadTester {
    /// Listens and serves; `mesh` receives the traffic of `hey` and `curl` tasks.
    pub async fn start(cfg: LoadTesterConfig, mesh: Option<MeshLoad>) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
        let addr = listener.local_addr()?;
        let shared = Shared {
            gates: Gates::default(),
            tasks: Tasks::new(mesh, cfg.timeout),
            timeout: cfg.timeout,
            recorded: Recorded::default(),
        };
        let (gates, tasks) = (shared.gates.clone(), shared.tasks.clone());
        let recorded = shared.recorded.clone();
        let (stop, mut stopped) = watch::channel(false);
        let serve = axum::serve(listener, router(shared)).with_graceful_shutdown(async move {
            let _ = stopped.wait_for(|s| *s).await;
        });
        let task = tokio::spawn(async move {
            if let Err(error) = serve.await {
                tracing::warn!(%error, "loadtester stand-in failed");
            }
        });
        Ok(LoadTester {
            addr,
            gates,
            tasks,
            recorded,
            stop,
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL, e.g. `http://127.0.0.1:39001/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The gates, as `/gate/open` and `/gate/close` change them.
    pub fn gates(&self) -> &Gates {
        &self.gates
    }

    /// `cmd` commands started so far, in order.
    pub fn started_commands(&self) -> Vec<String> {
        self.tasks.started()
    }

    /// Every request received so far (path and JSON body), oldest first.
    pub fn requests(&self) -> Vec<Request> {
        self.recorded.all()
    }

    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for LoadTester {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

fn router(shared: Shared) -> Router {
    let fixed = |path: &'static str, status: StatusCode, answer: &'static str| {
        any(move |State(s): State<Shared>, body: Bytes| async move {
            s.recorded.push(path, &body);
            (status, answer)
        })
    };
    Router::new()
        .route("/healthz", any(|| async { (StatusCode::OK, "OK") }))
        .route(
            "/gate/approve",
            fixed("/gate/approve", StatusCode::OK, "OK"),
        )
        .route(
            "/gate/halt",
            fixed("/gate/halt", StatusCode::FORBIDDEN, "Forbidden"),
        )
        .route("/gate/check", any(|s, b| gate(s, b, "", Op::Check)))
        .route("/gate/open", any(|s, b| gate(s, b, "", Op::Open)))
        .route("/gate/close", any(|s, b| gate(s, b, "", Op::Close)))
        .route(
            "/rollback/check",
            any(|s, b| gate(s, b, "rollback.", Op::Check)),
        )
        .route(
            "/rollback/open",
            any(|s, b| gate(s, b, "rollback.", Op::Open)),
        )
        .route(
            "/rollback/close",
            any(|s, b| gate(s, b, "rollback.", Op::Close)),
        )
        .fallback(task)
        .with_state(shared)
}

#[derive(Clone, Copy)]
enum Op {
    Check,
    Open,
    Close,
}

type Answer = (StatusCode, String);

fn parse(body: &Bytes) -> Result<Payload, Answer> {
    serde_json::from_slice(body).map_err(|e| {
        tracing::info!(error = %e, "decoding the request body failed");
        (StatusCode::BAD_REQUEST, String::new())
    })
}

async fn gate(State(s): State<Shared>, body: Bytes, prefix: &str, op: Op) -> Answer {
    let path = match (prefix, op) {
        ("", Op::Check) => "/gate/check",
        ("", Op::Open) => "/gate/open",
        ("", Op::Close) => "/gate/close",
        (_, Op::Check) => "/rollback/check",
        (_, Op::Open) => "/rollback/open",
        (_, Op::Close) => "/rollback/close",
    };
    s.recorded.push(path, &body);
    let payload = match parse(&body) {
        Ok(p) => p,
        Err(answer) => return answer,
    };
    let key = format!("{prefix}{}.{}", payload.name, payload.namespace);
    match op {
        Op::Open => s.gates.open(&key),
        Op::Close => s.gates.close(&key),
        Op::Check if s.gates.is_open(&key) => return (StatusCode::OK, "Approved".into()),
        Op::Check => return (StatusCode::FORBIDDEN, "Forbidden".into()),
    }
    tracing::info!(gate = %key, open = matches!(op, Op::Open), "gate changed");
    (StatusCode::ACCEPTED, String::new())
}

async fn task(State(s): State<Shared>, uri: Uri, body: Bytes) -> Answer {
    s.recorded.push(uri.path(), &body);
    let payload = match parse(&body) {
        Ok(p) => p,
        Err(answer) => return answer,
    };
    let meta = &payload.metadata;
    if meta.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            "metadata not found in payload".into(),
        );
    }
    let canary = format!("{}.{}", payload.name, payload.namespace);
    let command = meta.get("cmd").cloned().unwrap_or_default();
    match meta.get("type").map_or("cmd", String::as_str) {
        "cmd" if !meta.contains_key("cmd") => {
            (StatusCode::BAD_REQUEST, "cmd not found in metadata".into())
        }
        "cmd" => {
            s.tasks.run_cmd(&canary, &payload.namespace, &command);
            (StatusCode::ACCEPTED, String::new())
        }
        "bash" => match tasks::run(&["bash", "-c", &command], s.timeout).await {
            Ok(out) if meta.get("returnCmdOutput").is_some_and(|v| v == "true") => {
                (StatusCode::OK, out)
            }
            Ok(_) => (StatusCode::OK, String::new()),
            Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error),
        },
        other => (
            StatusCode::BAD_REQUEST,
            format!("unknown task type {other}"),
        ),
    }
}

#[cfg(test)]
mod tests;

//! Shared ground for the end-to-end test binaries.
//!
//! One API server per test binary: the sandbox's in-process server, started
//! once on a thread and runtime of its own (each `#[tokio::test]` has a
//! runtime that dies with the test), or the cluster whose kubeconfig
//! `SERIN_E2E_KUBECONFIG` names. Tests reach it only the way users do: kube
//! clients built from the kubeconfig, and `kubectl --kubeconfig` subprocesses.
//!
//! Also here: per-test namespaces, deadline-bound waits, raw HTTP requests.
#![allow(dead_code)] // every test binary uses a different part of this

pub mod kubectl;
pub mod raw;

use anyhow::{Context, Result, anyhow};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde_json::json;
use serin_sandbox::apiserver::{ApiServer, ApiServerConfig, Counters, Faults};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The environment variable naming a real cluster's kubeconfig.
pub const KUBECONFIG_ENV: &str = "SERIN_E2E_KUBECONFIG";

/// The API server a test binary talks to.
pub struct Target {
    pub kubeconfig: PathBuf,
    /// Scratch space of this process (kubectl's discovery cache, manifests).
    pub workdir: PathBuf,
    /// Handles on the in-process server; `None` against a real cluster.
    pub local: Option<Local>,
}

/// Handles on the in-process server's test switches.
pub struct Local {
    pub url: String,
    pub faults: Faults,
    pub counters: Counters,
}

static TARGET: OnceLock<Target> = OnceLock::new();

/// The shared target, starting the in-process server on first use.
pub fn target() -> &'static Target {
    TARGET.get_or_init(|| {
        let workdir = workdir();
        match std::env::var_os(KUBECONFIG_ENV) {
            Some(path) => Target {
                kubeconfig: path.into(),
                workdir,
                local: None,
            },
            None => start_shared_server(workdir),
        }
    })
}

/// True when the suite runs against a real cluster (sandbox-only tests skip).
pub fn is_remote() -> bool {
    target().local.is_none()
}

fn workdir() -> PathBuf {
    let base = std::env::temp_dir();
    remove_stale_workdirs(&base);
    let dir = base.join(format!("serin-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Removes the scratch directories of earlier runs whose process is gone.
fn remove_stale_workdirs(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("serin-e2e-")
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn start_shared_server(workdir: PathBuf) -> Target {
    let (tx, rx) = std::sync::mpsc::channel();
    let kubeconfig = workdir.join("kubeconfig");
    let path = kubeconfig.clone();
    let spawned = std::thread::Builder::new()
        .name("shared-apiserver".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return drop(tx.send(Err(anyhow!("runtime: {e}")))),
            };
            runtime.block_on(async move {
                let started = async {
                    let server = ApiServer::start(ApiServerConfig::default()).await?;
                    server.write_kubeconfig(&path)?;
                    anyhow::Ok(server)
                };
                match started.await {
                    Ok(server) => {
                        let local = Local {
                            url: server.url(),
                            faults: server.faults(),
                            counters: server.counters(),
                        };
                        let _ = tx.send(Ok(local));
                        // Serve until the test process exits.
                        std::future::pending::<()>().await;
                        drop(server);
                    }
                    Err(e) => drop(tx.send(Err(e))),
                }
            });
        });
    if let Err(e) = spawned {
        panic!("cannot spawn the API server thread: {e}");
    }
    match rx.recv() {
        Ok(Ok(local)) => Target {
            kubeconfig,
            workdir,
            local: Some(local),
        },
        Ok(Err(e)) => panic!("the in-process API server did not start: {e:#}"),
        Err(_) => panic!("the API server thread ended before reporting"),
    }
}

/// A kube client for the target, made in the calling test's runtime.
pub async fn client() -> Result<Client> {
    client_for(&target().kubeconfig).await
}

/// A kube client for the kubeconfig at `path`.
pub async fn client_for(path: &Path) -> Result<Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kubeconfig =
        Kubeconfig::read_from(path).with_context(|| format!("reading {}", path.display()))?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(config)?)
}

/// A server of one test only (sandbox-only tests: faults, counters, small
/// watch history), with a client for it; it stops when dropped.
pub async fn private_server(config: ApiServerConfig) -> Result<(ApiServer, Client)> {
    let server = ApiServer::start(config).await?;
    let path = target()
        .workdir
        .join(format!("private-{}.kubeconfig", suffix()));
    server.write_kubeconfig(&path)?;
    let client = client_for(&path).await?;
    Ok((server, client))
}

/// A short random suffix for names that must not collide across runs.
pub fn suffix() -> String {
    format!("{:06x}", rand::random::<u32>() & 0xff_ffff)
}

/// A namespace of one test: created at the start, deleted at the end (also
/// when the test fails, by a `kubectl delete` from `Drop`).
pub struct TestNs {
    pub name: String,
    pub client: Client,
    deleted: bool,
}

impl TestNs {
    /// Creates `<prefix>-<random>`.
    pub async fn create(prefix: &str) -> Result<Self> {
        let client = client().await?;
        let name = format!("{prefix}-{}", suffix());
        let ns: Namespace = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"e2e.serin.dev/suite": "conformance"}}
        }))?;
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await?;
        Ok(Self {
            name,
            client,
            deleted: false,
        })
    }

    /// Wraps a namespace created some other way (e.g. `kubectl create namespace`).
    pub fn adopt(name: &str, client: Client) -> Self {
        Self {
            name: name.to_string(),
            client,
            deleted: false,
        }
    }

    /// An `Api` for namespaced kind `K` in this namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }

    /// Deletes the namespace (without waiting for its contents to go).
    pub async fn delete(mut self) -> Result<()> {
        self.deleted = true;
        let api = Api::<Namespace>::all(self.client.clone());
        match api.delete(&self.name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        if self.deleted {
            return;
        }
        // Async work cannot run here; a failed test still cleans up after itself.
        let _ = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&target().kubeconfig)
            .args([
                "delete",
                "namespace",
                &self.name,
                "--wait=false",
                "--ignore-not-found",
            ])
            .output();
    }
}

/// Polls `probe` every 50 ms until it yields `Some`, failing after `timeout`
/// with the last error the probe returned.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match probe().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => String::from("condition not met"),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() >= deadline {
            return Err(anyhow!(
                "timed out after {timeout:?} waiting for {what}: {last}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The usual deadline of a wait (generous: a real cluster is slower).
pub const WAIT: Duration = Duration::from_secs(20);

/// The deadline of a wait for the garbage collector to delete dependents of custom
/// resources. A real collector learns of a new CRD kind only at its next discovery
/// resync (every 30 s), so it may take that long to start; the sandbox collects at once.
pub fn gc_wait() -> Duration {
    if is_remote() {
        Duration::from_secs(60)
    } else {
        WAIT
    }
}

/// The API error status of a failed call (`code`, `reason`, `message`).
pub fn api_error<T: std::fmt::Debug>(result: kube::Result<T>) -> Result<kube::core::Status> {
    match result {
        Err(kube::Error::Api(status)) => Ok(*status),
        other => Err(anyhow!("expected an API error, got {other:?}")),
    }
}

/// The `resourceVersion` of an object as a number: etcd revisions grow
/// monotonically across all kinds, and so must the sandbox's.
pub fn rv_number(rv: Option<&String>) -> Result<u64> {
    let rv = rv.ok_or_else(|| anyhow!("no resourceVersion"))?;
    rv.parse()
        .with_context(|| format!("resourceVersion {rv:?} is not a number"))
}

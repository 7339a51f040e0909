//! Which API server a test binary talks to, read from `SERIN_E2E_KUBECONFIG`
//! here and nowhere else.
//!
//! Two shapes share that one reading:
//! - [`target`]: an API server alone (the conformance suite): the sandbox's
//!   in-process server, or the cluster the variable names;
//! - [`sandbox`]: the whole sandbox (the chain tests and the scenarios): the
//!   in-process server or that cluster, plus the kubelet and mesh stand-ins
//!   and Prometheus.
//!
//! Each starts once per test binary, on a thread and runtime of its own
//! (each `#[tokio::test]` has a runtime that dies with the test). Tests reach
//! it only the way users do: kube clients built from the kubeconfig, and
//! `kubectl --kubeconfig` subprocesses.

use anyhow::{Context, Result, anyhow};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serin_sandbox::apiserver::{ApiServer, ApiServerConfig, Counters, Faults};
use serin_sandbox::autoscaler::AutoscalerConfig;
use serin_sandbox::sandbox::{Sandbox, SandboxOptions};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The environment variable naming a real cluster's kubeconfig.
pub const KUBECONFIG_ENV: &str = "SERIN_E2E_KUBECONFIG";

/// The kubeconfig of the real cluster to run against, if one is named.
pub fn attached() -> Option<&'static Path> {
    static ATTACHED: OnceLock<Option<PathBuf>> = OnceLock::new();
    ATTACHED
        .get_or_init(|| std::env::var_os(KUBECONFIG_ENV).map(PathBuf::from))
        .as_deref()
}

/// True when the tests run against a real cluster (sandbox-only tests skip).
pub fn is_remote() -> bool {
    attached().is_some()
}

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

/// The shared API server, starting the in-process one on first use.
pub fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| match attached() {
        Some(path) => Target {
            kubeconfig: path.to_path_buf(),
            workdir: workdir().to_path_buf(),
            local: None,
        },
        None => start_shared_server(),
    })
}

fn start_shared_server() -> Target {
    let kubeconfig = workdir().join("kubeconfig");
    let path = kubeconfig.clone();
    let local = on_own_runtime("shared-apiserver", move || async move {
        let server = ApiServer::start(ApiServerConfig::default()).await?;
        server.write_kubeconfig(&path)?;
        let local = Local {
            url: server.url(),
            faults: server.faults(),
            counters: server.counters(),
        };
        Ok((local, server))
    });
    match local {
        Ok(local) => Target {
            kubeconfig,
            workdir: workdir().to_path_buf(),
            local: Some(local),
        },
        Err(e) => panic!("the in-process API server did not start: {e:#}"),
    }
}

/// The whole sandbox shared by the tests of one binary, started on first use;
/// attached to the real cluster when one is named. Clients are made per test
/// with [`Sandbox::client`]. Panics when it cannot start: no test can run
/// without it.
pub fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| {
        // An attached cluster runs its own HPA controller; two would fight.
        let autoscaler = AutoscalerConfig {
            hpa_controller: attached().is_none(),
            ..Default::default()
        };
        let opts = SandboxOptions {
            attach: attached().map(Path::to_path_buf),
            autoscaler,
            ..Default::default()
        };
        let started = on_own_runtime("sandbox", move || async move {
            // The sandbox's tasks run on this runtime; it lives until the process ends.
            Ok((Sandbox::start(opts).await?, ()))
        });
        started.unwrap_or_else(|e| panic!("the sandbox did not start: {e:#}"))
    })
}

/// Runs `start` on a new thread with a multi-thread runtime that lives until
/// the process ends, and returns the first half of what it yields; the second
/// half (what must stay alive, such as the server) stays on that thread.
fn on_own_runtime<T, K, F, Fut>(name: &str, start: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(T, K)>>,
{
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name(name.into())
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
                match start().await {
                    Ok((value, keep)) => {
                        let _ = tx.send(Ok(value));
                        // Serve until the test process exits.
                        std::future::pending::<()>().await;
                        drop(keep);
                    }
                    Err(e) => drop(tx.send(Err(e))),
                }
            });
        });
    if let Err(e) = spawned {
        return Err(anyhow!("cannot spawn the {name} thread: {e}"));
    }
    rx.recv()
        .map_err(|_| anyhow!("the {name} thread ended before reporting"))?
}

/// The scratch directory of this test process, made on first use.
pub fn workdir() -> &'static Path {
    static WORKDIR: OnceLock<PathBuf> = OnceLock::new();
    WORKDIR.get_or_init(|| {
        let base = std::env::temp_dir();
        remove_stale_workdirs(&base);
        let dir = base.join(format!("serin-e2e-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        dir
    })
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
    let path = workdir().join(format!("private-{}.kubeconfig", super::suffix()));
    server.write_kubeconfig(&path)?;
    let client = client_for(&path).await?;
    Ok((server, client))
}

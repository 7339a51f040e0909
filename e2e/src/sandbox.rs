//! The whole sandbox, assembled: an API server (the in-process one, or an
//! existing one to attach to), the kubelet, mesh and autoscaler stand-ins, a real
//! Prometheus scraping the mesh, and the loadtester and alert-receiver
//! stand-ins on loopback. Used by `serin-sandbox up` and by the
//! end-to-end tests (their support module shares one per test binary).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::apiserver::{ApiServer, ApiServerConfig};
use crate::autoscaler::{Autoscaler, AutoscalerConfig};
use crate::kubelet::{self, KubeletConfig};
use crate::loadtester::{LoadTester, LoadTesterConfig};
use crate::mesh::{Mesh, MeshConfig};
use crate::prometheus::Prometheus;
use crate::receiver::Receiver;

/// What to start and how.
#[derive(Clone, Debug, Default)]
pub struct SandboxOptions {
    /// Kubeconfig of an existing API server to attach to; none starts the
    /// in-process one.
    pub attach: Option<PathBuf>,
    /// Where to write the in-process API server's kubeconfig; none writes a
    /// temporary file, removed on shutdown.
    pub kubeconfig_out: Option<PathBuf>,
    pub kubelet: KubeletConfig,
    pub mesh: MeshConfig,
    pub autoscaler: AutoscalerConfig,
}

/// A running sandbox.
pub struct Sandbox {
    /// Kubeconfig of the API server in use.
    pub kubeconfig: PathBuf,
    /// Base URL of Prometheus, e.g. `http://127.0.0.1:39123`.
    pub prometheus_url: String,
    /// URL of the mesh stand-in's `/metrics`.
    pub mesh_metrics_url: String,
    /// Base URL of the loadtester stand-in, e.g. `http://127.0.0.1:39001/`; serin reaches
    /// it as `http://flagger-loadtester.test/` through the host mapping
    /// `flagger-loadtester.test=<its address>` (`serin::hooks::HostMapping`).
    pub loadtester_url: String,
    /// Base URL of the alert receiver, e.g. `http://127.0.0.1:39002`.
    pub receiver_url: String,
    /// The in-process API server; none when attached.
    pub api: Option<ApiServer>,
    config: kube::Config,
    mesh: Option<Mesh>,
    loadtester: Option<LoadTester>,
    receiver: Option<Receiver>,
    autoscaler: Option<Autoscaler>,
    // Behind a mutex only so that a shared sandbox can be `Sync`.
    prometheus: Mutex<Option<Prometheus>>,
    kubelet: Option<(oneshot::Sender<()>, JoinHandle<anyhow::Result<()>>)>,
    temporary_kubeconfig: bool,
}

impl Sandbox {
    /// Starts everything; on failure, stops what had started.
    pub async fn start(opts: SandboxOptions) -> anyhow::Result<Sandbox> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (api, kubeconfig, temporary_kubeconfig) = match &opts.attach {
            Some(path) => (None, path.clone(), false),
            None => {
                let api = ApiServer::start(ApiServerConfig::default())
                    .await
                    .context("starting the API server")?;
                let (path, temporary) = match &opts.kubeconfig_out {
                    Some(path) => (path.clone(), false),
                    None => (temporary_kubeconfig_path(), true),
                };
                api.write_kubeconfig(&path)
                    .with_context(|| format!("writing {}", path.display()))?;
                (Some(api), path, temporary)
            }
        };
        let config = match load_config(&kubeconfig).await {
            Ok(config) => config,
            Err(error) => {
                if let Some(api) = api {
                    api.shutdown().await;
                }
                if temporary_kubeconfig {
                    let _ = std::fs::remove_file(&kubeconfig);
                }
                return Err(error);
            }
        };
        let mut sandbox = Sandbox {
            kubeconfig,
            prometheus_url: String::new(),
            mesh_metrics_url: String::new(),
            loadtester_url: String::new(),
            receiver_url: String::new(),
            api,
            config,
            mesh: None,
            loadtester: None,
            receiver: None,
            autoscaler: None,
            prometheus: Mutex::new(None),
            kubelet: None,
            temporary_kubeconfig,
        };
        match sandbox.start_parts(opts).await {
            Ok(()) => Ok(sandbox),
            Err(error) => {
                sandbox.shutdown().await;
                Err(error)
            }
        }
    }

    async fn start_parts(&mut self, opts: SandboxOptions) -> anyhow::Result<()> {
        let client = kube::Client::try_from(self.config.clone()).context("building a client")?;
        let (stop, stopped) = oneshot::channel::<()>();
        let kubelet = kubelet::run(client.clone(), opts.kubelet, async move {
            let _ = stopped.await;
        });
        self.kubelet = Some((stop, tokio::spawn(kubelet)));
        let mesh = Mesh::start(client.clone(), opts.mesh)
            .await
            .context("starting the mesh stand-in")?;
        self.mesh_metrics_url = mesh.metrics_url();
        let addr = mesh.addr();
        let load = mesh.load();
        self.mesh = Some(mesh);
        let loadtester = LoadTester::start(LoadTesterConfig::default(), Some(load))
            .await
            .context("starting the loadtester stand-in")?;
        self.loadtester_url = loadtester.url();
        self.loadtester = Some(loadtester);
        let receiver = Receiver::start(([127, 0, 0, 1], 0).into())
            .await
            .context("starting the alert receiver")?;
        self.receiver_url = receiver.url();
        self.receiver = Some(receiver);
        let mut autoscaler = opts.autoscaler;
        autoscaler.mesh_metrics_url = Some(self.mesh_metrics_url.clone());
        let autoscaler = Autoscaler::start(client, autoscaler)
            .await
            .context("starting the autoscaler stand-ins")?;
        self.autoscaler = Some(autoscaler);
        let prometheus = Prometheus::start(&[addr]).await?;
        self.prometheus_url = prometheus.url.clone();
        if let Ok(mut slot) = self.prometheus.lock() {
            *slot = Some(prometheus);
        }
        Ok(())
    }

    /// A new client of the sandbox's API server, bound to the caller's runtime.
    pub async fn client(&self) -> kube::Client {
        // The same config built a client when the sandbox started.
        kube::Client::try_from(self.config.clone())
            .expect("the sandbox's kubeconfig yields a client")
    }

    /// Has Prometheus scrape a serin process' `/metrics` at `addr` (concurrent calls are
    /// serialised by the Prometheus slot's lock).
    pub fn scrape_serin(&self, addr: std::net::SocketAddr) -> anyhow::Result<()> {
        let slot = self
            .prometheus
            .lock()
            .map_err(|_| anyhow::anyhow!("the Prometheus slot is poisoned"))?;
        match slot.as_ref() {
            Some(p) => p.scrape_serin(addr),
            None => anyhow::bail!("Prometheus is not running"),
        }
    }

    /// The process id of Prometheus, while running.
    pub fn prometheus_pid(&self) -> Option<u32> {
        self.prometheus.lock().ok()?.as_ref()?.pid()
    }

    /// The mesh stand-in (for its request rate), while running.
    pub fn mesh(&self) -> Option<&Mesh> {
        self.mesh.as_ref()
    }

    /// The loadtester stand-in (its gates, the commands it started), while running.
    pub fn loadtester(&self) -> Option<&LoadTester> {
        self.loadtester.as_ref()
    }

    /// The alert receiver (what it recorded), while running.
    pub fn receiver(&self) -> Option<&Receiver> {
        self.receiver.as_ref()
    }

    /// Stops everything, Prometheus first, and removes temporary files.
    pub async fn shutdown(mut self) {
        let prometheus = self.prometheus.lock().ok().and_then(|mut p| p.take());
        if let Some(prometheus) = prometheus {
            prometheus.shutdown().await;
        }
        if let Some(loadtester) = self.loadtester.take() {
            loadtester.shutdown().await;
        }
        if let Some(receiver) = self.receiver.take() {
            receiver.shutdown().await;
        }
        if let Some(mesh) = self.mesh.take() {
            mesh.shutdown().await;
        }
        if let Some(autoscaler) = self.autoscaler.take() {
            autoscaler.shutdown().await;
        }
        if let Some((stop, task)) = self.kubelet.take() {
            let _ = stop.send(());
            match task.await {
                Ok(Err(error)) => tracing::warn!(%error, "kubelet stand-in failed"),
                Err(error) => tracing::warn!(%error, "kubelet stand-in panicked"),
                Ok(Ok(())) => {}
            }
        }
        if let Some(api) = self.api.take() {
            api.shutdown().await;
        }
        if self.temporary_kubeconfig {
            let _ = std::fs::remove_file(&self.kubeconfig);
        }
    }
}

async fn load_config(path: &Path) -> anyhow::Result<kube::Config> {
    let kubeconfig =
        Kubeconfig::read_from(path).with_context(|| format!("reading {}", path.display()))?;
    kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .with_context(|| format!("loading {}", path.display()))
}

/// Prefix of temporary kubeconfig files, followed by the owner's pid.
const KUBECONFIG_PREFIX: &str = "serin-sandbox-kubeconfig-";

fn temporary_kubeconfig_path() -> PathBuf {
    crate::prometheus::remove_stale_temp_entries(KUBECONFIG_PREFIX);
    let name = format!(
        "{KUBECONFIG_PREFIX}{}-{}.yaml",
        std::process::id(),
        uuid::Uuid::new_v4()
    );
    std::env::temp_dir().join(name)
}

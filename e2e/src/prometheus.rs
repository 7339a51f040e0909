//! Real Prometheus launcher: runs Debian's `prometheus` binary on a free
//! loopback port with a temporary TSDB, scraping the given targets every
//! second, and stops it (leaving no process behind) on shutdown or drop.

mod child;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::time::Instant;

use child::Child;

/// How long Prometheus gets to answer `/-/ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts at a free port: another process may take the port between the
/// probe and Prometheus binding it.
const PORT_ATTEMPTS: usize = 3;
/// File (in the config's directory) listing the serin processes to scrape.
const SERIN_TARGETS: &str = "serin-targets.json";
/// Prefix of the temporary directories, followed by the owner's pid.
const DIR_PREFIX: &str = "serin-sandbox-prometheus-";

/// A running Prometheus server.
pub struct Prometheus {
    /// Base URL, e.g. `http://127.0.0.1:39123`.
    pub url: String,
    dir: PathBuf,
    child: Option<Child>,
}

impl Prometheus {
    /// Starts Prometheus scraping `targets` (host:port serving `/metrics`)
    /// every second and waits until it is ready.
    pub async fn start(targets: &[SocketAddr]) -> anyhow::Result<Prometheus> {
        let binary = find_binary().context(
            "the `prometheus` binary is missing: install it with `apt-get install -y prometheus` \
             (or put it on PATH)",
        )?;
        remove_stale_temp_entries(DIR_PREFIX);
        let dir = std::env::temp_dir().join(format!(
            "{DIR_PREFIX}{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(dir.join("data"))
            .with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(dir.join("prometheus.yml"), config(targets))
            .context("writing the Prometheus config")?;
        std::fs::write(dir.join(SERIN_TARGETS), "[]").context("writing the serin targets")?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match launch(&binary, &dir).await {
                Ok((child, url)) => {
                    return Ok(Prometheus {
                        url,
                        dir,
                        child: Some(child),
                    });
                }
                // An early exit is most likely a port taken meanwhile: retry.
                Err(Launch::Exited(_)) if attempt < PORT_ATTEMPTS => continue,
                Err(Launch::Exited(error) | Launch::Failed(error)) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    return Err(error);
                }
            }
        }
    }

    /// Scrapes serin's `/metrics` at `addr` too (job `serin`), as a cluster's Prometheus
    /// scrapes the controller; Prometheus picks the file up within a second or two.
    pub fn scrape_serin(&self, addr: SocketAddr) -> anyhow::Result<()> {
        let path = self.dir.join(SERIN_TARGETS);
        let mut targets: Vec<serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_default())
                .unwrap_or_default();
        targets.push(serde_json::json!({ "targets": [addr.to_string()] }));
        // Written whole then renamed, so Prometheus never reads half a file.
        let partial = self.dir.join(format!("{SERIN_TARGETS}.partial"));
        std::fs::write(&partial, serde_json::to_vec(&targets)?)?;
        std::fs::rename(&partial, &path).context("updating the serin targets")?;
        Ok(())
    }

    /// The process id of the Prometheus server (for its CPU and memory in benchmarks).
    pub fn pid(&self) -> Option<u32> {
        self.child
            .as_ref()
            .and_then(|c| u32::try_from(c.pid()).ok())
    }

    /// The directory holding the config, the TSDB and the log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops Prometheus and removes its directory.
    pub async fn shutdown(self) {
        // Stopping blocks on the child's exit, which takes a moment.
        let _ = tokio::task::spawn_blocking(move || drop(self)).await;
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.stop();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Why one launch failed.
enum Launch {
    /// Prometheus exited before it was ready.
    Exited(anyhow::Error),
    Failed(anyhow::Error),
}

/// Starts Prometheus on a free port and waits until it is ready.
async fn launch(binary: &Path, dir: &Path) -> Result<(Child, String), Launch> {
    let port = free_port().map_err(Launch::Failed)?;
    let log_path = dir.join("prometheus.log");
    let log = std::fs::File::create(&log_path)
        .context("creating the Prometheus log")
        .map_err(Launch::Failed)?;
    let mut command = Command::new(binary);
    command
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg("--storage.tsdb.retention.time=1h")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    let mut child = Child::spawn(command, "prometheus")
        .with_context(|| format!("starting {}", binary.display()))
        .map_err(Launch::Failed)?;
    let url = format!("http://127.0.0.1:{port}");
    let explain = |error: anyhow::Error| {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        error.context(format!(
            "prometheus at {url} did not become ready; its log ends with:\n{tail}"
        ))
    };
    match wait_ready(&mut child, &url).await {
        Ok(()) => Ok((child, url)),
        Err(error) if child.try_status().is_some() => Err(Launch::Exited(explain(error))),
        Err(error) => Err(Launch::Failed(explain(error))),
    }
}

/// Polls `/-/ready` until it answers 200, the child exits or the deadline passes.
async fn wait_ready(child: &mut Child, url: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let ready_url = format!("{url}/-/ready");
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = child.try_status() {
            bail!("prometheus exited: {status:?}");
        }
        if let Ok(response) = http.get(&ready_url).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("not ready after {READY_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The scrape configuration: every target every second; the `serin` job's targets come
/// from [`SERIN_TARGETS`] (see [`Prometheus::scrape_serin`]).
fn config(targets: &[SocketAddr]) -> String {
    let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: sandbox-mesh\n    metrics_path: /metrics\n    \
         static_configs:\n      - targets: [{}]\n  \
         - job_name: serin\n    metrics_path: /metrics\n    \
         file_sd_configs:\n      - files: ['{SERIN_TARGETS}']\n        refresh_interval: 1s\n",
        targets.join(", ")
    )
}

/// `/usr/bin/prometheus`, or `prometheus` on PATH.
fn find_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::iter::once(PathBuf::from("/usr/bin"))
        .chain(std::env::split_paths(&path))
        .map(|dir| dir.join("prometheus"))
        .find(|candidate| candidate.is_file())
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).context("probing for a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Removes temporary files and directories named `{prefix}{pid}-...` whose
/// process is gone: sandboxes killed before they could clean up, and the
/// shared test sandbox, which is never shut down.
pub(crate) fn remove_stale_temp_entries(prefix: &str) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else {
            continue;
        };
        let pid = rest
            .split('-')
            .next()
            .and_then(|p| p.parse::<libc::pid_t>().ok());
        if pid.is_some_and(|pid| !child::alive(pid)) {
            let path = entry.path();
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(path)
            } else {
                std::fs::remove_file(path)
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_scrapes_every_target_every_second() {
        let text = config(&[
            "127.0.0.1:9000".parse().expect("addr"),
            "127.0.0.1:9001".parse().expect("addr"),
        ]);
        assert!(text.contains("scrape_interval: 1s") && text.contains("evaluation_interval: 1s"));
        assert!(text.contains("targets: ['127.0.0.1:9000', '127.0.0.1:9001']"));
    }

    /// Starts the real binary against a static target and checks it scrapes.
    #[tokio::test]
    async fn scrapes_a_static_target_and_stops() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let target = listener.local_addr().expect("addr");
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(|| async { "# TYPE sandbox_up gauge\nsandbox_up 1\n" }),
        );
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let prometheus = Prometheus::start(&[target])
            .await
            .expect("prometheus starts");
        let dir = prometheus.dir().to_owned();
        let client =
            prometheus_http_query::Client::try_from(prometheus.url.as_str()).expect("client");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let result = client.query("sandbox_up").get().await;
            let samples = result
                .ok()
                .and_then(|r| r.data().as_vector().map(|v| v.len()))
                .unwrap_or(0);
            if samples == 1 {
                break;
            }
            assert!(Instant::now() < deadline, "no sample of sandbox_up scraped");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        prometheus.shutdown().await;
        assert!(!dir.exists());
        server.abort();
    }
}

//! `serin run` as an operator meets it when something is wrong: one clear line for a
//! missing CRD or an unreachable API server, and a prompt stop on SIGTERM even while the
//! API server does not answer; and a cluster without the Gateway API CRDs
//! ([`without_gateway_api`]).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serin_sandbox::apiserver::{ApiServer, ApiServerConfig};

mod support;

use support::{free_port, serin_bin, workdir};

#[path = "cli/without_gateway_api.rs"]
mod without_gateway_api;

/// A kubeconfig for `url`, in the test process' scratch directory.
fn kubeconfig_for(url: &str) -> PathBuf {
    let path = workdir().join(format!(
        "kubeconfig-{}",
        url.rsplit(':').next().unwrap_or("x")
    ));
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {url}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user: {{}}\ncurrent-context: c\n"
        ),
    )
    .expect("write kubeconfig");
    path
}

/// Runs `serin run` to completion (with a deadline) and returns (exit ok, stderr).
fn run_to_end(kubeconfig: &Path, secs: u64) -> (bool, String) {
    let mut child = Command::new(serin_bin())
        .args([
            "run",
            "--log-format",
            "text",
            "--listen",
            "127.0.0.1:0",
            "--kubeconfig",
        ])
        .arg(kubeconfig)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn serin");
    let deadline = Instant::now() + Duration::from_secs(secs);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("serin did not exit within {secs}s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read stderr");
    (status.success(), err)
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_crds_are_one_clear_line() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = ApiServer::start(ApiServerConfig::default())
        .await
        .expect("api server");
    let kc = workdir().join("missing-crds.kubeconfig");
    server.write_kubeconfig(&kc).expect("kubeconfig");
    let (ok, err) = tokio::task::spawn_blocking(move || run_to_end(&kc, 30))
        .await
        .expect("join");
    assert!(!ok);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: the serin CRDs are not installed"),
        "{err}"
    );
}

#[test]
fn an_unreachable_api_server_is_one_clear_line() {
    let port = free_port();
    let kc = kubeconfig_for(&format!("http://127.0.0.1:{port}"));
    let (ok, err) = run_to_end(&kc, 30);
    assert!(!ok);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: cannot reach the Kubernetes API server"),
        "{err}"
    );
}

#[test]
fn sigterm_stops_serin_promptly_while_the_api_server_does_not_answer() {
    // A server that accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    let kc = kubeconfig_for(&url);
    let mut child = Command::new(serin_bin())
        .args([
            "run",
            "--log-format",
            "text",
            "--listen",
            "127.0.0.1:0",
            "--kubeconfig",
        ])
        .arg(&kc)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn serin");
    // Wait until it is connecting, then ask it to stop.
    let mut stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut seen = String::new();
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            if seen.contains("connecting to the Kubernetes API server") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("serin started connecting");
    let sent = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = sent + Duration::from_secs(3);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "serin ignored SIGTERM for 3s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

//! Rollout benchmark: many Canaries rolled out at once by one release-built serin against
//! the sandbox. Prints what the project measures itself by: how fast a new revision is
//! noticed, how many API calls a step costs, and serin's memory and CPU.
//!
//! ```sh
//! cargo build --release -p serin && cargo bench -p serin-sandbox --bench rollout
//! BENCH_CANARIES=200 cargo bench -p serin-sandbox --bench rollout
//! ```
//! The Canaries have no metric checks: this measures the controller, not Prometheus.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use serin::api::{Canary, Phase};
use serin_sandbox::mesh::MeshConfig;
use serin_sandbox::sandbox::{Sandbox, SandboxOptions};

const NS: &str = "bench";
/// Weights 25 and 50, then promotion: two analysis steps per rollout.
const STEPS: u64 = 2;

fn canary(i: usize) -> serde_json::Value {
    json!({
        "apiVersion": "serin.dev/v1beta1", "kind": "Canary",
        "metadata": {"name": format!("app-{i}"), "namespace": NS},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": format!("app-{i}")},
            "service": {"port": 80},
            "analysis": {"interval": "2s", "threshold": 5, "stepWeight": 25, "maxWeight": 50}
        }
    })
}

fn deployment(i: usize, rev: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": format!("app-{i}"), "namespace": NS},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": format!("app-{i}")}},
            "template": {
                "metadata": {"labels": {"app": format!("app-{i}")}},
                "spec": {"containers": [{"name": "app", "image": format!("app:{rev}")}]}
            }
        }
    }))
    .expect("deployment")
}

/// serin's API calls by (verb, resource), scraped from its /metrics.
async fn api_calls(port: u16) -> BTreeMap<String, f64> {
    let body = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .and_then(|r| r.error_for_status())
        .expect("serin /metrics");
    let body = body.text().await.unwrap_or_default();
    body.lines()
        .filter(|l| l.starts_with("serin_kube_api_requests_total{"))
        .filter_map(|l| {
            let (labels, value) = l.rsplit_once(' ')?;
            let verb = labels.split("verb=\"").nth(1)?.split('"').next()?;
            let resource = labels.split("resource=\"").nth(1)?.split('"').next()?;
            Some((format!("{verb} {resource}"), value.parse().ok()?))
        })
        .collect()
}

fn proc_stats(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of /proc/pid/stat, in clock ticks (100 Hz).
    let ticks: f64 = fields
        .get(11)
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
    (rss_kb / 1024.0, ticks / 100.0)
}

async fn wait_all(api: &Api<Canary>, n: usize, phase: Phase, secs: u64) -> Duration {
    let start = Instant::now();
    loop {
        let list = api.list(&Default::default()).await.expect("list canaries");
        let done = list
            .items
            .iter()
            .filter(|c| c.status.as_ref().and_then(|s| s.phase) == Some(phase))
            .count();
        if done == n {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "{done}/{n} canaries {phase} after {secs}s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let n: usize = std::env::var("BENCH_CANARIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let default_bin = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/serin");
    let serin_path = std::env::var("SERIN_BIN").unwrap_or_else(|_| default_bin.to_string());
    let serin = serin_path.as_str();
    assert!(
        std::path::Path::new(serin).exists(),
        "build serin first: cargo build --release -p serin"
    );

    let opts = SandboxOptions {
        mesh: MeshConfig {
            rps_per_host: 2.0,
            ..Default::default()
        },
        ..Default::default()
    };
    let sandbox = Sandbox::start(opts).await.expect("sandbox");
    let client = sandbox.client().await;
    let kubectl = |args: &[&str], stdin: &[u8]| {
        let mut child = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&sandbox.kubeconfig)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("kubectl");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin)
            .expect("stdin");
        assert!(child.wait().expect("kubectl").success(), "kubectl {args:?}");
    };
    let crds = Command::new(serin)
        .arg("crd")
        .output()
        .expect("serin crd")
        .stdout;
    kubectl(&["apply", "--server-side", "-f", "-"], &crds);
    kubectl(
        &[
            "wait",
            "--for=condition=established",
            "crd/canaries.serin.dev",
        ],
        b"",
    );
    kubectl(&["create", "namespace", NS], b"");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let mut child = Command::new(serin)
        .args([
            "run",
            "--log-level",
            "warn",
            "--min-interval",
            "1s",
            "--namespace",
            NS,
        ])
        .arg("--kubeconfig")
        .arg(&sandbox.kubeconfig)
        .args([
            "--metrics-server",
            &sandbox.prometheus_url,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stderr(Stdio::null())
        .spawn()
        .expect("serin");
    let pid = child.id();

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let canaries: Api<Canary> = Api::namespaced(client.clone(), NS);
    for i in 0..n {
        deployments
            .create(&PostParams::default(), &deployment(i, "1"))
            .await
            .expect("create deployment");
        let c: Canary = serde_json::from_value(canary(i)).expect("canary");
        canaries
            .create(&PostParams::default(), &c)
            .await
            .expect("create canary");
    }
    let init = wait_all(&canaries, n, Phase::Initialized, 300).await;
    let (rss_idle, _) = proc_stats(pid);
    let before = api_calls(port).await;
    let (_, cpu_before) = proc_stats(pid);

    // Watch the Canaries, stamping when each one turns Progressing.
    let mut stream = watcher(canaries.clone(), Default::default())
        .applied_objects()
        .boxed();
    let seen = tokio::spawn(async move {
        let mut first: HashMap<String, Instant> = HashMap::new();
        while let Some(Ok(c)) = stream.next().await {
            let name = c.metadata.name.clone().unwrap_or_default();
            if c.status.as_ref().and_then(|s| s.phase) == Some(Phase::Progressing) {
                first.entry(name).or_insert_with(Instant::now);
            }
            if first.len() == n {
                break;
            }
        }
        first
    });
    let mut applied: HashMap<String, Instant> = HashMap::new();
    let rollout = Instant::now();
    for i in 0..n {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}});
        deployments
            .patch(
                &format!("app-{i}"),
                &PatchParams::default(),
                &Patch::Strategic(&patch),
            )
            .await
            .expect("new revision");
        applied.insert(format!("app-{i}"), Instant::now());
    }
    let first = tokio::time::timeout(Duration::from_secs(120), seen)
        .await
        .expect("reaction")
        .expect("watch");
    let succeeded = wait_all(&canaries, n, Phase::Succeeded, 600)
        .await
        .max(rollout.elapsed());
    let after = api_calls(port).await;
    let (rss, cpu_after) = proc_stats(pid);

    let mut reactions: Vec<Duration> = first
        .iter()
        .filter_map(|(k, t)| Some(t.saturating_duration_since(*applied.get(k)?)))
        .collect();
    reactions.sort();
    let build = if serin.contains("/release/") {
        "release build"
    } else {
        "DEBUG build: not representative"
    };
    println!(
        "\nserin rollout benchmark: {n} canaries, {STEPS} analysis steps each (interval 2s), {build}\n"
    );
    println!(
        "  initialisation of all canaries        {:>8.1} s",
        init.as_secs_f64()
    );
    println!(
        "  new revision noticed (p50 / p99)      {:>8.1} / {:.1} ms",
        percentile(&reactions, 0.5).as_secs_f64() * 1e3,
        percentile(&reactions, 0.99).as_secs_f64() * 1e3
    );
    println!(
        "  whole rollout of all canaries         {:>8.1} s",
        succeeded.as_secs_f64()
    );
    println!(
        "  serin memory (RSS) idle / rolling     {:>8.1} / {:.1} MiB",
        rss_idle, rss
    );
    println!(
        "  serin CPU during the rollouts         {:>8.2} s ({:.1}% of one core)",
        cpu_after - cpu_before,
        (cpu_after - cpu_before) / succeeded.as_secs_f64() * 100.0
    );
    println!("\n  API calls per canary rollout (new revision to Succeeded), by verb and resource:");
    let mut writes = 0.0;
    let mut reads = 0.0;
    for (key, v) in &after {
        let delta = v - before.get(key).copied().unwrap_or(0.0);
        if delta <= 0.0 {
            continue;
        }
        let per = delta / n as f64;
        if key.starts_with("get") || key.starts_with("list") || key.starts_with("watch") {
            reads += per;
        } else {
            writes += per;
        }
        println!("    {key:<40} {per:>6.2}");
    }
    println!(
        "  writes per rollout {writes:.1}, per step {:.1}; reads per rollout {reads:.2}",
        writes / (STEPS as f64 + 2.0)
    );
    println!("  (a rollout is {STEPS} weight steps plus promotion and finalisation)\n");
    let _ = child.kill();
    let _ = child.wait();
    sandbox.shutdown().await;
}

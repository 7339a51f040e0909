//! Rollout benchmark: many Canaries rolled out at once by one release-built serin against
//! the sandbox. Prints what the project measures itself by: how fast a new revision is
//! noticed, how many API calls a step costs, and serin's memory and CPU.
//!
//! ```sh
//! cargo build --release -p serin && cargo bench -p serin-sandbox --bench rollout
//! BENCH_CANARIES=200 cargo bench -p serin-sandbox --bench rollout
//! cargo build --profile dist -p serin --target x86_64-unknown-linux-musl &&
//!   SERIN_BIN=target/x86_64-unknown-linux-musl/dist/serin cargo bench -p serin-sandbox --bench rollout
//! ```
//! `BENCH_CANARIES` sets the number of Canaries (default 50), `BENCH_INTERVAL` their
//! analysis interval in seconds (default 2), `BENCH_IDLE` the seconds of quiet measured
//! between initialisation and the new revision (default 10), `SERIN_BIN` the binary
//! measured (default `target/release/serin`; the image's is the `dist` build for musl,
//! run with the image's allocator settings, [`image_env`]). The Canaries have no metric checks: this
//! measures the controller, not Prometheus (the mesh exports request counters only).
//! The sandbox runs on the same machine, in this process: its CPU and memory, and
//! Prometheus', are printed beside serin's, with the load average at the start.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use serin::api::{Canary, Phase};
use serin_sandbox::mesh::MeshConfig;
use serin_sandbox::sandbox::{Sandbox, SandboxOptions};

const NS: &str = "bench";
/// Weights 25 and 50, then promotion: two analysis steps per rollout.
const STEPS: u64 = 2;
/// Requests in flight at once while creating or patching the objects.
const PARALLEL: usize = 32;
/// serin's leader Lease, and how long it lasts without renewal.
const LEASE: &str = "serin";
const LEASE_SECS: u64 = 15;

/// The environment the Dockerfile gives the image (the `ENV` lines of its last stage):
/// mimalloc's settings, which only the musl build (the one linked with mimalloc) reads.
/// Arenas committed on use and memory returned at once: at 300 Canaries that kept the
/// peak at 32 MiB instead of 59, for a little CPU (10.1 ms per rollout against 8.8
/// without them; glibc's build spent 12.0). Read from the Dockerfile, so the benchmark
/// runs the binary as the image does and the two cannot drift apart.
fn image_env() -> Vec<(String, String)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../Dockerfile");
    let text = std::fs::read_to_string(&path).expect("the Dockerfile");
    let last_stage = text.rsplit("\nFROM ").next().unwrap_or_default();
    let env: Vec<(String, String)> = last_stage
        .lines()
        .filter_map(|l| l.trim().strip_prefix("ENV "))
        .flat_map(str::split_whitespace)
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect();
    assert!(
        env.iter().any(|(k, _)| k.starts_with("MIMALLOC_")),
        "the Dockerfile sets mimalloc's settings: {env:?}"
    );
    env
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn canary(i: usize, interval: Duration) -> serde_json::Value {
    json!({
        "apiVersion": "serin.dev/v1beta1", "kind": "Canary",
        "metadata": {"name": format!("app-{i}"), "namespace": NS},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": format!("app-{i}")},
            "service": {"port": 80},
            "analysis": {"interval": format!("{}s", interval.as_secs()), "threshold": 5, "stepWeight": 25, "maxWeight": 50}
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

/// A `/proc/PID/status` field in KiB, e.g. `VmRSS` (resident now) or `VmHWM` (peak).
fn proc_kib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// The 1, 5 and 15 minute load averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A process' resident memory (MiB) and CPU time (s).
fn proc_stats(pid: u32) -> (f64, f64) {
    let rss_kb = proc_kib(pid, "VmRSS");
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

/// Waits until all `n` Canaries in the watch-fed `store` are in `phase` (a store, not
/// lists: listing a thousand Canaries ten times a second would load the API server the
/// benchmark measures against).
async fn wait_all(store: &Store<Canary>, n: usize, phase: Phase, secs: u64) -> Duration {
    let start = Instant::now();
    loop {
        let done = store
            .state()
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

/// CPU time (s) of serin, the sandbox (this process) and Prometheus, sampled every
/// second on a thread of its own, so that a busy runtime cannot stall it.
struct Sampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<(Duration, [f64; 3])>>,
}

impl Sampler {
    fn start(pids: [u32; 3]) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let start = Instant::now();
            let mut samples = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                samples.push((start.elapsed(), pids.map(|p| proc_stats(p).1)));
                std::thread::sleep(Duration::from_secs(1));
            }
            samples
        });
        Sampler { stop, thread }
    }

    /// The samples taken: time since the start, CPU seconds of each process.
    fn finish(self) -> Vec<(Duration, [f64; 3])> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// The busiest second of each process (cores), and the longest gap between samples.
fn busiest(samples: &[(Duration, [f64; 3])]) -> ([f64; 3], Duration) {
    let mut peak = [0.0; 3];
    let mut gap = Duration::ZERO;
    for w in samples.windows(2) {
        let dt = w[1].0.saturating_sub(w[0].0);
        gap = gap.max(dt);
        for (i, p) in peak.iter_mut().enumerate() {
            *p = f64::max(*p, (w[1].1[i] - w[0].1[i]) / dt.as_secs_f64().max(1e-3));
        }
    }
    (peak, gap)
}

/// Each renewal of serin's leader Lease seen: (renewTime, holder, transitions).
type Renewals = Arc<std::sync::Mutex<Vec<(k8s_openapi::jiff::Timestamp, String, i32)>>>;

/// Records every renewal of the leader Lease until the task is aborted.
fn watch_lease(api: Api<Lease>) -> (Renewals, tokio::task::JoinHandle<()>) {
    let renewals = Renewals::default();
    let seen = renewals.clone();
    let config = watcher::Config::default().fields(&format!("metadata.name={LEASE}"));
    let task = tokio::spawn(async move {
        let mut stream = watcher(api, config).applied_objects().boxed();
        while let Some(event) = stream.next().await {
            let Ok(lease) = event else { continue };
            let Some(spec) = lease.spec else { continue };
            let Some(renewed) = spec.renew_time else {
                continue;
            };
            let holder = spec.holder_identity.unwrap_or_default();
            let transitions = spec.lease_transitions.unwrap_or(0);
            if let Ok(mut r) = seen.lock()
                && r.last().is_none_or(|l| l.0 != renewed.0)
            {
                r.push((renewed.0, holder, transitions));
            }
        }
    });
    (renewals, task)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// How late each step was seen, per canary: each transition after the first (a new
/// weight, or leaving the last weight to promote) was due one interval after the one
/// before it. Sorted, all of them, then the first step of each canary apart from the
/// others: the first also waits for the canary's replicas to be ready, which the
/// kubelet stand-in reports through the same API server.
fn step_lags(
    transitions: &HashMap<String, Vec<Instant>>,
    interval: Duration,
) -> [Vec<Duration>; 3] {
    let (mut all, mut first, mut later) = (Vec::new(), Vec::new(), Vec::new());
    for times in transitions.values() {
        for (i, w) in times.windows(2).enumerate() {
            let lag = w[1].saturating_duration_since(w[0] + interval);
            all.push(lag);
            if i == 0 { &mut first } else { &mut later }.push(lag);
        }
    }
    for lags in [&mut all, &mut first, &mut later] {
        lags.sort();
    }
    [all, first, later]
}

/// Requests the sandbox's API server answered 409 Conflict, by resource.
fn conflicts(sandbox: &Sandbox) -> BTreeMap<String, u64> {
    sandbox
        .api
        .as_ref()
        .map(|api| api.counters().snapshot())
        .unwrap_or_default()
        .into_iter()
        .filter(|((verb, _), _)| verb == "conflict")
        .map(|((_, resource), n)| (resource, n))
        .collect()
}

/// Per canary, the writes in `after` minus `before`, printed by verb and resource;
/// returns (writes, reads) per canary.
fn print_calls(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
    n: usize,
) -> (f64, f64) {
    let mut writes = 0.0;
    let mut reads = 0.0;
    for (key, v) in after {
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
    (writes, reads)
}

/// Runs `f` over `0..n` with [`PARALLEL`] calls in flight; returns each call's latency.
async fn parallel<F, Fut>(n: usize, f: F) -> Vec<Duration>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let f = &f;
    let mut latencies: Vec<Duration> = futures::stream::iter(0..n)
        .map(|i| async move {
            let start = Instant::now();
            f(i).await;
            start.elapsed()
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    latencies.sort();
    latencies
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let n: usize = env_or("BENCH_CANARIES", 50);
    let interval = Duration::from_secs(env_or("BENCH_INTERVAL", 2u64).max(1));
    let idle_window = Duration::from_secs(env_or("BENCH_IDLE", 10u64));
    let load = load_average();
    // `cargo bench` runs this in e2e/: a relative SERIN_BIN is taken from the workspace
    // root, where the README's commands run.
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let serin_path = std::env::var("SERIN_BIN").unwrap_or_else(|_| "target/release/serin".into());
    let serin_path = std::path::Path::new(root)
        .join(serin_path)
        .to_string_lossy()
        .into_owned();
    let serin = serin_path.as_str();
    assert!(
        std::path::Path::new(serin).exists(),
        "build serin first: cargo build --release -p serin"
    );

    let opts = SandboxOptions {
        mesh: MeshConfig {
            rps_per_host: 2.0,
            // No Canary here checks latency: counters alone keep Prometheus small
            // (BENCH_HISTOGRAMS=true serves the histograms too, as the tests' mesh does).
            histograms: env_or("BENCH_HISTOGRAMS", false),
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
        .envs(image_env())
        .args([
            "run",
            "--log-level",
            "warn",
            "--min-interval",
            "1s",
            "--namespace",
            NS,
            "--leader-election",
            "--leader-election-namespace",
            NS,
            "--leader-election-duration",
            &format!("{LEASE_SECS}s"),
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
    let ready = Instant::now();
    while reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .and_then(|r| r.error_for_status())
        .is_err()
    {
        assert!(ready.elapsed() < Duration::from_secs(60), "serin not ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ready = ready.elapsed();
    let (rss_empty, _) = proc_stats(pid);
    let calls_empty = api_calls(port).await;
    let me = std::process::id();
    let prometheus = sandbox.prometheus_pid().unwrap_or(0);
    let pids = [pid, me, prometheus];
    let sampler = Sampler::start(pids);
    let (renewals, lease_task) = watch_lease(Api::namespaced(client.clone(), NS));

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let canaries: Api<Canary> = Api::namespaced(client.clone(), NS);
    let (store, writer) = reflector::store();
    let canary_watch = tokio::spawn(
        reflector::reflector(writer, watcher(canaries.clone(), Default::default()))
            .default_backoff()
            .for_each(|_| async {}),
    );
    let setup = Instant::now();
    parallel(n, |i| {
        let (deployments, canaries) = (&deployments, &canaries);
        async move {
            deployments
                .create(&PostParams::default(), &deployment(i, "1"))
                .await
                .expect("create deployment");
            let c: Canary = serde_json::from_value(canary(i, interval)).expect("canary");
            canaries
                .create(&PostParams::default(), &c)
                .await
                .expect("create canary");
        }
    })
    .await;
    let setup = setup.elapsed();
    let init = wait_all(&store, n, Phase::Initialized, 600).await;
    let before = api_calls(port).await;
    let conflicts_init = conflicts(&sandbox);

    // A quiet stretch: what everyone costs with nothing happening.
    let cpu_idle_start = pids.map(|p| proc_stats(p).1);
    tokio::time::sleep(idle_window).await;
    let cpu_idle = pids.map(|p| proc_stats(p).1);
    let rss_idle = pids.map(|p| proc_stats(p).0);

    // Watch the Canaries, stamping when each one turns Progressing and each step after:
    // a new weight while Progressing, then leaving Progressing (promotion).
    let mut stream = watcher(canaries.clone(), Default::default())
        .applied_objects()
        .boxed();
    let seen = tokio::spawn(async move {
        let mut steps: HashMap<String, (i32, Vec<Instant>)> = HashMap::new();
        let mut done = 0;
        while let Some(Ok(c)) = stream.next().await {
            let now = Instant::now();
            let name = c.metadata.name.clone().unwrap_or_default();
            let Some(status) = c.status.as_ref() else {
                continue;
            };
            let progressing = status.phase == Some(Phase::Progressing);
            match steps.get_mut(&name) {
                None if progressing => {
                    steps.insert(name, (status.canary_weight, vec![now]));
                }
                Some((weight, times)) if progressing && status.canary_weight != *weight => {
                    *weight = status.canary_weight;
                    times.push(now);
                }
                Some((weight, times))
                    if !progressing && *weight >= 0 && status.phase != Some(Phase::Waiting) =>
                {
                    // Promotion, the end of the last step; -1 marks it recorded.
                    *weight = -1;
                    times.push(now);
                    done += 1;
                }
                _ => {}
            }
            if done == n {
                break;
            }
        }
        steps
            .into_iter()
            .map(|(name, (_, times))| (name, times))
            .collect::<HashMap<_, _>>()
    });
    let cpu_before = pids.map(|p| proc_stats(p).1);
    let applied: std::sync::Mutex<HashMap<String, Instant>> = Default::default();
    let rollout = Instant::now();
    let patch_latencies = parallel(n, |i| {
        let (deployments, applied) = (&deployments, &applied);
        async move {
            let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}});
            deployments
                .patch(
                    &format!("app-{i}"),
                    &PatchParams::default(),
                    &Patch::Strategic(&patch),
                )
                .await
                .expect("new revision");
            if let Ok(mut a) = applied.lock() {
                a.insert(format!("app-{i}"), Instant::now());
            }
        }
    })
    .await;
    let patched = rollout.elapsed();
    let applied = applied.into_inner().unwrap_or_default();
    let succeeded = wait_all(&store, n, Phase::Succeeded, 600 + 10 * interval.as_secs())
        .await
        .max(rollout.elapsed());
    let after = api_calls(port).await;
    let cpu_after = pids.map(|p| proc_stats(p).1);
    let rss = proc_stats(pid).0;
    let rss_peak = pids.map(|p| proc_kib(p, "VmHWM") / 1024.0);
    let conflicts_all = conflicts(&sandbox);
    let transitions = tokio::time::timeout(Duration::from_secs(60), seen)
        .await
        .expect("every promotion seen")
        .expect("watch");
    let samples = sampler.finish();
    lease_task.abort();
    canary_watch.abort();

    let mut reactions: Vec<Duration> = transitions
        .iter()
        .filter_map(|(k, t)| Some(t.first()?.saturating_duration_since(*applied.get(k)?)))
        .collect();
    reactions.sort();
    let [lags, first_lags, later_lags] = step_lags(&transitions, interval);
    let build = if serin.contains("/release/") || serin.contains("/dist/") {
        "release build"
    } else {
        "DEBUG build: not representative"
    };
    println!(
        "\nserin rollout benchmark: {n} canaries, {STEPS} analysis steps each (interval {}s), {build}",
        interval.as_secs()
    );
    println!("  binary: {serin}");
    println!("  load average at the start (1/5/15 min): {load}\n");
    println!(
        "  ready with no canaries                {:>8.0} ms, RSS {rss_empty:.1} MiB",
        ms(ready)
    );
    println!(
        "  create Deployments and Canaries       {:>8.1} s ({PARALLEL} in flight)",
        setup.as_secs_f64()
    );
    println!(
        "  initialisation of all canaries        {:>8.1} s",
        init.as_secs_f64()
    );
    println!(
        "  patch every Deployment                {:>8.1} s, latency p50 / p99 {:.1} / {:.1} ms",
        patched.as_secs_f64(),
        ms(percentile(&patch_latencies, 0.5)),
        ms(percentile(&patch_latencies, 0.99))
    );
    println!(
        "  new revision noticed (p50 / p99)      {:>8.1} / {:.1} ms",
        ms(percentile(&reactions, 0.5)),
        ms(percentile(&reactions, 0.99))
    );
    println!(
        "  whole rollout of all canaries         {:>8.1} s",
        succeeded.as_secs_f64()
    );
    println!(
        "  step lag, seen minus due (p50 / p99)  {:>8.1} / {:.1} ms ({} steps)",
        ms(percentile(&lags, 0.5)),
        ms(percentile(&lags, 0.99)),
        lags.len()
    );
    for (which, lags) in [
        ("first step (canary ready)", &first_lags),
        ("later steps", &later_lags),
    ] {
        println!(
            "    {which:<34}{:>8.1} / {:.1} ms ({} steps)",
            ms(percentile(lags, 0.5)),
            ms(percentile(lags, 0.99)),
            lags.len()
        );
    }
    println!(
        "  serin memory (RSS) idle / rolling / peak {:>5.1} / {:.1} / {:.1} MiB",
        rss_idle[0], rss, rss_peak[0]
    );
    println!(
        "  memory per canary (idle, peak)        {:>8.1} / {:.1} KiB",
        (rss_idle[0] - rss_empty) * 1024.0 / n as f64,
        (rss_peak[0] - rss_empty) * 1024.0 / n as f64
    );
    let cpu = cpu_after[0] - cpu_before[0];
    println!(
        "  serin CPU during the rollouts         {cpu:>8.2} s, {:.3} core averaged, {:.1} ms per rollout",
        cpu / succeeded.as_secs_f64(),
        cpu * 1e3 / n as f64
    );
    let (peak, gap) = busiest(&samples);
    println!(
        "\n  who was busy (cores averaged; RSS idle / peak):\n    {:<34} {:>6} {:>8} {:>9}",
        "", "idle", "rolling", "busiest s"
    );
    let names = [
        "serin",
        "sandbox (this process: API server, stand-ins, bench)",
        "Prometheus",
    ];
    for (i, name) in names.iter().enumerate() {
        let idle = (cpu_idle[i] - cpu_idle_start[i]) / idle_window.as_secs_f64().max(1e-3);
        let rolling = (cpu_after[i] - cpu_before[i]) / succeeded.as_secs_f64();
        println!(
            "    {name:<34} {idle:>6.3} {rolling:>8.3} {:>9.2}   RSS {:.0} / {:.0} MiB",
            peak[i], rss_idle[i], rss_peak[i]
        );
    }
    println!(
        "    (sampled every second on a thread of its own; longest gap between samples {:.1} s)",
        gap.as_secs_f64()
    );
    let renewals = renewals.lock().map(|r| r.clone()).unwrap_or_default();
    let max_gap = renewals
        .windows(2)
        .map(|w| (w[1].0.as_millisecond() - w[0].0.as_millisecond()) as f64 / 1e3)
        .fold(0.0, f64::max);
    let holders: std::collections::HashSet<&str> = renewals.iter().map(|r| r.1.as_str()).collect();
    let transitions_seen = renewals.last().map_or(0, |r| r.2) - renewals.first().map_or(0, |r| r.2);
    println!(
        "\n  leader Lease: {} renewals seen, longest gap {max_gap:.1} s (lease {LEASE_SECS} s), {} holder(s), {transitions_seen} transitions",
        renewals.len(),
        holders.len()
    );
    println!("\n  API calls per canary at initialisation, by verb and resource:");
    let (init_writes, _) = print_calls(&calls_empty, &before, n);
    println!("  writes per canary at initialisation {init_writes:.1}");
    println!("\n  API calls per canary rollout (new revision to Succeeded), by verb and resource:");
    let (writes, reads) = print_calls(&before, &after, n);
    println!(
        "  writes per rollout {writes:.1}, per step {:.1}; reads per rollout {reads:.2}",
        writes / (STEPS as f64 + 2.0)
    );
    println!("  (a rollout is {STEPS} weight steps plus promotion and finalisation)");
    println!("\n  409 Conflicts answered by the API server (all clients), by resource:");
    for (resource, total) in &conflicts_all {
        let at_init = conflicts_init.get(resource).copied().unwrap_or(0);
        println!(
            "    {resource:<40} {at_init:>6} at initialisation, {:>6} rolling",
            total - at_init
        );
    }
    if conflicts_all.is_empty() {
        println!("    none");
    }
    println!();
    let _ = child.kill();
    let _ = child.wait();
    sandbox.shutdown().await;
}

//! What every scenario needs: the shared sandbox, a namespace of its own, a serin process
//! scoped to it, kubectl as a user runs it, and waits with deadlines.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kube::api::Api;
use serin::api::{Canary, CanaryStatus, Phase};

use super::{TestNs, free_port, gc_wait_or, kubectl as runner, sandbox, serin_bin};

/// Seconds to allow the garbage collector for dependents of a Canary.
pub fn gc_secs() -> u64 {
    gc_wait_or(Duration::from_secs(30)).as_secs()
}

/// Runs kubectl against the sandbox; returns stdout, or panics with stderr.
pub fn kubectl(args: &[&str], stdin: Option<&str>) -> String {
    let out = kubectl_result(args, stdin);
    match out {
        Ok(s) => s,
        Err(e) => panic!("kubectl {} failed: {e}", args.join(" ")),
    }
}

/// Runs kubectl; Err(stderr) when it fails.
pub fn kubectl_result(args: &[&str], stdin: Option<&str>) -> Result<String, String> {
    let out = runner::blocking_at(&sandbox().kubeconfig, args, stdin)
        .unwrap_or_else(|e| panic!("kubectl {}: {e:#}", args.join(" ")));
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn install_crds() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let crds = Command::new(serin_bin())
            .arg("crd")
            .output()
            .expect("serin crd");
        assert!(crds.status.success());
        kubectl(
            &["apply", "-f", "-"],
            Some(&String::from_utf8_lossy(&crds.stdout)),
        );
        for crd in [
            "canaries.serin.dev",
            "metrictemplates.serin.dev",
            "alertproviders.serin.dev",
        ] {
            kubectl(
                &[
                    "wait",
                    "--for=condition=established",
                    "--timeout=30s",
                    &format!("crd/{crd}"),
                ],
                None,
            );
        }
    });
}

/// The flags that send a manifest's `http://flagger-loadtester.test/` to the sandbox's
/// loadtester stand-in, as a user running serin outside the cluster would.
fn loadtester_mapping() -> Vec<String> {
    match sandbox().loadtester() {
        Some(lt) => vec![
            "--resolve".into(),
            format!("flagger-loadtester.test={}", lt.addr()),
        ],
        None => Vec::new(),
    }
}

/// One scenario: its namespace, its serin process.
pub struct Scenario {
    /// The name of the namespace.
    pub ns: String,
    /// serin processes: the first is started by `new`, others by `start_replica`.
    serins: Vec<Option<Child>>,
    pub metrics_port: u16,
    log: PathBuf,
    /// Deleted when the scenario is dropped, after its serin processes are killed.
    namespace: TestNs,
}

impl Scenario {
    pub async fn new(name: &str) -> Scenario {
        let mut s = Scenario::without_serin(name).await;
        s.start_serin();
        s
    }

    /// A scenario whose serin processes the test starts itself.
    pub async fn without_serin(name: &str) -> Scenario {
        install_crds();
        let namespace = TestNs::create_at(&sandbox().kubeconfig, name)
            .await
            .unwrap_or_else(|e| panic!("the namespace of scenario {name}: {e:#}"));
        let ns = namespace.name.clone();
        let log = std::env::temp_dir().join(format!("serin-{ns}.log"));
        Scenario {
            ns,
            serins: Vec::new(),
            metrics_port: free_port(),
            log,
            namespace,
        }
    }

    /// Starts (or restarts) the first serin process, scoped to this namespace.
    pub fn start_serin(&mut self) {
        let child = self.spawn_serin(self.metrics_port, &[]);
        match self.serins.first_mut() {
            Some(slot) => *slot = Some(child),
            None => self.serins.push(Some(child)),
        }
    }

    /// Starts one more serin process with extra flags; returns its index and pid.
    pub fn start_replica(&mut self, extra: &[&str]) -> (usize, u32) {
        let child = self.spawn_serin(free_port(), extra);
        let pid = child.id();
        self.serins.push(Some(child));
        (self.serins.len() - 1, pid)
    }

    fn spawn_serin(&self, port: u16, extra: &[&str]) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        Command::new(serin_bin())
            .args([
                "run",
                "--log-format",
                "text",
                "--log-level",
                "info,serin=debug",
                "--min-interval",
                "1s",
            ])
            .arg("--kubeconfig")
            .arg(&sandbox().kubeconfig)
            .args(["--metrics-server", &sandbox().prometheus_url])
            .args(["--namespace", &self.ns])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(loadtester_mapping())
            .args(extra)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start serin")
    }

    /// Kills the first serin with SIGKILL, as a node failure would.
    pub fn kill_serin(&mut self) {
        self.kill(0);
    }

    /// Kills serin process `i` with SIGKILL.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.serins.get_mut(i).and_then(Option::take) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether serin process `i` has exited by itself (it is then forgotten, and
    /// [`Scenario::start_serin`] starts the first one again, as a kubelet would).
    pub fn exited(&mut self, i: usize) -> bool {
        let Some(slot) = self.serins.get_mut(i) else {
            return false;
        };
        let gone = slot
            .as_mut()
            .is_some_and(|child| !matches!(child.try_wait(), Ok(None)));
        if gone {
            *slot = None;
        }
        gone
    }

    /// The index of the serin process with this pid.
    pub fn index_of(&self, pid: u32) -> Option<usize> {
        self.serins
            .iter()
            .position(|c| c.as_ref().is_some_and(|c| c.id() == pid))
    }

    pub fn apply(&self, yaml: &str) -> String {
        kubectl(&["apply", "-n", &self.ns, "-f", "-"], Some(yaml))
    }

    pub async fn client(&self) -> kube::Client {
        self.namespace.client.clone()
    }

    pub async fn status(&self, name: &str) -> CanaryStatus {
        let api: Api<Canary> = Api::namespaced(self.client().await, &self.ns);
        api.get(name)
            .await
            .ok()
            .and_then(|c| c.status)
            .unwrap_or_default()
    }

    /// Waits until the Canary's status satisfies `pred`, or fails with the status and
    /// serin's log after `secs`.
    pub async fn wait_status(
        &self,
        name: &str,
        secs: u64,
        what: &str,
        pred: impl Fn(&CanaryStatus) -> bool,
    ) -> CanaryStatus {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let st = self.status(name).await;
            if pred(&st) {
                return st;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out after {secs}s waiting for {what}; status: {st:#?}\nevents:\n{}\nserin log tail:\n{}",
                    self.events(name),
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn wait_phase(&self, name: &str, phase: Phase, secs: u64) -> CanaryStatus {
        self.wait_status(name, secs, &format!("phase {phase}"), |s| {
            s.phase == Some(phase)
        })
        .await
    }

    /// Event messages of an object, oldest first, as `kubectl get events` lists them.
    pub fn events(&self, name: &str) -> String {
        kubectl_result(
            &[
                "get",
                "events",
                "-n",
                &self.ns,
                "--field-selector",
                &format!("involvedObject.name={name}"),
                "--sort-by",
                ".metadata.creationTimestamp",
                "-o",
                "custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message",
            ],
            None,
        )
        .unwrap_or_else(|e| e)
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    pub fn jsonpath(&self, resource: &str, path: &str) -> String {
        kubectl(
            &[
                "get",
                "-n",
                &self.ns,
                resource,
                "-o",
                &format!("jsonpath={path}"),
            ],
            None,
        )
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        // The namespace goes after this, when its field is dropped.
        for i in 0..self.serins.len() {
            self.kill(i);
        }
    }
}

/// The app of every scenario: a Deployment whose behaviour comes from its environment
/// (the sandbox's mesh reads SANDBOX_ERROR_RATE, SANDBOX_LATENCY_MS, SANDBOX_NEVER_READY).
pub fn podinfo(version: &str, env: &[(&str, &str)]) -> String {
    let env: String = env
        .iter()
        .map(|(k, v)| format!("        - name: {k}\n          value: \"{v}\"\n"))
        .collect();
    let env = if env.is_empty() {
        String::new()
    } else {
        format!("        env:\n{env}")
    };
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  labels:
    app: podinfo
spec:
  replicas: 2
  selector:
    matchLabels:
      app: podinfo
  template:
    metadata:
      labels:
        app: podinfo
    spec:
      containers:
      - name: podinfo
        image: ghcr.io/stefanprodan/podinfo:{version}
        ports:
        - containerPort: 9898
{env}"#
    )
}

/// A Canary with Flagger's usual shape; `analysis` is the YAML of `spec.analysis`'s body.
pub fn canary(extra_spec: &str, analysis: &str) -> String {
    format!(
        r#"apiVersion: serin.dev/v1beta1
kind: Canary
metadata:
  name: podinfo
spec:
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: podinfo
  progressDeadlineSeconds: 60
{extra_spec}  service:
    port: 9898
  analysis:
{analysis}"#
    )
}

/// A healthy run: 3 steps of 20% every 3s, success rate over a 10s window.
pub const ANALYSIS: &str = r#"    interval: 3s
    threshold: 3
    maxWeight: 60
    stepWeight: 20
    metrics:
    - name: request-success-rate
      interval: 10s
      thresholdRange:
        min: 99
"#;

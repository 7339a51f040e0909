//! The loadtester's tasks: `cmd` (background, deduplicated) and `bash` (blocking).
//!
//! A `cmd` that is a `hey` or `curl` invocation is not run: its traffic is sent through
//! the mesh stand-in instead, because the sandbox's hosts (`podinfo-canary.test`) exist
//! only there, and only traffic through the mesh reaches the metrics. Any other command
//! runs with `sh -c`, as the real loadtester runs it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::process::Command;

use crate::mesh::{LoadRequest, MeshLoad};

/// Requests per second of a `hey` without `-q` (the real one sends as fast as it can,
/// which would drown every other host's traffic in the sandbox).
pub const HEY_DEFAULT_RPS: f64 = 20.0;

/// What a `cmd` task turned into.
#[derive(Clone, Debug, PartialEq)]
pub enum CmdPlan {
    /// Traffic for the mesh.
    Load(LoadRequest),
    /// A shell command.
    Shell(String),
}

/// Reads `hey [-z D] [-q Q] [-c C] [-n N] URL` and `curl ... URL` as mesh traffic; any
/// other command, or one without an http(s) URL, is a shell command.
pub fn plan(command: &str, namespace: &str) -> CmdPlan {
    let shell = || CmdPlan::Shell(command.to_owned());
    let words: Vec<&str> = command.split_whitespace().collect();
    let Some(program) = words.first().map(|w| w.rsplit('/').next().unwrap_or(w)) else {
        return shell();
    };
    let Some(host) = words.iter().rev().find_map(|w| url_host(w)) else {
        return shell();
    };
    let (rps, duration) = match program {
        "hey" => hey_rate(&words),
        "curl" => (1.0, Duration::from_secs(1)),
        _ => return shell(),
    };
    CmdPlan::Load(LoadRequest {
        host,
        namespace: namespace.to_owned(),
        rps,
        duration,
    })
}

/// The host of an http(s) URL word, without port or path.
fn url_host(word: &str) -> Option<String> {
    let word = word.trim_matches(|c| c == '"' || c == '\'');
    let rest = word
        .strip_prefix("http://")
        .or_else(|| word.strip_prefix("https://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host.split(':').next()?.to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

/// hey's rate and duration: `-q` is per worker (`-c`, default 50); `-z` is the
/// duration, else `-n` requests (default 200) at that rate.
fn hey_rate(words: &[&str]) -> (f64, Duration) {
    let flag = |name: &str| {
        words
            .windows(2)
            .find(|w| w[0] == name)
            .map(|w| w[1].trim_matches(|c| c == '"' || c == '\''))
    };
    let number = |name: &str| flag(name).and_then(|v| v.parse::<f64>().ok());
    let workers = number("-c").filter(|c| *c >= 1.0).unwrap_or(50.0);
    let rps = number("-q")
        .filter(|q| *q > 0.0)
        .map_or(HEY_DEFAULT_RPS, |q| q * workers);
    let duration = flag("-z").and_then(go_duration).unwrap_or_else(|| {
        let requests = number("-n").filter(|n| *n >= 1.0).unwrap_or(200.0);
        Duration::from_secs_f64((requests / rps).min(86_400.0))
    });
    (rps, duration)
}

/// Go-style durations as hey takes them (`30s`, `1m`, `2m30s`).
fn go_duration(text: &str) -> Option<Duration> {
    let mut total = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let value: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, len) = match rest {
            r if r.starts_with("ms") => (0.001, 2),
            r if r.starts_with('s') => (1.0, 1),
            r if r.starts_with('m') => (60.0, 1),
            r if r.starts_with('h') => (3600.0, 1),
            _ => return None,
        };
        total += value * unit;
        rest = &rest[len..];
    }
    Duration::try_from_secs_f64(total.min(86_400.0)).ok()
}

/// Background `cmd` tasks, deduplicated by canary and command as the real loadtester
/// does: a task posted again while it runs is not started twice.
#[derive(Clone, Debug)]
pub struct Tasks {
    running: Arc<Mutex<HashSet<String>>>,
    started: Arc<Mutex<Vec<String>>>,
    mesh: Option<MeshLoad>,
    timeout: Duration,
}

impl Tasks {
    pub fn new(mesh: Option<MeshLoad>, timeout: Duration) -> Self {
        Tasks {
            running: Default::default(),
            started: Default::default(),
            mesh,
            timeout,
        }
    }

    /// Commands started so far, in order (for tests).
    pub fn started(&self) -> Vec<String> {
        self.started.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Starts `command` for `canary` (`name.namespace`) unless it already runs.
    pub fn run_cmd(&self, canary: &str, namespace: &str, command: &str) {
        let key = format!("{canary}\n{command}");
        let Ok(mut running) = self.running.lock() else {
            return;
        };
        if !running.insert(key.clone()) {
            tracing::info!(canary, command, "command skipped: already running");
            return;
        }
        drop(running);
        if let Ok(mut started) = self.started.lock() {
            started.push(command.to_owned());
        }
        let plan = plan(command, namespace);
        let (tasks, timeout) = (self.clone(), self.timeout);
        tokio::spawn(async move {
            match plan {
                CmdPlan::Load(request) => {
                    let duration = request.duration;
                    match &tasks.mesh {
                        Some(mesh) => mesh.add(request),
                        None => tracing::warn!("no mesh stand-in: load not sent"),
                    }
                    tokio::time::sleep(duration).await;
                }
                CmdPlan::Shell(command) => {
                    let out = run(&["sh", "-c", &command], timeout).await;
                    if let Err(error) = out {
                        tracing::warn!(%error, "command failed");
                    }
                }
            }
            if let Ok(mut running) = tasks.running.lock() {
                running.remove(&key);
            }
        });
    }
}

/// Runs a program to completion within `timeout`; the combined output on success, the
/// loadtester's error text (command, output, cause) on failure.
pub async fn run(argv: &[&str], timeout: Duration) -> Result<String, String> {
    let command = argv.last().copied().unwrap_or_default();
    let child = Command::new(argv[0])
        .args(&argv[1..])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = match tokio::time::timeout(timeout, child).await {
        Err(_) => {
            return Err(format!(
                "command {command} failed: timed out after {timeout:?}"
            ));
        }
        Ok(Err(error)) => return Err(format!("command {command} failed: {error}")),
        Ok(Ok(output)) => output,
    };
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    if output.status.success() {
        Ok(text)
    } else {
        Err(format!(
            "command {command} failed: {text}: {}",
            output.status
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hey_and_curl_become_mesh_load() {
        let CmdPlan::Load(r) = plan(
            "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/",
            "test",
        ) else {
            panic!("not load")
        };
        assert_eq!(
            (r.host.as_str(), r.rps, r.duration),
            ("podinfo-canary.test", 20.0, Duration::from_secs(60))
        );
        let CmdPlan::Load(r) = plan("curl -sd 'test' http://podinfo-canary:9898/token", "prod")
        else {
            panic!("not load")
        };
        assert_eq!(
            (r.host.as_str(), r.namespace.as_str(), r.rps),
            ("podinfo-canary", "prod", 1.0)
        );
        let CmdPlan::Load(r) = plan("hey -n 100 -q 1 -c 5 http://podinfo/", "test") else {
            panic!("not load")
        };
        assert_eq!((r.rps, r.duration), (5.0, Duration::from_secs(20)));
    }

    #[test]
    fn other_commands_run_in_a_shell() {
        assert_eq!(plan("echo hi", "t"), CmdPlan::Shell("echo hi".into()));
        assert_eq!(plan("hey", "t"), CmdPlan::Shell("hey".into()));
        assert_eq!(plan("", "t"), CmdPlan::Shell(String::new()));
    }
}

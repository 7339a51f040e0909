//! The real `kubectl` as a subprocess, run the way a user runs it:
//! `kubectl --kubeconfig PATH <args>` with default flags otherwise. The one
//! runner of every test binary: async calls for tests, blocking ones for
//! code that cannot await (`Drop`, the scenarios' synchronous helpers).

use super::{target, workdir};
use anyhow::{Context, Result, anyhow, bail};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// How long one kubectl call may take before the test fails.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The one place a kubectl command is put together.
fn base(kubeconfig: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new("kubectl");
    cmd.arg("--kubeconfig").arg(kubeconfig).args(args);
    // A discovery cache of this process only: earlier runs used other ports.
    cmd.env("KUBECACHEDIR", workdir().join("kubectl-cache"));
    cmd
}

fn command(args: &[&str]) -> Command {
    command_at(&target().kubeconfig, args)
}

fn command_at(kubeconfig: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::from(base(kubeconfig, args));
    cmd.kill_on_drop(true);
    cmd
}

/// Runs kubectl against `kubeconfig` without a runtime, feeding `stdin` when
/// given; returns its output whatever the exit status.
pub fn blocking_at(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Result<Output> {
    let mut child = base(kubeconfig, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run kubectl (is it on PATH?)")?;
    let input = child.stdin.take();
    if let (Some(text), Some(mut pipe)) = (stdin, input) {
        pipe.write_all(text.as_bytes())
            .context("writing kubectl's stdin")?;
    }
    child.wait_with_output().context("waiting for kubectl")
}

/// Runs kubectl and returns its output whatever the exit status.
pub async fn run(args: &[&str]) -> Result<Output> {
    run_at(&target().kubeconfig, args).await
}

/// Runs kubectl against another kubeconfig (a test's private server).
pub async fn run_at(kubeconfig: &Path, args: &[&str]) -> Result<Output> {
    let out = tokio::time::timeout(CALL_TIMEOUT, command_at(kubeconfig, args).output())
        .await
        .map_err(|_| {
            anyhow!(
                "kubectl {} did not finish within {CALL_TIMEOUT:?}",
                args.join(" ")
            )
        })?
        .context("cannot run kubectl (is it on PATH?)")?;
    Ok(out)
}

/// Runs kubectl, failing with its stderr unless it exits 0; returns stdout.
pub async fn ok(args: &[&str]) -> Result<String> {
    let out = run(args).await?;
    if !out.status.success() {
        bail!(
            "kubectl {} failed ({}):\nstdout: {}\nstderr: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs kubectl expecting it to fail; returns stderr.
pub async fn fails(args: &[&str]) -> Result<String> {
    let out = run(args).await?;
    if out.status.success() {
        bail!(
            "kubectl {} succeeded but should have failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    Ok(String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Writes a manifest into the test process' scratch directory, for `apply -f`.
pub fn manifest(name: &str, yaml: &str) -> Result<PathBuf> {
    let path = workdir().join(format!("{name}-{}.yaml", super::suffix()));
    std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// A running `kubectl get -w`: read its lines, then drop it to kill it.
pub struct Watch {
    child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    pub seen: Vec<String>,
}

impl Watch {
    /// Starts `kubectl <args>` (which should include `-w`).
    pub fn start(args: &[&str]) -> Result<Self> {
        let mut child = command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        Ok(Self {
            child,
            lines: BufReader::new(stdout).lines(),
            seen: Vec::new(),
        })
    }

    /// Reads lines until one satisfies `pred`; fails after `timeout`.
    pub async fn until(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Result<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.next_line())
                .await
                .map_err(|_| anyhow!("no matching line within {timeout:?}; saw {:#?}", self.seen))??
                .ok_or_else(|| anyhow!("kubectl -w ended; saw {:#?}", self.seen))?;
            self.seen.push(line.clone());
            if pred(&line) {
                return Ok(line);
            }
        }
    }

    /// Stops kubectl.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The columns of kubectl's table output: (header, start offset). Columns
/// are at least 3 spaces apart (kubectl's tabwriter padding), while a header
/// like `CREATED AT` has single spaces.
fn columns(header: &str) -> Vec<(String, usize)> {
    let mut cols = Vec::new();
    let mut start: Option<usize> = None;
    let mut spaces = 0;
    for (i, ch) in header.char_indices() {
        if ch == ' ' {
            spaces += 1;
            continue;
        }
        if start.is_none() || spaces >= 2 {
            if let Some(s) = start {
                cols.push((header[s..i].trim().to_string(), s));
            }
            start = Some(i);
        }
        spaces = 0;
    }
    if let Some(s) = start {
        cols.push((header[s..].trim().to_string(), s));
    }
    cols
}

/// The header cells of kubectl's table output.
pub fn header(output: &str) -> Vec<String> {
    output
        .lines()
        .next()
        .map(|l| columns(l).into_iter().map(|(h, _)| h).collect())
        .unwrap_or_default()
}

/// The cells (by column position, so empty cells stay) of the table line
/// whose first cell is `name`.
pub fn row(output: &str, name: &str) -> Option<Vec<String>> {
    let mut lines = output.lines();
    let cols = columns(lines.next()?);
    let line = lines.find(|l| l.split_whitespace().next() == Some(name))?;
    let cell = |i: usize| {
        let (_, start) = cols[i];
        let end = cols
            .get(i + 1)
            .map_or(line.len(), |(_, s)| *s)
            .min(line.len());
        line.get(start.min(end)..end)
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    Some((0..cols.len()).map(cell).collect())
}

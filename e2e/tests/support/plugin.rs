//! `kubectl serin`, run through the real kubectl exactly as a person runs it: the
//! plugin's directory on PATH, the sandbox's kubeconfig in KUBECONFIG.

use std::path::Path;
use std::process::{Command, Output};

use super::{plugin_bin, sandbox, workdir};

/// `kubectl <args>` with the plugin on PATH and the sandbox as the current cluster.
pub fn kubectl(args: &[&str]) -> Command {
    let dir = plugin_bin()
        .parent()
        .map(Path::to_path_buf)
        .expect("the plugin's directory");
    let path = std::env::join_paths(std::iter::once(dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH");
    let mut cmd = Command::new("kubectl");
    cmd.args(args)
        .env("PATH", path)
        .env("KUBECONFIG", &sandbox().kubeconfig)
        .env("KUBECACHEDIR", workdir().join("kubectl-cache"));
    cmd
}

/// Runs `kubectl serin <args>` to the end.
pub fn serin(args: &[&str]) -> Output {
    let mut all = vec!["serin"];
    all.extend_from_slice(args);
    kubectl(&all).output().expect("run kubectl")
}

pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `kubectl serin <args>`, which must succeed; its stdout.
pub fn serin_ok(args: &[&str]) -> String {
    let out = serin(args);
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "kubectl serin {} failed ({}):\n{stdout}\n{stderr}",
        args.join(" "),
        out.status
    );
    stdout
}

/// `kubectl serin <args>`, which must fail; its stderr.
pub fn serin_fails(args: &[&str]) -> String {
    let out = serin(args);
    let (stdout, stderr) = text(&out);
    assert!(
        !out.status.success(),
        "kubectl serin {} should have failed:\n{stdout}",
        args.join(" ")
    );
    stderr
}

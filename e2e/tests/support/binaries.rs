//! The `serin` binary the CLI tests and the scenarios run, and the `kubectl-serin`
//! plugin, built on demand.
//!
//! `CARGO_BIN_EXE_serin` exists only for tests of the `serin` package itself, and
//! artifact dependencies are unstable, so a test of `serin-sandbox` cannot ask cargo
//! for the binary. Instead the first test that needs it runs `cargo build -p serin
//! --bin serin` into the same target directory and profile as the test executable.
//! Cargo decides whether anything is stale (a no-op build takes about a second), and
//! its lock on the build directory serialises test binaries that build at the same
//! time; a `OnceLock` makes it one build per test process.
//!
//! `SERIN_BIN` names a prebuilt binary instead (a static or cross build), as
//! `e2e/chart-test.sh` also accepts.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The path of an up-to-date `serin` binary; panics with cargo's output when the
/// build fails (a test cannot run without it).
pub fn serin_bin() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BIN.get_or_init(|| locate("serin", "SERIN_BIN")) {
        Ok(path) => path.clone(),
        Err(e) => panic!("the serin binary is not available: {e}"),
    }
}

/// The path of an up-to-date `kubectl-serin` plugin (`KUBECTL_SERIN_BIN` names a
/// prebuilt one); its directory goes on PATH so that `kubectl serin` finds it.
pub fn plugin_bin() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BIN.get_or_init(|| locate("kubectl-serin", "KUBECTL_SERIN_BIN")) {
        Ok(path) => path.clone(),
        Err(e) => panic!("the kubectl-serin binary is not available: {e}"),
    }
}

fn locate(name: &str, env: &str) -> Result<PathBuf, String> {
    if let Some(given) = std::env::var_os(env).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(given);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "{env} names {}, which is not a file",
                path.display()
            ))
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("test executable path: {e}"))?;
    // Test executables live in <target-dir>/<profile>/deps/.
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("no profile directory above {}", exe.display()))?;
    let target_dir = profile_dir
        .parent()
        .ok_or_else(|| format!("no target directory above {}", profile_dir.display()))?;
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("odd profile directory {}", profile_dir.display()))?;
    build(target_dir, profile, name)?;
    let bin = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "cargo built {name}, yet {} is missing",
            bin.display()
        ))
    }
}

/// Runs `cargo build -p serin --bin NAME` for the workspace this crate belongs to.
fn build(target_dir: &Path, profile: &str, name: &str) -> Result<(), String> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("the sandbox crate has no parent directory")?;
    // The cargo that built this test, so toolchain overrides carry over.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut cmd = Command::new(cargo);
    // Cargo runs a test with variables describing the test's own package; build scripts
    // watch some of them (ring's watches CARGO_PKG_NAME), so passing them on would
    // make this build and the next `cargo test` rebuild each other's dependencies.
    for (var, _) in std::env::vars_os() {
        if var.to_str().is_some_and(set_for_the_test) {
            cmd.env_remove(&var);
        }
    }
    cmd.current_dir(workspace)
        .args(["build", "--quiet", "-p", "serin", "--bin", name])
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    // The `dev` profile builds into `debug/`; any other profile into its own name.
    if profile != "debug" {
        cmd.args(["--profile", profile]);
    }
    eprintln!("building {name} (cargo build -p serin --bin {name}) for the tests");
    let out = cmd.output().map_err(|e| format!("cannot run cargo: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`cargo build -p serin --bin {name}` failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The variables cargo sets for the test process itself, rather than the user's.
fn set_for_the_test(name: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "CARGO_PKG_",
        "CARGO_MANIFEST_",
        "CARGO_CRATE_",
        "CARGO_BIN_",
    ];
    const NAMES: &[&str] = &[
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
        "OUT_DIR",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p)) || NAMES.contains(&name)
}

#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests, the sandbox's API conformance
# suite, the whole-chain test and serin's end-to-end scenarios.
# Installs what a fresh Debian machine lacks (Debian's prometheus and tmux).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v prometheus >/dev/null 2>&1 && [ ! -x /usr/bin/prometheus ]; then
  echo "==> installing prometheus (Debian package)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
  # The package starts a system service; the sandbox runs its own instance.
  (systemctl stop prometheus 2>/dev/null || service prometheus stop 2>/dev/null || true) >/dev/null 2>&1
fi
if ! command -v tmux >/dev/null 2>&1; then
  # The plugin's live views (kubectl serin get -w, status -w) are checked in a terminal.
  echo "==> installing tmux (Debian package)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >/dev/null
fi
command -v kubectl >/dev/null 2>&1 || { echo "kubectl is required on PATH" >&2; exit 1; }

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "==> cargo build"
cargo build --workspace --all-targets
echo "==> helm chart"
bash e2e/chart-test.sh
echo "==> static (musl) build of the image's binary"
bash e2e/static-build.sh
echo "==> cargo test"
cargo test --workspace --no-fail-fast -- --test-threads "${SERIN_TEST_THREADS:-6}"

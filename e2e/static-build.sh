#!/usr/bin/env bash
# Builds serin as a static musl binary (what the Dockerfile ships) and checks that it
# starts and prints its version. Docker cannot run on the test machines, so this is the
# image's build step without Docker.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-musl
if ! command -v musl-gcc >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musl-tools >/dev/null
fi
if ! rustup target list --installed | grep -qx "$target"; then
  rustup target add "$target"
fi
cargo build -q -p serin --target "$target"
bin="target/$target/debug/serin"
file "$bin" | grep -Eq "static(-pie)? linked|statically linked" || { file "$bin"; echo "not a static binary" >&2; exit 1; }
version=$("$bin" version)
echo "static binary: $bin ($version)"
[ "$version" = "serin $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)" ]

#!/usr/bin/env bash
# The Helm chart's test (charts/serin/tests/test_chart.py): lint and render with the real
# Helm engine, validate the rendered objects, RBAC against `serin rbac`, the CRD copy, the
# pod's security settings and the Grafana dashboard against Grafana's schema.
# Installs its tools on first use (idempotent): a Python venv and two npm packages.
# Run from anywhere; prints `N passed, N failed` last and exits non-zero on a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

tmp="${TMPDIR:-/tmp}"
venv="$tmp/serin-chart-venv"
node_dir="$tmp/serin-chart-node"
# Grafana's schema package whose dashboard schemaVersion (39) the dashboard declares.
grafana_schema="@grafana/schema@11.2.0"
schema_generator="ts-json-schema-generator@2.9.0"

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c \
  'import helm_python, kubernetes_validate, check_jsonschema, yamllint' 2>/dev/null; then
  echo "==> creating $venv (helm-python-sdk, kubernetes-validate, check-jsonschema, yamllint)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    helm-python-sdk kubernetes-validate check-jsonschema yamllint
fi

want_version="${grafana_schema##*@}"
have_version="$(node -p "require('$node_dir/node_modules/@grafana/schema/package.json').version" 2>/dev/null || true)"
if [ "$have_version" != "$want_version" ] || [ ! -x "$node_dir/node_modules/.bin/ts-json-schema-generator" ]; then
  echo "==> installing $grafana_schema and $schema_generator into $node_dir"
  mkdir -p "$node_dir"
  npm install --prefix "$node_dir" --save-exact --no-audit --no-fund --loglevel=error \
    "$grafana_schema" "$schema_generator" 2>&1 | grep -v 'Unknown user config' || true
  [ -x "$node_dir/node_modules/.bin/ts-json-schema-generator" ] || { echo "npm install failed" >&2; exit 1; }
fi

serin_bin="${SERIN_BIN:-target/debug/serin}"
if [ ! -x "$serin_bin" ]; then
  echo "==> building serin ($serin_bin is missing)"
  cargo build --quiet -p serin
  serin_bin="${CARGO_TARGET_DIR:-target}/debug/serin"
fi

PYTHONDONTWRITEBYTECODE=1 SERIN_BIN="$serin_bin" SERIN_CHART_NODE_DIR="$node_dir" \
  exec "$venv/bin/python" charts/serin/tests/test_chart.py

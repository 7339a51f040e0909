#!/usr/bin/env bash
# The demo: builds serin and its sandbox, starts both, deploys an app with a Canary,
# rolls out a healthy revision (promoted) and then a faulty one (rolled back), showing
# progress as `kubectl get canaries -w` does and the events at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v prometheus >/dev/null 2>&1 && [ ! -x /usr/bin/prometheus ]; then
  echo "==> installing prometheus (Debian package)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
fi
echo "==> building"
cargo build -q --workspace --bins

work=$(mktemp -d)
export KUBECONFIG="$work/kubeconfig"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "==> starting the sandbox (API server, kubelet and mesh stand-ins, Prometheus)"
target/debug/serin-sandbox up --kubeconfig "$KUBECONFIG" >"$work/sandbox.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do
  prom=$(grep -ioE 'prometheus[^h]*(http://127\.0\.0\.1:[0-9]+)' "$work/sandbox.log" | grep -oE 'http://127\.0\.0\.1:[0-9]+' | head -1 || true)
  [ -n "$prom" ] && [ -s "$KUBECONFIG" ] && break
  sleep 0.1
done
[ -n "${prom:-}" ] || { echo "the sandbox did not start:"; cat "$work/sandbox.log"; exit 1; }
echo "    kubeconfig $KUBECONFIG, prometheus $prom"

target/debug/serin crd | kubectl apply -f - >/dev/null
kubectl wait --for=condition=established --timeout=30s crd/canaries.serin.dev >/dev/null
target/debug/serin run --metrics-server "$prom" --min-interval 1s --log-format text \
  --listen 127.0.0.1:0 >"$work/serin.log" 2>&1 &
pids+=($!)

kubectl create namespace demo >/dev/null
app() { # version, error rate
  cat <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: podinfo, namespace: demo}
spec:
  replicas: 2
  selector: {matchLabels: {app: podinfo}}
  template:
    metadata: {labels: {app: podinfo}}
    spec:
      containers:
      - name: podinfo
        image: ghcr.io/stefanprodan/podinfo:$1
        env: [{name: SANDBOX_ERROR_RATE, value: "$2"}]
YAML
}
app 6.0.0 0 | kubectl apply -f - >/dev/null
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: serin.dev/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: demo}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  progressDeadlineSeconds: 60
  service: {port: 9898}
  analysis:
    interval: 5s
    threshold: 3
    maxWeight: 50
    stepWeight: 10
    metrics:
    - name: request-success-rate
      interval: 10s
      thresholdRange: {min: 99}
YAML

echo "==> kubectl get canaries -w"
kubectl get canaries -n demo -w &
pids+=($!)
wait_phase() {
  kubectl wait -n demo canary/podinfo --for=jsonpath='{.status.phase}'="$1" --timeout=180s >/dev/null
}
wait_phase Initialized
echo "==> rolling out 6.0.1 (healthy)"
app 6.0.1 0 | kubectl apply -f - >/dev/null
wait_phase Succeeded
echo "==> rolling out 6.0.2 (30% of its requests fail)"
app 6.0.2 0.3 | kubectl apply -f - >/dev/null
wait_phase Failed
echo
echo "==> kubectl describe canary podinfo (events)"
kubectl describe canary -n demo podinfo | sed -n '/^Events:/,$p'

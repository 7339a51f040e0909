#!/usr/bin/env python3
"""The serin chart's test, run by e2e/chart-test.sh (which installs its tools).

Lints and renders the chart with Helm's own engine (helm-python-sdk bundles Helm v4's Go
SDK) for the default values and a non-default set, validates every rendered built-in
object against Kubernetes 1.33's OpenAPI schema (kubernetes-validate, strict), yamllints
the output, and checks what a reviewer would check by hand: RBAC equals `serin rbac`, the
CRDs are the repository's and survive uninstall, the pod is locked down and probed, the
flags exist in the binary, and the dashboard is valid against Grafana's schema.
Prints one line per check and `N passed, N failed` last; exits 1 on a failure.
"""

import json
import os
import re
import subprocess
import sys
import traceback
from pathlib import Path

import helm_python
import kubernetes_validate
import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

import dashboard as grafana

CHART = Path(__file__).resolve().parents[1]
REPO = CHART.parents[1]
KUBE_VERSION = "1.33.0"
RELEASE, NAMESPACE = "serin", "serin-system"
SERIN_BIN = Path(os.environ.get("SERIN_BIN", REPO / "target/debug/serin"))
NODE_DIR = Path(os.environ.get("SERIN_CHART_NODE_DIR", Path(os.environ.get("TMPDIR", "/tmp")) / "serin-chart-node"))
NOT_BUILT_IN = {("monitoring.coreos.com/v1", "ServiceMonitor")}
LEASES = {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"]}
# Long lines are expected (CRD descriptions, the dashboard's JSON); lists may be indented or
# not (toYaml, like kubectl, does not indent them).
YAMLLINT = YamlLintConfig("extends: default\nrules:\n  line-length: disable\n  document-start: disable\n"
                          "  indentation: {spaces: 2, indent-sequences: whatever}\n")

CUSTOM = {
    "replicaCount": 2,
    "leaderElection": {"enabled": "auto", "leaseDuration": "20s"},
    "watchNamespace": "apps",
    "metricsServer": "http://prometheus.monitoring:9090",
    "meshProvider": "istio",
    "routers": ["istio", "gatewayapi"],
    "logLevel": "serin=debug,kube=info",
    "logFormat": "text",
    "extraArgs": ["--min-interval=30s"],
    "image": {"repository": "registry.example.com/serin", "tag": "1.2.3", "pullPolicy": "Always"},
    "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}},
    "serviceMonitor": {"enabled": True, "interval": "30s", "labels": {"release": "prometheus"}},
    "podDisruptionBudget": {"enabled": True},
    "dashboard": {"enabled": True, "annotations": {"grafana_folder": "serin"}},
    "podAnnotations": {"team": "platform"},
    "podLabels": {"tier": "control"},
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "infra", "effect": "NoSchedule"}],
    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
        "weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname", "labelSelector": {
            "matchLabels": {"app.kubernetes.io/name": "serin"}}}}]}},
}


def render(values: dict) -> tuple[str, list[dict]]:
    manifests = helm_python.Chart.load(str(CHART)).render(values, name=RELEASE, namespace=NAMESPACE)
    # As `helm template` prints them: each template trimmed, after a document start.
    text = "".join(f"---\n# Source: {path}\n{m.strip()}\n" for path, m in sorted(manifests.items())
                   if m.strip() and not path.endswith("NOTES.txt"))
    return text, [d for d in yaml.safe_load_all(text) if d]


def one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    if len(found) != 1:
        raise AssertionError(f"expected one {kind} {name or ''}, found {len(found)}")
    return found[0]


def kinds(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def expect(cond: bool, message: str) -> None:
    if not cond:
        raise AssertionError(message)


def permissions(rules: list[dict]) -> set[tuple[str, str, str]]:
    """The (group, resource, verb) triples a list of rules grants."""
    return {(g, r, v) for rule in rules for g in rule["apiGroups"]
            for r in rule["resources"] for v in rule["verbs"]}


def serin_rules(values: dict) -> list[dict]:
    """`serin rbac` for the routers the values enable (the chart's default: istio)."""
    routers = ",".join(values.get("routers", ["istio"]))
    out = subprocess.run([str(SERIN_BIN), "rbac", f"--routers={routers}"], capture_output=True, text=True,
                         check=True, timeout=60)
    return json.loads(out.stdout)


def same_rules(got: list[dict], want: list[dict], what: str) -> None:
    extra, missing = permissions(got) - permissions(want), permissions(want) - permissions(got)
    expect(not extra and not missing, f"{what}: grants {sorted(extra)} beyond `serin rbac`, lacks {sorted(missing)}")
    expect(got == want, f"{what}: same permissions as `serin rbac` but not its rules as listed: {got}")


def split_leases(rules: list[dict]) -> tuple[list[dict], list[dict]]:
    leases = [r for r in rules if {k: r[k] for k in LEASES} == LEASES]
    return [r for r in rules if r not in leases], leases


class Suite:
    def __init__(self) -> None:
        self.passed = self.failed = 0
        self.default_text, self.default = render({})
        self.custom_text, self.custom = render(CUSTOM)

    def run(self, name: str, check) -> None:
        try:
            note = check()
            self.passed += 1
            print(f"ok   {name}" + (f" ({note})" if note else ""))
        except Exception as e:  # a failed check, whatever raised it, is reported, not fatal
            self.failed += 1
            detail = str(e) if isinstance(e, AssertionError) else traceback.format_exc()
            print(f"FAIL {name}\n     " + detail.replace("\n", "\n     "))


# 1. lint ---------------------------------------------------------------------------------

def lint(values: dict) -> None:
    report = helm_python.lint(str(CHART), values, strict=True, namespace=NAMESPACE,
                              kube_version=f"v{KUBE_VERSION}")
    bad = [m for m in report.get("messages", []) if m.get("severity", 3) >= 2] + report.get("errors", [])
    expect(not bad, f"helm lint --strict: {bad}")


def lint_rejects_bad_values() -> None:
    """values.schema.json is in force: a wrong log format fails lint."""
    report = helm_python.lint(str(CHART), {"logFormat": "xml"}, strict=True, kube_version=f"v{KUBE_VERSION}")
    errors = [m for m in report.get("messages", []) if m.get("severity") == 3] + report.get("errors", [])
    expect(any("logFormat" in str(e) for e in errors), f"lint accepted logFormat=xml: {report}")


# 2. validate and yamllint ------------------------------------------------------------------

def validate_kinds(docs: list[dict]) -> str:
    validated = []
    for d in docs:
        try:
            kubernetes_validate.validate(d, KUBE_VERSION, strict=True)
            validated.append(d["kind"])
        except kubernetes_validate.SchemaNotFoundError:
            expect((d["apiVersion"], d["kind"]) in NOT_BUILT_IN, f"no schema for {d['apiVersion']} {d['kind']}")
        except kubernetes_validate.ValidationError as e:
            raise AssertionError(f"{d['kind']} {d['metadata'].get('name')}: {e}") from None
    return f"{len(validated)} objects: {', '.join(sorted(set(validated)))}"


def yamllint(text: str, label: str) -> None:
    problems = [f"{label}:{p.line}: {p.desc} ({p.rule})" for p in linter.run(text, YAMLLINT)]
    expect(not problems, "\n".join(problems[:20]))


# 3. RBAC -----------------------------------------------------------------------------------

def rbac_default(docs: list[dict]) -> None:
    """Cluster-wide, no leader election: the ClusterRole is `serin rbac` without leases."""
    expected, _ = split_leases(serin_rules({}))
    role = one(docs, "ClusterRole", RELEASE)
    same_rules(role["rules"], expected, "ClusterRole")
    expect(not kinds(docs, "Role"), "a Role is rendered without leader election or watchNamespace")
    binding = one(docs, "ClusterRoleBinding")
    expect(binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": role["metadata"]["name"]}, f"roleRef {binding['roleRef']}")
    check_subject(binding, docs)


def rbac_custom(docs: list[dict]) -> None:
    """watchNamespace + leader election: a Role in the watched namespace with the rest of
    `serin rbac`, and the leases rule in a Role of the release namespace; together exactly
    `serin rbac`."""
    rules = serin_rules(CUSTOM)
    expected, leases = split_leases(rules)
    expect(len(leases) == 1, f"`serin rbac` has {len(leases)} leases rules")
    expect(not [r for r in kinds(docs, "ClusterRole") if r["metadata"]["name"] not in USER_ROLES]
           and not kinds(docs, "ClusterRoleBinding"), "serin's ClusterRole is rendered with watchNamespace")
    roles = {(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in kinds(docs, "Role")}
    main = roles.get((CUSTOM["watchNamespace"], RELEASE))
    lease = roles.get((NAMESPACE, f"{RELEASE}-leader-election"))
    expect(main is not None and lease is not None and len(roles) == 2, f"Roles: {sorted(roles)}")
    same_rules(main["rules"], expected, "Role in the watched namespace")
    same_rules(lease["rules"], leases, "leader-election Role")
    expect(permissions(main["rules"] + lease["rules"]) == permissions(rules), "both Roles differ from `serin rbac`")
    for binding in kinds(docs, "RoleBinding"):
        ref = binding["roleRef"]
        target = roles.get((binding["metadata"]["namespace"], ref["name"]))
        expect(ref["kind"] == "Role" and target is not None, f"RoleBinding {binding['metadata']} -> {ref}")
        check_subject(binding, docs)
    expect(len(kinds(docs, "RoleBinding")) == 2, "expected two RoleBindings")


def check_subject(binding: dict, docs: list[dict]) -> None:
    sa = one(docs, "ServiceAccount")
    expect(binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"],
                                    "namespace": NAMESPACE}], f"subjects {binding['subjects']}")
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    expect(pod["serviceAccountName"] == sa["metadata"]["name"], "the pod does not run as the bound ServiceAccount")


# 3b. the people's roles and the CanaryAction admission policy -----------------------------

USER_ROLES = (f"{RELEASE}-viewer", f"{RELEASE}-operator")
POLICY = f"{RELEASE}-canaryaction-requester"


def user_roles(docs: list[dict]) -> None:
    """viewer reads Canaries, CanaryActions and events; operator adds exactly `create
    canaryactions`; neither may change a Canary (its spec belongs to Git)."""
    viewer = permissions(one(docs, "ClusterRole", USER_ROLES[0])["rules"])
    operator = permissions(one(docs, "ClusterRole", USER_ROLES[1])["rules"])
    reads = {("serin.dev", r, v) for r in ("canaries", "canaryactions") for v in ("get", "list", "watch")}
    reads |= {(g, "events", v) for g in ("", "events.k8s.io") for v in ("get", "list", "watch")}
    expect(viewer == reads, f"viewer grants {sorted(viewer ^ reads)} unexpectedly")
    expect(operator - viewer == {("serin.dev", "canaryactions", "create")}, f"operator adds {sorted(operator - viewer)}")
    _, off = render({"rbac": {"userRoles": False}})
    expect(not [r for r in kinds(off, "ClusterRole") if r["metadata"]["name"] in USER_ROLES],
           "rbac.userRoles=false still renders the user roles")


def action_policy(docs: list[dict]) -> None:
    """A CanaryAction whose spec.requestedBy is not request.userInfo.username is refused at
    creation; the binding denies; actionPolicy.enabled=false renders neither."""
    policy = one(docs, "ValidatingAdmissionPolicy", POLICY)
    expect(policy["apiVersion"] == "admissionregistration.k8s.io/v1", policy["apiVersion"])
    rules = policy["spec"]["matchConstraints"]["resourceRules"]
    expect(rules == [{"apiGroups": ["serin.dev"], "apiVersions": ["*"], "operations": ["CREATE"],
                      "resources": ["canaryactions"]}], f"resourceRules {rules}")
    checks = [v["expression"] for v in policy["spec"]["validations"]]
    expect(checks == ["object.spec.requestedBy == request.userInfo.username"], f"validations {checks}")
    expect(policy["spec"]["failurePolicy"] == "Fail", "failurePolicy")
    binding = one(docs, "ValidatingAdmissionPolicyBinding", POLICY)
    expect(binding["spec"] == {"policyName": POLICY, "validationActions": ["Deny"]}, f"binding {binding['spec']}")
    _, off = render({"actionPolicy": {"enabled": False}})
    expect(not kinds(off, "ValidatingAdmissionPolicy") and not kinds(off, "ValidatingAdmissionPolicyBinding"),
           "actionPolicy.enabled=false still renders the policy")


# 4. CRDs -----------------------------------------------------------------------------------

def crd_copy() -> None:
    source, copy = (REPO / "crds/serin.yaml").read_bytes(), (CHART / "files/crds.yaml").read_bytes()
    expect(source == copy, "charts/serin/files/crds.yaml differs from crds/serin.yaml: "
                           "cp crds/serin.yaml charts/serin/files/crds.yaml")


def crds_rendered(docs: list[dict]) -> str:
    expected = [d for d in yaml.safe_load_all((REPO / "crds/serin.yaml").read_text()) if d]
    rendered = kinds(docs, "CustomResourceDefinition")
    expect(len(rendered) == len(expected), f"{len(rendered)} CRDs rendered, {len(expected)} in crds/serin.yaml")
    for got, want in zip(rendered, expected):
        meta = got["metadata"]
        expect(meta.get("annotations", {}).get("helm.sh/resource-policy") == "keep",
               f"{meta['name']} lacks helm.sh/resource-policy: keep")
        stripped = {**got, "metadata": {k: v for k, v in meta.items() if k not in ("annotations", "labels")}}
        expect(stripped == want, f"rendered {meta['name']} differs from crds/serin.yaml")
    _, off = render({"crds": {"install": False}})
    expect(not kinds(off, "CustomResourceDefinition"), "crds.install=false still renders CRDs")
    return ", ".join(d["metadata"]["name"] for d in rendered)


# 5. the pod --------------------------------------------------------------------------------

def pod_security(docs: list[dict]) -> None:
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    expect(pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 65532,
           f"pod securityContext {pod['securityContext']}")
    expect(pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, "pod seccompProfile")
    sc = pod["containers"][0]["securityContext"]
    want = {"runAsNonRoot": True, "runAsUser": 65532, "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"}}
    wrong = {k: sc.get(k) for k, v in want.items() if sc.get(k) != v}
    expect(not wrong, f"container securityContext: {wrong}")
    expect(pod.get("automountServiceAccountToken", True), "the token serin authenticates with is not mounted")


def pod_probes_and_annotations(docs: list[dict], values: dict) -> None:
    template = one(docs, "Deployment")["spec"]["template"]
    c = template["spec"]["containers"][0]
    expect(c["ports"] == [{"name": "http-metrics", "containerPort": 8080, "protocol": "TCP"}], f"ports {c['ports']}")
    expect(c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http-metrics"}, "liveness probe")
    expect(c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http-metrics"}, "readiness probe")
    ann = template["metadata"]["annotations"]
    want = {"prometheus.io/scrape": "true", "prometheus.io/port": "8080", "prometheus.io/path": "/metrics",
            **values.get("podAnnotations", {})}
    expect(ann == want, f"pod annotations {ann}")
    defaults = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}}
    expect(c["resources"] == values.get("resources", defaults), f"resources {c['resources']}")
    env = {e["name"]: e for e in c.get("env", [])}
    expect(env.get("POD_NAME", {}).get("valueFrom") == {"fieldRef": {"fieldPath": "metadata.name"}},
           "POD_NAME is not the pod's name from the downward API")


def deployment_default(docs: list[dict]) -> None:
    d = one(docs, "Deployment")
    c = d["spec"]["template"]["spec"]["containers"][0]
    expect(c["image"] == "ghcr.io/serin-dev/serin:0.1.0", f"image {c['image']}")
    expect(c["imagePullPolicy"] == "IfNotPresent", "pullPolicy")
    expect(c["args"] == ["run", "--metrics-server=http://prometheus.istio-system:9090", "--mesh-provider=istio",
                         "--routers=istio", "--log-level=info", "--log-format=json", "--listen=0.0.0.0:8080"], f"args {c['args']}")
    expect(d["spec"]["replicas"] == 1 and d["spec"]["strategy"] == {"type": "Recreate"},
           f"one replica without leader election must be Recreate: {d['spec']['strategy']}")
    expect(not kinds(docs, "ServiceMonitor") and not kinds(docs, "PodDisruptionBudget")
           and not kinds(docs, "ConfigMap"), "optional objects rendered by default")


def deployment_custom(docs: list[dict]) -> None:
    d = one(docs, "Deployment")
    pod = d["spec"]["template"]
    c = pod["spec"]["containers"][0]
    expect(c["image"] == "registry.example.com/serin:1.2.3" and c["imagePullPolicy"] == "Always", c["image"])
    expect(c["args"] == ["run", "--metrics-server=http://prometheus.monitoring:9090", "--mesh-provider=istio",
                         "--routers=istio,gatewayapi", "--log-level=serin=debug,kube=info", "--log-format=text", "--listen=0.0.0.0:8080",
                         "--namespace=apps", "--leader-election", f"--leader-election-namespace={NAMESPACE}",
                         f"--leader-election-lease-name={RELEASE}", "--leader-election-duration=20s",
                         "--min-interval=30s"], f"args {c['args']}")
    expect(d["spec"]["replicas"] == 2 and d["spec"]["strategy"] == {"type": "RollingUpdate"}, "strategy")
    expect(pod["metadata"]["labels"].get("tier") == "control", "podLabels")
    for key in ("nodeSelector", "tolerations", "affinity"):
        expect(pod["spec"].get(key) == CUSTOM[key], f"{key} {pod['spec'].get(key)}")


def leader_election_matrix() -> None:
    """leaderElection true|false|auto against replicaCount: flags, strategy, lease Role."""
    cases = [(1, "auto", False), (2, "auto", True), (3, False, False), (1, True, True)]
    for replicas, enabled, on in cases:
        _, docs = render({"replicaCount": replicas, "leaderElection": {"enabled": enabled}})
        args = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
        strategy = one(docs, "Deployment")["spec"]["strategy"]["type"]
        lease_roles = [r for r in kinds(docs, "Role") if r["metadata"]["name"].endswith("-leader-election")]
        case = f"replicas={replicas} enabled={enabled}"
        expect(("--leader-election" in args) == on, f"{case}: args {args}")
        expect(bool(lease_roles) == on, f"{case}: leases Role rendered={bool(lease_roles)}")
        expect(strategy == ("Recreate" if replicas == 1 and not on else "RollingUpdate"), f"{case}: {strategy}")


def flags_known_to_binary(docs: list[dict]) -> None:
    """Every flag the chart passes is one `serin run` accepts."""
    help_text = subprocess.run([str(SERIN_BIN), "run", "--help"], capture_output=True, text=True,
                               check=True, timeout=60).stdout
    args = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    expect(args[0] == "run", "the first argument must be the run subcommand")
    flags = [a.split("=", 1)[0] for a in args[1:]]
    unknown = [f for f in flags if not re.search(rf"(^|[\s,]){re.escape(f)}[\s=]", help_text, re.M)]
    expect(not unknown, f"`{SERIN_BIN} run` has no {unknown} (is the binary up to date?)")


def services_and_selectors(docs: list[dict], values: dict) -> None:
    pod_labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    svc = one(docs, "Service")
    expect(svc["spec"]["ports"] == [{"name": "http-metrics", "port": 8080, "targetPort": "http-metrics",
                                     "protocol": "TCP"}], f"Service ports {svc['spec']['ports']}")
    expect(svc["spec"]["selector"].items() <= pod_labels.items(), "the Service does not select the pods")
    if values.get("serviceMonitor", {}).get("enabled"):
        sm = one(docs, "ServiceMonitor")
        expect(sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items(),
               "the ServiceMonitor does not select the Service")
        expect(sm["spec"]["endpoints"][0]["port"] == "http-metrics" and sm["spec"]["endpoints"][0]["interval"] == "30s",
               f"endpoints {sm['spec']['endpoints']}")
        expect(sm["metadata"]["labels"].get("release") == "prometheus", "serviceMonitor.labels")
    if values.get("podDisruptionBudget", {}).get("enabled"):
        pdb = one(docs, "PodDisruptionBudget")
        expect(pdb["spec"]["minAvailable"] == 1, "minAvailable")
        expect(pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items(), "the PDB does not select the pods")


# 6. the dashboard --------------------------------------------------------------------------

DASHBOARD_METRICS = ["serin_canary_weight", "serin_canary_status", "istio_requests_total",
                     "istio_request_duration_milliseconds_bucket", "serin_canary_metric_analysis",
                     "serin_canary_successes_total", "serin_canary_failures_total",
                     "serin_canary_duration_seconds", "serin_reconcile_total", "serin_reconcile_errors_total",
                     "serin_reconcile_duration_seconds", "serin_kube_api_requests_total"]


def load_dashboard() -> dict:
    return json.loads((CHART / "dashboards/serin.json").read_text())


def dashboard_schema() -> str:
    grafana.check_schema(load_dashboard(), NODE_DIR)
    return (f"schemaVersion {load_dashboard()['schemaVersion']}, "
            f"@grafana/schema {grafana.schema_package_version(NODE_DIR)}")


def dashboard_content() -> str:
    d = load_dashboard()
    grafana.check_layout(d)
    grafana.check_queries(d, DASHBOARD_METRICS)
    return "" if grafana.check_promql(d) else "promtool not installed: PromQL not parsed"


def dashboard_configmap(docs: list[dict]) -> None:
    cm = one(docs, "ConfigMap")
    expect(cm["metadata"]["labels"].get("grafana_dashboard") == "1", "label grafana_dashboard")
    expect(cm["metadata"].get("annotations") == {"grafana_folder": "serin"}, "dashboard.annotations")
    expect(cm["data"]["serin.json"] == (CHART / "dashboards/serin.json").read_text().rstrip("\n"),
           "the ConfigMap does not carry dashboards/serin.json")


def main() -> int:
    os.chdir(REPO)
    try:
        s = Suite()
    except Exception:  # the chart does not render: nothing else can be checked
        print(f"FAIL render the chart\n{traceback.format_exc()}\n0 passed, 1 failed")
        return 1
    s.run("1. helm lint --strict (default values)", lambda: lint({}))
    s.run("1. helm lint --strict (non-default values)", lambda: lint(CUSTOM))
    s.run("1. values.schema.json rejects bad values", lint_rejects_bad_values)
    s.run("2. kubernetes-validate 1.33 strict (default)", lambda: validate_kinds(s.default))
    s.run("2. kubernetes-validate 1.33 strict (non-default)", lambda: validate_kinds(s.custom))
    s.run("2. yamllint rendered output (default)", lambda: yamllint(s.default_text, "default"))
    s.run("2. yamllint rendered output (non-default)", lambda: yamllint(s.custom_text, "non-default"))
    s.run("2. yamllint values.yaml and Chart.yaml", lambda: [yamllint((CHART / f).read_text(), f)
                                                           for f in ("values.yaml", "Chart.yaml")] and None)
    s.run("3. ClusterRole == serin rbac (default)", lambda: rbac_default(s.default))
    s.run("3. Roles == serin rbac (watchNamespace, leader election)", lambda: rbac_custom(s.custom))
    s.run("3. viewer and operator ClusterRoles", lambda: user_roles(s.default))
    s.run("3. CanaryAction admission policy and binding", lambda: action_policy(s.default))
    s.run("4. files/crds.yaml is a copy of crds/serin.yaml", crd_copy)
    s.run("4. rendered CRDs equal crds/serin.yaml and are kept", lambda: crds_rendered(s.default))
    s.run("5. pod security context (default)", lambda: pod_security(s.default))
    s.run("5. pod security context (non-default)", lambda: pod_security(s.custom))
    s.run("5. probes, scrape annotations, resources, POD_NAME (default)",
          lambda: pod_probes_and_annotations(s.default, {}))
    s.run("5. probes, scrape annotations, resources, POD_NAME (non-default)",
          lambda: pod_probes_and_annotations(s.custom, CUSTOM))
    s.run("5. Deployment (default)", lambda: deployment_default(s.default))
    s.run("5. Deployment (non-default)", lambda: deployment_custom(s.custom))
    s.run("5. leader election: replicas x enabled", leader_election_matrix)
    s.run("5. flags exist in `serin run --help`", lambda: flags_known_to_binary(s.custom))
    s.run("5. Service, ServiceMonitor, PDB select the pods", lambda: services_and_selectors(s.custom, CUSTOM))
    s.run("6. dashboard valid against Grafana's schema", dashboard_schema)
    s.run("6. dashboard layout, variables, metrics, PromQL", dashboard_content)
    s.run("6. dashboard ConfigMap", lambda: dashboard_configmap(s.custom))
    print(f"{s.passed} passed, {s.failed} failed")
    return 1 if s.failed else 0


if __name__ == "__main__":
    sys.exit(main())

//! Flagger's own Gateway API e2e test (`test/gatewayapi/` in fluxcd/flagger: install.sh,
//! test-utils.sh, test-canary.sh) on the sandbox. Its manifests are below as Flagger has
//! them, with only the apiVersion changed to `serin.dev/v1beta1`. What the test harness
//! maps, as anyone running serin outside that cluster would:
//! - the namespaces: `test` and `flagger-system` are the scenario's namespace (serin
//!   watches that one), `istio-ingress` is a second namespace of the scenario;
//! - Flagger's `--set meshProvider=gatewayapi:v1` is serin's `--mesh-provider
//!   gatewayapi:v1` (the Canaries name no provider);
//! - the templates' `http://prometheus.istio-system:9090` and the webhooks'
//!   `http://flagger-loadtester.test/` reach the sandbox's Prometheus and loadtester
//!   stand-in through `--resolve`.
//!
//! The faulty revision errs through the sandbox's `SANDBOX_ERROR_RATE` (Flagger's test
//! makes its load tester call `/status/500`; the stand-in sends load, not paths).
//! Flagger's timings are kept (15s steps, 1m and 30s metric windows), so this scenario
//! takes about four minutes.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serin::api::Phase;

use crate::support::scenario::{Scenario, kubectl, kubectl_result, podinfo};
use crate::support::{TestNs, sandbox};

/// install.sh's Gateway (apiVersion as Flagger applies it).
const GATEWAY: &str = r#"apiVersion: gateway.networking.k8s.io/v1beta1
kind: Gateway
metadata:
  name: gateway
  namespace: istio-ingress
spec:
  gatewayClassName: istio
  listeners:
  - name: default
    hostname: "*.example.com"
    port: 80
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: All
"#;

/// test-utils.sh's `create_latency_metric_template` and `create_error_rate_metric_template`
/// (indented as in Flagger's heredocs).
const TEMPLATES: &str = r#"        apiVersion: serin.dev/v1beta1
        kind: MetricTemplate
        metadata:
          name: latency
          namespace: flagger-system
        spec:
          provider:
            type: prometheus
            address: http://prometheus.istio-system:9090
          query: |
            histogram_quantile(0.99,
              sum(
                rate(
                  istio_request_duration_milliseconds_bucket{
                    reporter="source",
                    destination_workload_namespace=~"{{ namespace }}",
                    destination_workload=~"{{ target }}",
                  }[{{ interval }}]
                )
              ) by (le)
            )/1000
---
        apiVersion: serin.dev/v1beta1
        kind: MetricTemplate
        metadata:
          name: error-rate
          namespace: flagger-system
        spec:
          provider:
            type: prometheus
            address: http://prometheus.istio-system:9090
          query: |
            100 - sum(
              rate(
                istio_requests_total{
                  reporter="source",
                  destination_workload_namespace=~"{{ namespace }}",
                  destination_workload=~"{{ target }}",
                  response_code!~"5.*"
                }[{{ interval }}]
              )
            )
            /
            sum(
              rate(
                istio_requests_total{
                  reporter="source",
                  destination_workload_namespace=~"{{ namespace }}",
                  destination_workload=~"{{ target }}",
                }[{{ interval }}]
              )
            )
            * 100
"#;

/// test-canary.sh's first Canary: promotion.
const CANARY: &str = r#"apiVersion: serin.dev/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: test
spec:
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: podinfo
  progressDeadlineSeconds: 60
  service:
    port: 9898
    portName: http
    hosts:
     - www.example.com
    gatewayRefs:
      - name: gateway
        namespace: istio-ingress
  analysis:
    interval: 15s
    threshold: 15
    maxWeight: 50
    stepWeight: 10
    metrics:
      - name: error-rate
        templateRef:
          name: error-rate
          namespace: flagger-system
        thresholdRange:
          max: 1
        interval: 1m
      - name: latency
        templateRef:
          name: latency
          namespace: flagger-system
        thresholdRange:
          max: 0.5
        interval: 30s
    webhooks:
      - name: load-test
        type: rollout
        url: http://flagger-loadtester.test/
        timeout: 5s
        metadata:
          cmd: "hey -z 2m -q 10 -c 2 -host www.example.com http://gateway-istio.istio-ingress"
          logCmdOutput: "true"
"#;

/// test-canary.sh's second Canary: rollback.
const ROLLBACK_CANARY: &str = r#"apiVersion: serin.dev/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: test
spec:
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: podinfo
  progressDeadlineSeconds: 30
  service:
    port: 9898
    targetPort: 9898
    portName: http
    hosts:
     - www.example.com
    gatewayRefs:
      - name: gateway
        namespace: istio-ingress
  analysis:
    interval: 15s
    threshold: 6
    maxWeight: 50
    stepWeight: 10
    metrics:
    - name: error-rate
      templateRef:
        name: error-rate
        namespace: flagger-system
      thresholdRange:
        max: 1
      interval: 30s
    - name: latency
      templateRef:
        name: latency
        namespace: flagger-system
      thresholdRange:
        max: 0.5
      interval: 30s
    webhooks:
      - name: load-test
        type: rollout
        url: http://flagger-loadtester.test/
        timeout: 5s
        metadata:
          cmd: "hey -z 2m -q 10 -c 2 -host www.example.com http://gateway-istio.istio-ingress/status/500"
          logCmdOutput: "true"
"#;

/// Flagger's namespaces in a manifest, as this scenario's.
fn placed(manifest: &str, ns: &str, ingress: &str) -> String {
    manifest
        .replace("namespace: test\n", &format!("namespace: {ns}\n"))
        .replace("namespace: flagger-system\n", &format!("namespace: {ns}\n"))
        .replace(
            "namespace: istio-ingress\n",
            &format!("namespace: {ingress}\n"),
        )
}

fn weights(s: &Scenario) -> String {
    s.jsonpath(
        "httproute/podinfo",
        "{.spec.rules[-1:].backendRefs[*].weight}",
    )
}

/// Waits for `phase`, recording every weight pair the HTTPRoute carried on the way.
async fn weights_until(s: &Scenario, phase: Phase, secs: u64) -> BTreeSet<String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut seen = BTreeSet::new();
    loop {
        seen.insert(weights(s));
        let st = s.status("podinfo").await;
        if st.phase == Some(phase) {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {phase:?}; weights seen {seen:?}; status {st:#?}\nevents:\n{}\nlog:\n{}",
            s.events("podinfo"),
            s.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `--resolve` mapping Flagger's in-cluster Prometheus to the sandbox's.
fn prometheus_mapping() -> String {
    let url = &sandbox().prometheus_url;
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .replace("localhost", "127.0.0.1");
    format!("prometheus.istio-system={addr}")
}

#[tokio::test(flavor = "multi_thread")]
async fn gw0_flaggers_gateway_api_e2e_manifests_promote_and_roll_back() {
    let mut s = Scenario::without_serin("gw-flagger").await;
    let ingress = TestNs::create_at(&sandbox().kubeconfig, "gw-ingress")
        .await
        .expect("the ingress namespace");
    let mapping = prometheus_mapping();
    s.start_replica(&["--mesh-provider", "gatewayapi:v1", "--resolve", &mapping]);
    // install.sh's Gateway, of Istio's class (created here unless the cluster has it).
    if kubectl_result(&["get", "gatewayclass", "istio"], None).is_err() {
        let class = "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata:\n  name: istio\nspec:\n  controllerName: istio.io/gateway-controller\n";
        let _ = kubectl_result(&["apply", "-f", "-"], Some(class));
    }
    kubectl(
        &["apply", "-f", "-"],
        Some(&placed(GATEWAY, &s.ns, &ingress.name)),
    );
    s.apply(&podinfo("6.0.0", &[]));
    s.apply(&placed(TEMPLATES, &s.ns, &ingress.name));
    s.apply(&placed(CANARY, &s.ns, &ingress.name));

    // check_primary: Initialized, and the apex Service selects the primary.
    s.wait_phase("podinfo", Phase::Initialized, 90).await;
    assert_eq!(
        s.jsonpath("svc/podinfo", "{.spec.selector.app}"),
        "podinfo-primary"
    );
    // display_httproute: the route exists, under the Gateway in the other namespace.
    assert_eq!(weights(&s), "100 0");
    assert_eq!(
        s.jsonpath("httproute/podinfo", "{.spec.hostnames[0]}"),
        "www.example.com"
    );
    assert_eq!(
        s.jsonpath("httproute/podinfo", "{.spec.parentRefs[0].namespace}"),
        ingress.name
    );

    kubectl(
        &[
            "-n",
            &s.ns,
            "set",
            "image",
            "deployment/podinfo",
            "podinfo=ghcr.io/stefanprodan/podinfo:6.0.1",
        ],
        None,
    );
    let seen = weights_until(&s, Phase::Succeeded, 300).await;
    for w in ["90 10", "80 20", "70 30", "60 40", "50 50"] {
        assert!(seen.contains(w), "weights seen {seen:?}");
    }
    assert_eq!(weights(&s), "100 0");
    assert_eq!(
        s.jsonpath(
            "deployment/podinfo-primary",
            "{.spec.template.spec.containers[0].image}"
        ),
        "ghcr.io/stefanprodan/podinfo:6.0.1"
    );
    let st = s.status("podinfo").await;
    let err = st.metrics.iter().find(|m| m.name == "error-rate");
    assert!(
        err.is_some_and(|m| m.value.is_some_and(|v| v < 1.0)),
        "the template was queried through the mapped address: {:?}",
        st.metrics
    );

    s.apply(&placed(ROLLBACK_CANARY, &s.ns, &ingress.name));
    s.apply(&podinfo("6.0.2", &[("SANDBOX_ERROR_RATE", "0.3")]));
    let seen = weights_until(&s, Phase::Failed, 300).await;
    assert!(seen.contains("90 10"), "weights seen {seen:?}");
    assert_eq!(s.status("podinfo").await.failed_checks, 6);
    assert_eq!(weights(&s), "100 0");
    assert_eq!(
        s.jsonpath(
            "deployment/podinfo-primary",
            "{.spec.template.spec.containers[0].image}"
        ),
        "ghcr.io/stefanprodan/podinfo:6.0.1"
    );
    let events = s.events("podinfo");
    assert!(events.contains("Rolling back podinfo."), "{events}");
    drop(s);
    drop(ingress);
}

//! Gateway API router scenarios (issue 13): a Gateway parent (north-south), a Service
//! parent (GAMMA, east-west), a parent that refuses the route, a GRPCRoute, and taking a
//! user's HTTPRoute over and giving it back, blue/green mirroring on the route. The mesh
//! stand-in routes by the route's backendRefs weights and filters and reports
//! `status.parents` like a conformant implementation. Flagger's own Gateway API e2e
//! manifests run in `gateway_flagger.rs`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serin::api::Phase;

use crate::support::scenario::{Scenario, kubectl, kubectl_result, podinfo};

/// The analysis of Flagger's Gateway API e2e test, at sandbox speed (its 15s interval and
/// 1m metric window would make a run last minutes; the steps are the same shape).
const ANALYSIS: &str = r#"  analysis:
    interval: 3s
    threshold: 3
    maxWeight: 60
    stepWeight: 20
    metrics:
    - name: request-success-rate
      interval: 10s
      thresholdRange:
        min: 99
    - name: request-duration
      interval: 10s
      thresholdRange:
        max: 500
"#;

/// Flagger's Gateway API Canary (provider `gatewayapi:v1`, hosts, gatewayRefs) with
/// `service` replaced by `service`.
fn canary(service: &str, extra: &str) -> String {
    format!(
        r#"apiVersion: serin.dev/v1beta1
kind: Canary
metadata:
  name: podinfo
spec:
  provider: gatewayapi:v1
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: podinfo
  progressDeadlineSeconds: 60
{extra}  service:
{service}{ANALYSIS}"#
    )
}

fn gateway(ns: &str, annotations: &str) -> String {
    format!(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  # One per scenario: scenarios run in parallel, and two creating one class race.
  name: sandbox-{ns}
spec:
  controllerName: sandbox.serin.dev/mesh
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: public
  namespace: {ns}
  annotations: {annotations}
spec:
  gatewayClassName: sandbox-{ns}
  listeners:
  - name: http
    protocol: HTTP
    port: 80
"#
    )
}

fn gateway_service(ns: &str) -> String {
    format!(
        "    port: 9898\n    portName: http\n    hosts:\n    - app.example.com\n    gatewayRefs:\n    - name: public\n      namespace: {ns}\n"
    )
}

fn weights(s: &Scenario, kind: &str) -> String {
    s.jsonpath(
        &format!("{kind}/podinfo"),
        "{.spec.rules[-1:].backendRefs[*].weight}",
    )
}

fn accepted(s: &Scenario, kind: &str) -> String {
    s.jsonpath(
        &format!("{kind}/podinfo"),
        r#"{.status.parents[0].conditions[?(@.type=="Accepted")].status}"#,
    )
}

/// Waits for `phase`, recording every weight pair the route carried on the way.
async fn weights_until(s: &Scenario, kind: &str, phase: Phase, secs: u64) -> BTreeSet<String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut seen = BTreeSet::new();
    loop {
        seen.insert(weights(s, kind));
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
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

async fn initialized(name: &str, service: impl Fn(&str) -> String, extra: &str) -> Scenario {
    let s = Scenario::new(name).await;
    s.apply(&gateway(&s.ns, "{}"));
    s.apply(&podinfo("6.0.0", &[]));
    s.apply(&canary(&service(&s.ns), extra));
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn gw1_gateway_parent_promotes_step_by_step_and_rolls_back() {
    let s = initialized("gw-promote", gateway_service, "").await;
    assert_eq!(weights(&s, "httproute"), "100 0");
    assert_eq!(
        s.jsonpath("httproute/podinfo", "{.spec.hostnames[0]}"),
        "app.example.com"
    );
    assert_eq!(
        s.jsonpath("httproute/podinfo", "{.spec.parentRefs[0].name}"),
        "public"
    );
    s.wait_status("podinfo", 20, "the route accepted", |_| {
        accepted(&s, "httproute") == "True"
    })
    .await;

    s.apply(&podinfo("6.0.1", &[]));
    let seen = weights_until(&s, "httproute", Phase::Succeeded, 120).await;
    for w in ["80 20", "60 40", "40 60"] {
        assert!(seen.contains(w), "weights seen {seen:?}");
    }
    assert_eq!(weights(&s, "httproute"), "100 0");
    assert_eq!(
        s.jsonpath(
            "deployment/podinfo-primary",
            "{.spec.template.spec.containers[0].image}"
        ),
        "ghcr.io/stefanprodan/podinfo:6.0.1"
    );

    s.apply(&podinfo("6.0.2", &[("SANDBOX_ERROR_RATE", "0.3")]));
    let st = s.wait_phase("podinfo", Phase::Failed, 120).await;
    assert_eq!(st.failed_checks, 3);
    assert_eq!(weights(&s, "httproute"), "100 0");
    let events = s.events("podinfo");
    assert!(events.contains("Rolling back podinfo."), "{events}");
}

#[tokio::test(flavor = "multi_thread")]
async fn gw2_gamma_service_parent_promotes_east_west() {
    let service = |_: &str| {
        "    port: 9898\n    gatewayRefs:\n    - name: podinfo\n      kind: Service\n      group: \"\"\n      port: 9898\n".to_string()
    };
    let s = initialized("gw-gamma", service, "").await;
    assert_eq!(
        s.jsonpath("httproute/podinfo", "{.spec.parentRefs[0].kind}"),
        "Service"
    );
    s.apply(&podinfo("6.0.1", &[]));
    let seen = weights_until(&s, "httproute", Phase::Succeeded, 120).await;
    assert!(seen.contains("60 40"), "weights seen {seen:?}");
    let st = s.status("podinfo").await;
    let sr = st
        .metrics
        .iter()
        .find(|m| m.name == "request-success-rate")
        .expect("the success rate was measured on east-west traffic");
    assert!(sr.value.is_some_and(|v| v > 99.0), "{sr:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn gw3_a_refused_route_holds_and_says_why_then_continues() {
    let s = initialized("gw-refused", gateway_service, "").await;
    let refuse = r#"{"mesh.sandbox.serin.dev/refuse-routes": "NotAllowedByListeners"}"#;
    s.apply(&gateway(&s.ns, refuse));
    s.wait_status("podinfo", 20, "the route refused", |_| {
        accepted(&s, "httproute") == "False"
    })
    .await;
    s.apply(&podinfo("6.0.1", &[]));
    let st = s
        .wait_status("podinfo", 60, "the RouteAccepted condition", |st| {
            st.condition("RouteAccepted")
                .is_some_and(|c| c.status == "False")
        })
        .await;
    let cond = st.condition("RouteAccepted").unwrap();
    assert!(cond.message.contains("NotAllowedByListeners"), "{cond:?}");
    let events = s.events("podinfo");
    assert!(events.contains("RouteNotAccepted"), "{events}");
    // Held: several intervals pass without a weight.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(s.status("podinfo").await.canary_weight, 0);
    assert_eq!(weights(&s, "httproute"), "100 0");

    kubectl(
        &[
            "annotate",
            "-n",
            &s.ns,
            "gateway/public",
            "mesh.sandbox.serin.dev/refuse-routes-",
        ],
        None,
    );
    let seen = weights_until(&s, "httproute", Phase::Succeeded, 120).await;
    assert!(seen.contains("80 20"), "weights seen {seen:?}");
    assert!(
        s.status("podinfo")
            .await
            .condition("RouteAccepted")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn gw4_grpc_route_promotes() {
    let service = |_: &str| {
        "    port: 9898\n    appProtocol: grpc\n    gatewayRefs:\n    - name: podinfo\n      kind: Service\n      group: \"\"\n".to_string()
    };
    let s = Scenario::new("gw-grpc").await;
    s.apply(&podinfo("6.0.0", &[]));
    // Envoy Gateway routes gRPC too: the builtin metrics come from Envoy's cluster stats.
    let envoy = "  name: podinfo\n  annotations:\n    serin.dev/gateway-api-metrics: envoy\n";
    s.apply(&canary(&service(&s.ns), "").replacen("  name: podinfo\n", envoy, 1));
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    assert_eq!(weights(&s, "grpcroute"), "100 0");
    assert!(kubectl_result(&["get", "-n", &s.ns, "httproute/podinfo"], None).is_err());
    s.apply(&podinfo("6.0.1", &[]));
    let seen = weights_until(&s, "grpcroute", Phase::Succeeded, 120).await;
    assert!(seen.contains("60 40"), "weights seen {seen:?}");
    let st = s.status("podinfo").await;
    let sr = st
        .metrics
        .iter()
        .find(|m| m.name == "request-success-rate")
        .expect("measured");
    assert!(sr.query.contains("envoy_cluster_upstream_rq{"), "{sr:?}");
    assert!(sr.value.is_some_and(|v| v > 99.0), "{sr:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn gw5_takeover_and_revert_on_deletion() {
    let s = Scenario::new("gw-takeover").await;
    s.apply(&gateway(&s.ns, "{}"));
    s.apply(&podinfo("6.0.0", &[]));
    s.apply(&format!(
        r#"apiVersion: v1
kind: Service
metadata:
  name: podinfo
spec:
  selector:
    app: podinfo
  ports:
  - name: http
    port: 9898
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: podinfo
spec:
  parentRefs:
  - name: public
    namespace: {ns}
  hostnames: [app.example.com]
  rules:
  - backendRefs:
    - name: podinfo
      port: 9898
"#,
        ns = s.ns
    ));
    s.apply(&canary(
        &gateway_service(&s.ns),
        "  revertOnDeletion: true\n",
    ));
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    assert_eq!(weights(&s, "httproute"), "100 0");
    assert!(
        s.jsonpath(
            "httproute/podinfo",
            "{.metadata.annotations.serin\\.dev/original-configuration}"
        )
        .contains("\"name\":\"podinfo\""),
    );
    kubectl(
        &["delete", "-n", &s.ns, "canary/podinfo", "--timeout=60s"],
        None,
    );
    assert_eq!(
        s.jsonpath("httproute/podinfo", "{.spec.rules[0].backendRefs[*].name}"),
        "podinfo"
    );
    let owners = s.jsonpath("httproute/podinfo", "{.metadata.ownerReferences}");
    assert!(owners.is_empty() || owners == "[]", "still owned: {owners}");
}

/// Flagger's Gateway API e2e MetricTemplates read Envoy's cluster stats (`error-rate` and
/// `latency` in seconds); here without their Prometheus address, so serin's is used.
const ENVOY_TEMPLATES: &str = r#"apiVersion: serin.dev/v1beta1
kind: MetricTemplate
metadata:
  name: error-rate
spec:
  provider:
    type: prometheus
  query: |
    100 - sum(rate(envoy_cluster_upstream_rq{
        envoy_cluster_name=~"{{ namespace }}_{{ target }}-canary_[0-9a-zA-Z-]+",
        envoy_response_code!~"5.*"}[{{ interval }}]))
      / sum(rate(envoy_cluster_upstream_rq{
        envoy_cluster_name=~"{{ namespace }}_{{ target }}-canary_[0-9a-zA-Z-]+"}[{{ interval }}]))
      * 100
---
apiVersion: serin.dev/v1beta1
kind: MetricTemplate
metadata:
  name: latency
spec:
  provider:
    type: prometheus
  query: |
    histogram_quantile(0.99, sum(rate(envoy_cluster_upstream_rq_time_bucket{
        envoy_cluster_name=~"{{ namespace }}_{{ target }}-canary_[0-9a-zA-Z-]+"}[{{ interval }}])) by (le)) / 1000
"#;

#[tokio::test(flavor = "multi_thread")]
async fn gw6_flaggers_envoy_metric_templates_work_unchanged() {
    let s = Scenario::new("gw-templates").await;
    s.apply(&gateway(&s.ns, "{}"));
    s.apply(ENVOY_TEMPLATES);
    s.apply(&podinfo("6.0.0", &[]));
    let analysis = r#"  analysis:
    interval: 3s
    threshold: 2
    maxWeight: 50
    stepWeight: 25
    metrics:
    - name: error-rate
      templateRef:
        name: error-rate
      thresholdRange:
        max: 1
      interval: 10s
    - name: latency
      templateRef:
        name: latency
      thresholdRange:
        max: 0.5
      interval: 10s
"#;
    let manifest = canary(&gateway_service(&s.ns), "").replace(ANALYSIS, analysis);
    s.apply(&manifest);
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    s.apply(&podinfo("6.0.1", &[]));
    let seen = weights_until(&s, "httproute", Phase::Succeeded, 120).await;
    assert!(seen.contains("75 25"), "weights seen {seen:?}");
    let st = s.status("podinfo").await;
    let err = st
        .metrics
        .iter()
        .find(|m| m.name == "error-rate")
        .expect("measured");
    assert!(err.value.is_some_and(|v| v < 1.0), "{err:?}");

    s.apply(&podinfo("6.0.2", &[("SANDBOX_ERROR_RATE", "0.3")]));
    let st = s.wait_phase("podinfo", Phase::Failed, 120).await;
    assert_eq!(st.failed_checks, 2);
    assert_eq!(weights(&s, "httproute"), "100 0");
}

#[tokio::test(flavor = "multi_thread")]
async fn gw7_blue_green_mirrors_to_the_canary_on_the_route() {
    let s = Scenario::new("gw-mirror").await;
    s.apply(&gateway(&s.ns, "{}"));
    s.apply(&podinfo("6.0.0", &[]));
    let analysis = r#"  analysis:
    interval: 3s
    threshold: 2
    iterations: 5
    mirror: true
    mirrorWeight: 50
    metrics:
    - name: request-success-rate
      interval: 10s
      thresholdRange:
        min: 99
"#;
    s.apply(&canary(&gateway_service(&s.ns), "").replace(ANALYSIS, analysis));
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    s.apply(&podinfo("6.0.1", &[]));
    let mirror = r#"{.spec.rules[-1:].filters[?(@.type=="RequestMirror")].requestMirror}"#;
    s.wait_status("podinfo", 60, "the mirror on the route", |_| {
        !s.jsonpath("httproute/podinfo", mirror).is_empty()
    })
    .await;
    let filter = s.jsonpath("httproute/podinfo", mirror);
    assert!(
        filter.contains(r#""name":"podinfo-canary""#) && filter.contains(r#""percent":50"#),
        "{filter}"
    );
    // Users stay on the primary; the canary is measured on the mirrored copies alone.
    assert_eq!(weights(&s, "httproute"), "100 0");
    let st = s
        .wait_status(
            "podinfo",
            60,
            "a success rate from mirrored requests",
            |st| {
                st.metrics
                    .iter()
                    .any(|m| m.name == "request-success-rate" && m.value.is_some())
            },
        )
        .await;
    let sr = st.metrics.iter().find(|m| m.name == "request-success-rate");
    assert!(
        sr.is_some_and(|m| m.value.is_some_and(|v| v > 99.0)),
        "{sr:?}"
    );
    s.wait_phase("podinfo", Phase::Succeeded, 90).await;
    assert_eq!(s.jsonpath("httproute/podinfo", mirror), "");

    // A faulty revision fails on its mirrored copies and is rolled back.
    s.apply(&podinfo("6.0.2", &[("SANDBOX_ERROR_RATE", "1")]));
    s.wait_phase("podinfo", Phase::Failed, 90).await;
    assert!(s.events("podinfo").contains("Rolling back podinfo."));
}

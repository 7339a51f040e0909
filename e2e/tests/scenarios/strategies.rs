//! Deployment strategies end to end: A/B testing with cookie traffic, blue/green with and
//! without mirroring, and the combinations serin refuses. Traffic is measured by source
//! and reporter in Prometheus, as the mesh stand-in reports it like Istio.
//!
//! The mesh's traffic classes are shared by every scenario of this binary: a quarter of
//! the requests carry the A/B cookie (source workload `insiders`). Routes without matches
//! treat them as any other request, so the other scenarios are not affected.

use std::time::Duration;

use serin::api::{Phase, conditions};

use crate::support::scenario::{Scenario, canary, kubectl_result, podinfo};
use crate::support::{Prom, promql, sandbox};

const WITHIN: Duration = Duration::from_secs(60);

/// Sends a quarter of every host's requests with the cookie `type=insider`.
fn insiders() {
    if let Some(mesh) = sandbox().mesh() {
        let class = "cookie:type=insider,source:insiders:0.25"
            .parse()
            .expect("traffic class");
        mesh.set_header_traffic(vec![class]);
    }
}

fn prom() -> Prom {
    Prom::new(&sandbox().prometheus_url)
}

/// Requests per second reported by `reporter` for `workload` in the scenario's namespace,
/// over the last 5s, restricted by `extra` label matchers; 0 when there are none.
fn rate(s: &Scenario, reporter: &str, workload: &str, extra: &str) -> String {
    promql(&format!(
        r#"sum(rate(istio_requests_total{{reporter="{reporter}",destination_workload_namespace="{ns}",destination_workload="{workload}"{extra}}}[5s])) or vector(0)"#,
        ns = s.ns
    ))
}

const AB: &str = r#"    interval: 3s
    threshold: 2
    iterations: 8
    match:
    - headers:
        x-canary:
          exact: insider
    - headers:
        cookie:
          regex: "^(.*?;)?(type=insider)(;.*)?$"
    metrics:
    - name: request-success-rate
      interval: 10s
      thresholdRange:
        min: 99
"#;

#[tokio::test(flavor = "multi_thread")]
async fn strategies_ab_testing_routes_the_cookie_to_the_canary() {
    insiders();
    let s = Scenario::new("ab").await;
    s.apply(&podinfo("6.0.0", &[]));
    s.apply(&canary("", AB));
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    s.apply(&podinfo("6.0.3", &[]));
    s.wait_status("podinfo", 60, "iteration 3", |st| st.iterations >= 3)
        .await;
    let p = prom();
    let cookie = r#",source_workload="insiders""#;
    let plain = r#",source_workload="loadgenerator""#;
    p.wait_for(
        "insiders reach the canary",
        &rate(&s, "destination", "podinfo", cookie),
        WITHIN,
        |v| v > 1.0,
    )
    .await;
    p.wait_for(
        "insiders never reach the primary",
        &rate(&s, "destination", "podinfo-primary", cookie),
        WITHIN,
        |v| v == 0.0,
    )
    .await;
    p.wait_for(
        "plain requests reach the primary",
        &rate(&s, "destination", "podinfo-primary", plain),
        WITHIN,
        |v| v > 1.0,
    )
    .await;
    p.wait_for(
        "plain requests never reach the canary",
        &rate(&s, "destination", "podinfo", plain),
        WITHIN,
        |v| v == 0.0,
    )
    .await;
    let st = s.wait_phase("podinfo", Phase::Succeeded, 90).await;
    assert_eq!(st.last_promoted_spec, st.last_applied_spec);
    let events = s.events("podinfo");
    assert!(events.contains("canary iteration 7/8"), "{events}");
    assert_eq!(
        s.jsonpath("virtualservice/podinfo", "{.spec.http[*].route[*].weight}"),
        "100 0",
        "one route again, all on the primary"
    );

    // A faulty revision: its matched traffic fails, and the run rolls back.
    s.apply(&podinfo("6.0.4", &[("SANDBOX_ERROR_RATE", "0.5")]));
    s.wait_phase("podinfo", Phase::Failed, 90).await;
    assert!(s.events("podinfo").contains("Rolling back podinfo."));
}

/// A blue/green analysis; `more` is the YAML after `iterations`.
fn blue_green(more: &str) -> String {
    format!("    interval: 3s\n    threshold: 2\n    iterations: 6\n{more}")
}

/// The success-rate check. Without mirroring, a blue/green canary only gets the requests a
/// load-test hook sends it (Flagger's e2e uses one); hooks are not wired here yet, so the
/// unmirrored scenario runs its iterations without metrics.
const SUCCESS_RATE: &str = r#"    metrics:
    - name: request-success-rate
      interval: 10s
      thresholdRange:
        min: 99
"#;

#[tokio::test(flavor = "multi_thread")]
async fn strategies_blue_green_switches_all_traffic_at_promotion() {
    insiders();
    let s = Scenario::new("bg").await;
    s.apply(&podinfo("6.0.0", &[]));
    s.apply(&canary("", &blue_green("")));
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    s.apply(&podinfo("6.0.1", &[]));
    s.wait_status("podinfo", 60, "iteration 3", |st| st.iterations >= 3)
        .await;
    // Users (the source proxies) never reach the canary during the iterations.
    prom()
        .wait_for(
            "no user request on the canary",
            &rate(&s, "source", "podinfo", ""),
            WITHIN,
            |v| v == 0.0,
        )
        .await;
    assert_eq!(
        s.jsonpath("virtualservice/podinfo", "{.spec.http[0].route[*].weight}"),
        "100 0"
    );
    s.wait_phase("podinfo", Phase::Succeeded, 90).await;
    let events = s.events("podinfo");
    assert!(events.contains("Routing all traffic to canary"), "{events}");
    assert!(events.contains("canary iteration 5/6"), "{events}");
}

#[tokio::test(flavor = "multi_thread")]
async fn strategies_blue_green_mirrors_half_the_traffic_without_user_errors() {
    insiders();
    let s = Scenario::new("mirror").await;
    let mirror = format!("    mirror: true\n    mirrorWeight: 50\n{SUCCESS_RATE}");
    s.apply(&podinfo("6.0.0", &[]));
    s.apply(&canary("", &blue_green(&mirror)));
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    s.apply(&podinfo("6.0.1", &[]));
    s.wait_status("podinfo", 60, "iteration 2", |st| st.iterations >= 2)
        .await;
    assert_eq!(
        s.jsonpath(
            "virtualservice/podinfo",
            "{.spec.http[0].mirrorPercentage.value}"
        ),
        "50"
    );
    let p = prom();
    let ratio = format!(
        "({}) / ({})",
        rate(&s, "destination", "podinfo", ""),
        rate(&s, "destination", "podinfo-primary", "")
    );
    p.wait_for(
        "the canary sees half the primary's requests",
        &ratio,
        WITHIN,
        |v| (0.4..=0.6).contains(&v),
    )
    .await;
    s.wait_phase("podinfo", Phase::Succeeded, 90).await;

    // A faulty mirrored canary fails its checks; users only ever got the primary's answers.
    s.apply(&podinfo("6.0.2", &[("SANDBOX_ERROR_RATE", "1")]));
    s.wait_phase("podinfo", Phase::Failed, 90).await;
    let user_errors = promql(&format!(
        r#"sum(increase(istio_requests_total{{reporter="source",destination_workload_namespace="{}",response_code=~"5.."}}[2m])) or vector(0)"#,
        s.ns
    ));
    assert_eq!(
        p.value(&user_errors).await,
        Some(0.0),
        "no user-facing error"
    );
    assert!(s.events("podinfo").contains("Rolling back podinfo."));
}

#[tokio::test(flavor = "multi_thread")]
async fn strategies_refuse_what_they_cannot_honour() {
    let s = Scenario::new("strat-invalid").await;
    s.apply(&podinfo("6.0.0", &[]));
    let cases = [
        (
            "    iterations: 5\n    mirror: true\n    match:\n    - headers:\n        x-canary:\n          exact: insider\n",
            ["analysis.mirror", "analysis.match"],
        ),
        (
            "    iterations: 5\n    sessionAffinity:\n      cookieName: canary\n",
            ["analysis.sessionAffinity", "analysis.iterations"],
        ),
        (
            "    iterations: 5\n    stepWeights: [10, 50]\n",
            ["analysis.iterations", "analysis.stepWeights"],
        ),
        (
            "    stepWeight: 10\n    match:\n    - headers:\n        x-canary:\n          exact: insider\n",
            ["analysis.match", "analysis.iterations"],
        ),
        (
            "    stepWeight: 10\n    mirror: true\n",
            ["analysis.mirror", "analysis.iterations"],
        ),
        (
            "    iterations: 5\n    match: [{}]\n",
            ["analysis.match", "would match every request"],
        ),
    ];
    for (analysis, fields) in cases {
        s.apply(&canary("", &format!("    interval: 3s\n{analysis}")));
        let st = s
            .wait_status("podinfo", 30, "Valid=False naming the fields", |st| {
                st.condition(conditions::VALID).is_some_and(|c| {
                    c.status == "False" && fields.iter().all(|f| c.message.contains(f))
                })
            })
            .await;
        assert_ne!(st.phase, Some(Phase::Progressing));
    }
    // A match that says two things at once is refused at apply time.
    let ambiguous = "    interval: 3s\n    iterations: 5\n    match:\n    - headers:\n        x-canary:\n          exact: insider\n          prefix: ins\n";
    let refused = kubectl_result(
        &["apply", "-n", &s.ns, "-f", "-"],
        Some(&canary("", ambiguous)),
    )
    .expect_err("an ambiguous string match is refused");
    assert!(
        refused.contains("exactly one of exact, prefix, regex"),
        "{refused}"
    );
}

/// Lets only `n` of the Deployment's current pods get ready (the sandbox kubelet's knob),
/// as a user would see pods failing their readiness probe.
fn ready_replicas(s: &Scenario, deployment: &str, n: &str) {
    kubectl_result(
        &[
            "annotate",
            "-n",
            &s.ns,
            "--overwrite",
            &format!("deployment/{deployment}"),
            &format!("kubelet.sandbox.serin.dev/ready-replicas={n}"),
        ],
        None,
    )
    .expect("annotate");
}

#[tokio::test(flavor = "multi_thread")]
async fn strategies_ready_thresholds_start_the_analysis_and_hold_the_promotion() {
    let s = Scenario::new("ready").await;
    let four = |version: &str| podinfo(version, &[]).replace("replicas: 2", "replicas: 4");
    s.apply(&four("6.0.0"));
    let analysis = format!(
        "    canaryReadyThreshold: 50\n    primaryReadyThreshold: 75\n{}",
        crate::support::scenario::ANALYSIS
    );
    s.apply(&canary("", &analysis));
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    // Half of the canary's pods get ready: enough for canaryReadyThreshold 50.
    ready_replicas(&s, "podinfo", "2");
    // One of the primary's pods with the new template gets ready: short of 75%.
    ready_replicas(&s, "podinfo-primary", "1");
    s.apply(&four("6.0.1"));
    s.wait_status("podinfo", 60, "the analysis under way", |st| {
        st.canary_weight >= 20
    })
    .await;
    assert_eq!(
        s.jsonpath("deployment/podinfo", "{.status.availableReplicas}"),
        "2",
        "the analysis runs with half the canary ready"
    );
    s.wait_phase("podinfo", Phase::Promoting, 60).await;
    crate::support::eventually(
        "the primary runs the new template, 1 of 4 ready",
        Duration::from_secs(30),
        || async {
            let got = s.jsonpath(
                "deployment/podinfo-primary",
                "{.status.updatedReplicas}/{.status.availableReplicas}",
            );
            Ok((got == "4/1").then_some(()))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));
    // An observation window of a few intervals: the promotion stays held.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let held = s.status("podinfo").await;
        assert_eq!(held.phase, Some(Phase::Promoting), "still held: {held:?}");
    }
    // Three of four is 75%: the promotion completes.
    ready_replicas(&s, "podinfo-primary", "3");
    s.wait_phase("podinfo", Phase::Succeeded, 60).await;
}

/// Flagger's Istio e2e A/B Canary (`test/istio/test-canary.sh`) and its `latency`
/// MetricTemplate as published, `flagger.app` changed to `serin.dev`; [`flagger_ab`] maps
/// the namespaces and the Prometheus address to the sandbox's.
const FLAGGER_AB: &str = r#"apiVersion: serin.dev/v1beta1
kind: MetricTemplate
metadata:
  name: latency
  namespace: istio-system
spec:
  provider:
    type: prometheus
    address: http://prometheus.istio-system:9090
  query: |
    histogram_quantile(
        0.99,
        sum(
            rate(
                istio_request_duration_milliseconds_bucket{
                    reporter="{{ variables.reporter }}",
                    destination_workload_namespace="{{ namespace }}",
                    destination_workload=~"{{ target }}"
                }[{{ interval }}]
            )
        ) by (le)
    )
---
apiVersion: serin.dev/v1beta1
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
    portDiscovery: true
    port: 80
    portName: http-podinfo
    targetPort: http
  analysis:
    interval: 10s
    threshold: 5
    iterations: 5
    match:
      - headers:
          cookie:
            regex: "^(.*?;)?(type=insider)(;.*)?$"
    metrics:
    - name: request-success-rate
      thresholdRange:
        min: 99
      interval: 1m
    - name: latency
      templateRef:
        name: latency
        namespace: istio-system
      thresholdRange:
        max: 500
      interval: 30s
      templateVariables:
        reporter: destination
    webhooks:
      - name: pre
        type: pre-rollout
        url: http://flagger-loadtester.test/
        timeout: 5s
        metadata:
          type: cmd
          cmd: "hey -z 10m -q 10 -c 2 -H 'Cookie: type=insider' http://podinfo-canary.test/"
          logCmdOutput: "true"
      - name: promote-gate
        type: confirm-promotion
        url: http://flagger-loadtester.test/gate/approve
      - name: post
        type: post-rollout
        url: http://flagger-loadtester.test/
        timeout: 15s
        metadata:
          type: cmd
          cmd: "curl -s http://podinfo.test/"
          logCmdOutput: "true"
"#;

fn flagger_ab(ns: &str) -> String {
    FLAGGER_AB
        .replace("namespace: test", &format!("namespace: {ns}"))
        .replace("namespace: istio-system", &format!("namespace: {ns}"))
        .replace(
            "http://podinfo-canary.test/",
            &format!("http://podinfo-canary.{ns}/"),
        )
        .replace("http://podinfo.test/", &format!("http://podinfo.{ns}/"))
        .replace(
            "http://prometheus.istio-system:9090",
            &sandbox().prometheus_url,
        )
}

#[tokio::test(flavor = "multi_thread")]
async fn strategies_flaggers_ab_manifest_with_its_hooks_promotes() {
    insiders();
    let s = Scenario::new("ab-flagger").await;
    s.apply(&podinfo("6.0.0", &[]));
    s.apply(&flagger_ab(&s.ns));
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    s.apply(&podinfo("6.0.3", &[]));
    s.wait_status("podinfo", 60, "iteration 2", |st| st.iterations >= 2)
        .await;
    let p = prom();
    p.wait_for(
        "insiders reach the canary",
        &rate(
            &s,
            "destination",
            "podinfo",
            r#",source_workload="insiders""#,
        ),
        WITHIN,
        |v| v > 1.0,
    )
    .await;
    p.wait_for(
        "plain requests never reach the canary",
        &rate(
            &s,
            "destination",
            "podinfo",
            r#",source_workload="loadgenerator""#,
        ),
        WITHIN,
        |v| v == 0.0,
    )
    .await;
    let st = s.wait_phase("podinfo", Phase::Succeeded, 120).await;
    assert_eq!(st.last_promoted_spec, st.last_applied_spec);
    // The pre-rollout hook, the promotion gate and the post-rollout hook were all called,
    // each with Flagger's payload.
    let lt = sandbox()
        .loadtester()
        .expect("the sandbox runs a loadtester");
    let ns = s.ns.clone();
    crate::support::eventually("the post-rollout call", WITHIN, || async {
        let calls: Vec<(String, String, String)> = lt
            .requests()
            .into_iter()
            .filter(|r| r.body["namespace"] == ns.as_str())
            .map(|r| {
                let cmd = r.body["metadata"]["cmd"].as_str().unwrap_or("").to_owned();
                let phase = r.body["phase"].as_str().unwrap_or("").to_owned();
                (r.path, phase, cmd)
            })
            .collect();
        let called = |path: &str, phase: &str, cmd: &str| {
            calls.iter().any(|(p, ph, c)| {
                p == path && (phase.is_empty() || ph == phase) && c.starts_with(cmd)
            })
        };
        let all = called(
            "/",
            "Progressing",
            "hey -z 10m -q 10 -c 2 -H 'Cookie: type=insider'",
        ) && called("/gate/approve", "", "")
            && called("/", "Succeeded", "curl -s http://podinfo.");
        Ok(all.then_some(()))
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}: {:?}", lt.requests()));
}

//! End-to-end scenarios: the real `serin` binary against the sandbox (or, with
//! SERIN_E2E_KUBECONFIG, a real API server), driven with kubectl as a user would.
//! Each scenario has its own namespace and its own serin process scoped to it.

mod scenarios {
    mod actions;
    mod alerts;
    mod hooks;
}
mod support;
#[path = "scenarios/trust.rs"]
mod trust;

#[path = "scenarios/autoscaling.rs"]
mod autoscaling;
#[path = "scenarios/judge.rs"]
mod judge;
#[path = "scenarios/strategies.rs"]
mod strategies;

use serin::api::{Phase, Verdict};
use support::scenario::{ANALYSIS, Scenario, canary, gc_secs, kubectl, kubectl_result, podinfo};

fn weights(s: &Scenario) -> String {
    s.jsonpath("virtualservice/podinfo", "{.spec.http[0].route[*].weight}")
}

fn image(s: &Scenario, deploy: &str) -> String {
    s.jsonpath(
        &format!("deployment/{deploy}"),
        "{.spec.template.spec.containers[0].image}",
    )
}

async fn initialized(name: &str, analysis: &str, extra: &str) -> Scenario {
    let s = Scenario::new(name).await;
    s.apply(&podinfo("6.0.0", &[]));
    s.apply(&canary(extra, analysis));
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn s01_initialisation() {
    let extra = "  service:\n    port: 9898\n    apex:\n      labels:\n        team: web\n      annotations:\n        example.com/owner: web\n";
    let s = Scenario::new("init").await;
    s.apply(&podinfo("6.0.0", &[]));
    // The apex metadata comes with a full service block; replace the default one.
    let manifest = canary("", ANALYSIS).replace("  service:\n    port: 9898\n", extra);
    s.apply(&manifest);
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    assert_eq!(
        s.jsonpath("service/podinfo", "{.spec.selector.app}"),
        "podinfo-primary"
    );
    assert_eq!(
        s.jsonpath("service/podinfo", "{.metadata.labels.team}"),
        "web"
    );
    assert_eq!(
        s.jsonpath(
            "service/podinfo",
            "{.metadata.annotations.example\\.com/owner}"
        ),
        "web"
    );
    assert_eq!(s.jsonpath("deployment/podinfo", "{.spec.replicas}"), "0");
    assert_eq!(
        s.jsonpath("deployment/podinfo-primary", "{.spec.replicas}"),
        "2"
    );
    assert_eq!(weights(&s), "100 0");
    assert!(
        s.events("podinfo")
            .contains("Initialization done! podinfo."),
        "{}",
        s.events("podinfo")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn s02_promotion_through_every_step() {
    let s = initialized("promote", ANALYSIS, "").await;
    s.apply(&podinfo("6.0.1", &[]));
    let st = s.wait_phase("podinfo", Phase::Succeeded, 120).await;
    assert_eq!(
        image(&s, "podinfo-primary"),
        "ghcr.io/stefanprodan/podinfo:6.0.1"
    );
    assert_eq!(s.jsonpath("deployment/podinfo", "{.spec.replicas}"), "0");
    assert_eq!(weights(&s), "100 0");
    let events = s.events("podinfo");
    for w in [20, 40, 60] {
        assert!(
            events.contains(&format!("Advance podinfo.{} canary weight {w}", s.ns)),
            "weight {w} missing:\n{events}"
        );
    }
    assert!(
        events.contains("Promotion completed! Scaling down podinfo."),
        "{events}"
    );
    assert_eq!(st.last_promoted_spec, st.last_applied_spec);
    kubectl(
        &[
            "wait",
            "-n",
            &s.ns,
            "--for=condition=promoted",
            "--timeout=10s",
            "canary/podinfo",
        ],
        None,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn s03_rollback_on_errors() {
    let s = initialized("errors", ANALYSIS, "").await;
    s.apply(&podinfo("6.0.1", &[("SANDBOX_ERROR_RATE", "0.3")]));
    let st = s.wait_phase("podinfo", Phase::Failed, 120).await;
    assert_eq!(st.failed_checks, 3);
    assert_eq!(weights(&s), "100 0");
    assert_eq!(
        image(&s, "podinfo-primary"),
        "ghcr.io/stefanprodan/podinfo:6.0.0"
    );
    assert_eq!(s.jsonpath("deployment/podinfo", "{.spec.replicas}"), "0");
    let events = s.events("podinfo");
    assert!(events.contains("advancement success rate"), "{events}");
    assert!(events.contains("< 99%"), "{events}");
    assert!(events.contains("Rolling back podinfo."), "{events}");
    assert!(
        events.contains("failed checks threshold reached 3"),
        "{events}"
    );
    let sr = st
        .metrics
        .iter()
        .find(|m| m.name == "request-success-rate")
        .expect("metric in status");
    assert_eq!(sr.verdict, Verdict::Fail);
    let v = sr.value.expect("value");
    assert!((50.0..90.0).contains(&v), "success rate {v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn s04_rollback_on_latency_through_a_template() {
    let s = Scenario::new("latency").await;
    s.apply(
        r#"apiVersion: serin.dev/v1beta1
kind: MetricTemplate
metadata:
  name: latency
spec:
  provider:
    type: prometheus
  query: |
    histogram_quantile(0.99,
      sum(rate(istio_request_duration_milliseconds_bucket{
        reporter="{{ variables.reporter }}",
        destination_workload_namespace="{{ namespace }}",
        destination_workload=~"{{ target }}"}[{{ interval }}])) by (le))
"#,
    );
    s.apply(&podinfo("6.0.0", &[]));
    let analysis = r#"    interval: 3s
    threshold: 2
    stepWeight: 50
    metrics:
    - name: latency
      templateRef:
        name: latency
      templateVariables:
        reporter: destination
      interval: 10s
      thresholdRange:
        max: 500
"#;
    s.apply(&canary("", analysis));
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    s.apply(&podinfo("6.0.1", &[("SANDBOX_LATENCY_MS", "1500")]));
    let st = s.wait_phase("podinfo", Phase::Failed, 120).await;
    let m = st
        .metrics
        .iter()
        .find(|m| m.name == "latency")
        .expect("latency in status");
    assert_eq!(m.verdict, Verdict::Fail);
    assert!(m.value.unwrap_or(0.0) > 500.0);
    assert!(m.query.contains(r#"reporter="destination""#), "{}", m.query);
    assert!(
        s.events("podinfo").contains("latency"),
        "{}",
        s.events("podinfo")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn s05_no_data_never_promotes() {
    let s = Scenario::new("nodata").await;
    s.apply(
        r#"apiVersion: serin.dev/v1beta1
kind: MetricTemplate
metadata:
  name: from-checkout
spec:
  provider:
    type: prometheus
  query: sum(rate(istio_requests_total{source_workload="checkout",destination_workload="{{ target }}",destination_workload_namespace="{{ namespace }}"}[{{ interval }}]))
"#,
    );
    s.apply(&podinfo("6.0.0", &[]));
    let analysis = r#"    interval: 2s
    threshold: 2
    stepWeight: 50
    metrics:
    - name: checkout-traffic
      templateRef:
        name: from-checkout
      interval: 10s
      thresholdRange:
        min: 1
"#;
    s.apply(&canary("", analysis));
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    s.apply(&podinfo("6.0.1", &[]));
    let st = s.wait_phase("podinfo", Phase::Failed, 120).await;
    let m = &st.metrics[0];
    assert_eq!(m.verdict, Verdict::NoData);
    assert!(
        st.last_failed_check
            .as_deref()
            .unwrap_or("")
            .contains("no values found for custom metric: checkout-traffic")
    );
    assert_eq!(
        image(&s, "podinfo-primary"),
        "ghcr.io/stefanprodan/podinfo:6.0.0"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn s06_new_revision_restarts_and_reverting_starts_nothing() {
    let slow = ANALYSIS.replace("interval: 3s", "interval: 5s");
    let s = initialized("restart", &slow, "").await;
    s.apply(&podinfo("6.0.1", &[("SANDBOX_ERROR_RATE", "0.5")]));
    s.wait_status("podinfo", 60, "weight 20", |st| st.canary_weight >= 20)
        .await;
    s.apply(&podinfo("6.0.2", &[("SANDBOX_ERROR_RATE", "0.5")]));
    s.wait_status("podinfo", 30, "restart", |_| {
        s.events("podinfo").contains("Restarting analysis")
    })
    .await;
    let st = s.wait_phase("podinfo", Phase::Failed, 120).await;
    let promoted = st.last_promoted_spec.clone();
    // Back to the promoted template: nothing starts.
    s.apply(&podinfo("6.0.0", &[]));
    let rv_before = s.jsonpath("deployment/podinfo-primary", "{.metadata.generation}");
    tokio::time::sleep(std::time::Duration::from_secs(3)).await; // give serin the chance to (wrongly) start
    let after = s.status("podinfo").await;
    assert_eq!(after.phase, Some(Phase::Failed));
    assert_eq!(after.last_promoted_spec, promoted);
    assert_eq!(
        s.jsonpath("deployment/podinfo-primary", "{.metadata.generation}"),
        rv_before
    );
    assert_eq!(s.jsonpath("deployment/podinfo", "{.spec.replicas}"), "0");
}

#[tokio::test(flavor = "multi_thread")]
async fn s07_skip_analysis_and_a_revision_that_never_gets_ready() {
    let s = initialized("skip", ANALYSIS, "  skipAnalysis: true\n").await;
    s.apply(&podinfo("6.0.1", &[]));
    s.wait_phase("podinfo", Phase::Succeeded, 60).await;
    assert_eq!(
        image(&s, "podinfo-primary"),
        "ghcr.io/stefanprodan/podinfo:6.0.1"
    );
    assert!(s.events("podinfo").contains("Canary analysis was skipped"));
    let manifest = canary("  skipAnalysis: true\n", ANALYSIS)
        .replace("progressDeadlineSeconds: 60", "progressDeadlineSeconds: 5");
    s.apply(&manifest);
    s.apply(&podinfo("potato-1.0.0", &[("SANDBOX_NEVER_READY", "true")]));
    s.wait_phase("podinfo", Phase::Failed, 60).await;
    assert_eq!(
        image(&s, "podinfo-primary"),
        "ghcr.io/stefanprodan/podinfo:6.0.1"
    );
    assert_eq!(
        s.jsonpath("deployment/podinfo-primary", "{.spec.replicas}"),
        "2"
    );
    assert_eq!(
        s.jsonpath("deployment/podinfo-primary", "{.status.availableReplicas}"),
        "2"
    );
    assert!(
        s.events("podinfo").contains("progress deadline exceeded"),
        "{}",
        s.events("podinfo")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn s08_revert_on_deletion_restores_what_was_there() {
    let s = Scenario::new("revert").await;
    s.apply(&podinfo("6.0.0", &[]));
    s.apply(
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
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: podinfo
spec:
  hosts: [app.example.com]
  gateways: [public-gateway]
  http:
  - retries:
      attempts: 3
    route:
    - destination:
        host: podinfo
"#,
    );
    s.apply(&canary("  revertOnDeletion: true\n", ANALYSIS));
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    assert_eq!(
        s.jsonpath("canary/podinfo", "{.metadata.finalizers[0]}"),
        "finalizer.serin.dev"
    );
    assert_eq!(
        s.jsonpath("service/podinfo", "{.spec.selector.app}"),
        "podinfo-primary"
    );
    kubectl(
        &["delete", "-n", &s.ns, "canary/podinfo", "--timeout=60s"],
        None,
    );
    assert_eq!(s.jsonpath("deployment/podinfo", "{.spec.replicas}"), "2");
    assert_eq!(
        s.jsonpath("service/podinfo", "{.spec.selector.app}"),
        "podinfo"
    );
    assert_eq!(
        s.jsonpath("virtualservice/podinfo", "{.spec.hosts[0]}"),
        "app.example.com"
    );
    assert_eq!(
        s.jsonpath(
            "virtualservice/podinfo",
            "{.spec.http[0].route[0].destination.host}"
        ),
        "podinfo"
    );

    // Without revertOnDeletion nothing is left behind.
    let s2 = initialized("orphans", ANALYSIS, "").await;
    kubectl(
        &["delete", "-n", &s2.ns, "canary/podinfo", "--timeout=60s"],
        None,
    );
    s2.wait_status("podinfo", gc_secs(), "owned objects collected", |_| {
        kubectl_result(&["get", "-n", &s2.ns, "deployment/podinfo-primary"], None).is_err()
            && kubectl_result(&["get", "-n", &s2.ns, "virtualservice/podinfo"], None).is_err()
            && kubectl_result(&["get", "-n", &s2.ns, "service/podinfo-canary"], None).is_err()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s09_killed_mid_rollout_resumes_without_repeating_a_step() {
    let slow = ANALYSIS
        .replace("interval: 3s", "interval: 4s")
        .replace("maxWeight: 60", "maxWeight: 80");
    let mut s = initialized("kill", &slow, "").await;
    s.apply(&podinfo("6.0.1", &[]));
    s.wait_status("podinfo", 60, "weight 40", |st| st.canary_weight >= 40)
        .await;
    s.kill_serin();
    s.start_serin();
    s.wait_phase("podinfo", Phase::Succeeded, 120).await;
    let events = s.events("podinfo");
    for w in [20, 40, 60, 80] {
        let n = events.matches(&format!("canary weight {w}\n")).count()
            + events.matches(&format!("canary weight {w} ")).count();
        assert_eq!(n, 1, "weight {w} advanced {n} times:\n{events}");
    }
    assert_eq!(
        image(&s, "podinfo-primary"),
        "ghcr.io/stefanprodan/podinfo:6.0.1"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn s10_describe_and_get_tell_the_story() {
    let s = initialized("describe", ANALYSIS, "").await;
    s.apply(&podinfo("6.0.1", &[]));
    s.wait_phase("podinfo", Phase::Succeeded, 120).await;
    let describe = kubectl(&["describe", "-n", &s.ns, "canary/podinfo"], None);
    for text in [
        "Initialization done!",
        "New revision detected! Scaling up podinfo.",
        "Advance podinfo.",
        "Copying podinfo.",
        "Promotion completed!",
    ] {
        assert!(
            describe.contains(text),
            "describe lacks {text:?}:\n{describe}"
        );
    }
    let get = kubectl(&["get", "-n", &s.ns, "canaries"], None);
    let header = get.lines().next().unwrap_or_default();
    for col in [
        "NAME",
        "STATUS",
        "WEIGHT",
        "FAILEDCHECKS",
        "LASTTRANSITIONTIME",
    ] {
        assert!(header.contains(col), "{get}");
    }
    assert!(get.contains("Succeeded"), "{get}");
}

#[tokio::test(flavor = "multi_thread")]
async fn s11_bad_input_is_refused_with_the_field_named() {
    let s = Scenario::new("invalid").await;
    let base = canary("", ANALYSIS);
    let cases: Vec<(String, &str)> = vec![
        (base.replace("maxWeight: 60", "maxWeight: 150"), "maxWeight"),
        (
            base.replace("stepWeight: 20", "stepWeight: 0"),
            "stepWeight",
        ),
        (
            base.replace("    stepWeight: 20\n", "    stepWeights: [30, 10]\n"),
            "stepWeights",
        ),
        (base.replace("interval: 3s", "interval: soon"), "interval"),
        (
            base.replace(
                "      thresholdRange:\n        min: 99\n",
                "      thresholdRange: {}\n",
            ),
            "thresholdRange",
        ),
        (
            base.replace(
                "  targetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: podinfo\n",
                "",
            ),
            "targetRef",
        ),
        // Beyond what a step may last: refused, never a crash at the first step.
        (base.replace("interval: 3s", "interval: 25h"), "interval"),
        (
            base.replace("interval: 3s", "interval: 100000000000h"),
            "interval",
        ),
        (
            base.replace("threshold: 3", "threshold: 2147483648"),
            "threshold",
        ),
        // Names serin derives from: refused at apply time, not by a later write.
        (
            base.replace("    name: podinfo\n", "    name: 1digit\n"),
            "targetRef.name",
        ),
        (
            base.replace("    name: podinfo\n", "    name: dot.ted\n"),
            "targetRef.name",
        ),
        (
            base.replace("    port: 9898\n", "    port: 9898\n    name: Bad_Name\n"),
            "service.name",
        ),
    ];
    for (manifest, field) in cases {
        let err =
            kubectl_result(&["apply", "-n", &s.ns, "-f", "-"], Some(&manifest)).expect_err(field);
        assert!(
            err.contains(field),
            "refusal of a bad {field} should name it: {err}"
        );
    }
}

/// The weights in serin's `serin_canary_weight{workload="podinfo"}` gauge, read from its
/// /metrics endpoint as Prometheus would scrape it.
async fn scraped_weight(port: u16) -> Option<i64> {
    let body = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    body.lines()
        .find(|l| l.starts_with("serin_canary_weight{") && l.contains("workload=\"podinfo\""))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as i64)
}

#[tokio::test(flavor = "multi_thread")]
async fn s12_metrics_follow_the_steps() {
    // Steps of 5s, scraped every 100ms: each weight is on the gauge long enough to be seen
    // even when the machine is busy.
    let slow = ANALYSIS.replace("interval: 3s", "interval: 5s");
    let s = initialized("metrics", &slow, "").await;
    for (path, want) in [("healthz", "ok"), ("readyz", "ready")] {
        let resp = reqwest::get(format!("http://127.0.0.1:{}/{path}", s.metrics_port))
            .await
            .expect(path);
        assert_eq!(resp.status(), 200, "/{path}");
        assert_eq!(resp.text().await.unwrap_or_default(), want);
    }
    s.apply(&podinfo("6.0.1", &[]));
    let mut seen = std::collections::BTreeSet::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    // Until the gauge is back at 0 after the last step (traffic back on the primary).
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no promotion; weights scraped: {seen:?}"
        );
        if let Some(w) = scraped_weight(s.metrics_port).await {
            seen.insert(w);
            if w == 0 && seen.contains(&60) {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    s.wait_phase("podinfo", Phase::Succeeded, 60).await;
    for w in [20, 40, 60] {
        assert!(seen.contains(&w), "weight {w} never scraped: {seen:?}");
    }
    let body = reqwest::get(format!("http://127.0.0.1:{}/metrics", s.metrics_port))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("serin_canary_successes_total{"), "{body}");
    assert!(body.contains("serin_reconcile_total"), "{body}");
    assert!(
        body.contains("serin_canary_duration_seconds_count{"),
        "{body}"
    );
    assert!(
        body.contains(r#"serin_kube_api_requests_total{verb="patch",resource="virtualservices"}"#),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn s13_leader_failover_mid_rollout() {
    let mut s = Scenario::without_serin("leader").await;
    let ha = [
        "--leader-election",
        "--leader-election-namespace",
        &s.ns.clone(),
        "--leader-election-duration",
        "6s",
    ];
    let (_, _) = s.start_replica(&ha);
    let (_, _) = s.start_replica(&ha);
    s.apply(&podinfo("6.0.0", &[]));
    let slow = ANALYSIS
        .replace("interval: 3s", "interval: 4s")
        .replace("maxWeight: 60", "maxWeight: 80");
    s.apply(&canary("", &slow));
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    s.apply(&podinfo("6.0.1", &[]));
    s.wait_status("podinfo", 60, "weight 40", |st| st.canary_weight >= 40)
        .await;
    let holder = s.jsonpath("lease/serin", "{.spec.holderIdentity}");
    let pid: u32 = holder
        .rsplit('-')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("pid in the holder identity");
    let leader = s.index_of(pid).expect("the leader is one of ours");
    s.kill(leader);
    s.wait_phase("podinfo", Phase::Succeeded, 120).await;
    let new_holder = s.jsonpath("lease/serin", "{.spec.holderIdentity}");
    assert_ne!(new_holder, holder, "the other replica took over");
    let events = s.events("podinfo");
    for w in [20, 40, 60, 80] {
        let n = events.matches(&format!("canary weight {w}\n")).count();
        assert_eq!(n, 1, "weight {w} advanced {n} times:\n{events}");
    }
}

#[path = "scenarios/gateway.rs"]
mod gateway;
#[path = "scenarios/gateway_flagger.rs"]
mod gateway_flagger;

//! Webhooks and gates end to end: the real serin calls the sandbox's loadtester stand-in
//! by its in-cluster name (`http://flagger-loadtester.test/`, mapped by the harness's
//! `--resolve`), and the tests open gates with curl as a person would.

use serin::api::{CanaryStatus, Phase};

use crate::support::sandbox;
use crate::support::scenario::{ANALYSIS, Scenario, canary, podinfo};

/// `curl -d '{"name":..,"namespace":..}' <loadtester><path>`; returns the HTTP status.
fn curl(path: &str, ns: &str) -> String {
    let lt = sandbox()
        .loadtester()
        .expect("the sandbox runs a loadtester");
    let body = format!(r#"{{"name":"podinfo","namespace":"{ns}"}}"#);
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-d", &body])
        .arg(format!("http://{}{path}", lt.addr()))
        .output()
        .expect("run curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// When the named hook was last called.
fn last_call(st: &CanaryStatus, hook: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    st.webhooks
        .iter()
        .find(|w| w.name == hook)
        .map(|w| w.last_call)
}

fn with_hooks(hooks: &str) -> String {
    format!("{ANALYSIS}    webhooks:\n{hooks}")
}

const LOAD: &str = r#"    - name: load-test
      url: http://flagger-loadtester.test/
      timeout: 5s
      metadata:
        cmd: "hey -z 1m -q 10 -c 2 http://podinfo-canary.NS:9898/"
"#;

async fn initialized(name: &str, hooks: &str) -> Scenario {
    let s = Scenario::new(name).await;
    s.apply(&podinfo("6.0.0", &[]));
    let hooks = hooks.replace("NS", &s.ns);
    s.apply(&canary("", &with_hooks(&hooks)));
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn hk_load_test_webhook_promotes() {
    let s = initialized("hk-load", LOAD).await;
    s.apply(&podinfo("6.0.1", &[]));
    s.wait_phase("podinfo", Phase::Succeeded, 120).await;
    let started = sandbox().loadtester().unwrap().started_commands();
    assert!(
        started
            .iter()
            .any(|c| c.contains(&format!("podinfo-canary.{}", s.ns))),
        "the load test reached the loadtester: {started:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hk_confirm_rollout_waits_across_a_restart() {
    let gate = r#"    - name: approve
      type: confirm-rollout
      url: http://flagger-loadtester.test/gate/check
"#;
    let mut s = initialized("hk-confirm", &format!("{gate}{LOAD}")).await;
    s.apply(&podinfo("6.0.1", &[]));
    let st = s.wait_phase("podinfo", Phase::Waiting, 60).await;
    let cond = st.condition("Promoted").expect("Promoted condition");
    assert_eq!(cond.message, "Canary is waiting for approval");
    let asked = last_call(&st, "approve");
    s.kill_serin();
    s.start_serin();
    // The restarted serin asks the gate again, finds it closed, and still waits.
    s.wait_status("podinfo", 30, "gate asked again after the restart", |st| {
        st.phase() == Phase::Waiting && last_call(st, "approve") > asked
    })
    .await;
    assert_eq!(s.status("podinfo").await.canary_weight, 0);
    assert_eq!(curl("/gate/open", &s.ns), "202");
    s.wait_phase("podinfo", Phase::Succeeded, 120).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hk_confirm_promotion_holds_at_max_weight() {
    let gate = r#"    - name: promote
      type: confirm-promotion
      url: http://flagger-loadtester.test/gate/check
"#;
    let s = initialized("hk-promotion", &format!("{gate}{LOAD}")).await;
    s.apply(&podinfo("6.0.1", &[]));
    let st = s.wait_phase("podinfo", Phase::WaitingPromotion, 90).await;
    assert_eq!(st.canary_weight, 60);
    let first = st.metrics.first().map(|m| m.checked_at);
    s.wait_status("podinfo", 30, "metrics still checked", |st| {
        st.phase() == Phase::WaitingPromotion && st.metrics.first().map(|m| m.checked_at) > first
    })
    .await;
    assert_eq!(curl("/gate/open", &s.ns), "202");
    s.wait_phase("podinfo", Phase::Succeeded, 60).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hk_failing_pre_rollout_rolls_back_and_post_rollout_is_called() {
    let hooks = r#"    - name: smoke
      type: pre-rollout
      url: http://flagger-loadtester.test/
      metadata:
        type: bash
        cmd: "echo smoke test failed for NS; exit 1"
    - name: notify
      type: post-rollout
      url: http://flagger-loadtester.test/gate/approve
"#;
    let s = initialized("hk-pre", hooks).await;
    s.apply(&podinfo("6.0.1", &[]));
    let st = s.wait_phase("podinfo", Phase::Failed, 90).await;
    assert_eq!(st.canary_weight, 0);
    let events = s.events("podinfo");
    assert!(
        events.contains("pre-rollout hook smoke failed: HTTP 500")
            && events.contains("smoke test failed"),
        "the hook's output is in the event:\n{events}"
    );
    s.wait_status("podinfo", 30, "post-rollout called", |st| {
        st.webhooks.iter().any(|w| w.name == "notify" && w.passed)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hk_rollback_gate_rolls_back_at_once() {
    let gate = r#"    - name: stop
      type: rollback
      url: http://flagger-loadtester.test/rollback/check
"#;
    let s = initialized("hk-rollback", &format!("{gate}{LOAD}")).await;
    s.apply(&podinfo("6.0.1", &[]));
    s.wait_status("podinfo", 60, "weight 20", |st| st.canary_weight >= 20)
        .await;
    assert_eq!(curl("/rollback/open", &s.ns), "202");
    s.wait_phase("podinfo", Phase::Failed, 30).await;
    let events = s.events("podinfo");
    assert!(events.contains("manual webhook invoked"), "{events}");
}

#[tokio::test(flavor = "multi_thread")]
async fn hk_confirm_traffic_increase_holds_the_weight() {
    let gate = r#"    - name: more
      type: confirm-traffic-increase
      url: http://flagger-loadtester.test/gate/check
"#;
    let s = initialized("hk-traffic", &format!("{gate}{LOAD}")).await;
    s.apply(&podinfo("6.0.1", &[]));
    let st = s
        .wait_status("podinfo", 60, "held at 20", |st| {
            st.canary_weight == 20 && st.webhooks.iter().any(|w| w.name == "more" && !w.passed)
        })
        .await;
    let asked = last_call(&st, "more");
    s.wait_status("podinfo", 30, "asked again, still held", |st| {
        last_call(st, "more") > asked
    })
    .await;
    assert_eq!(s.status("podinfo").await.canary_weight, 20);
    assert_eq!(curl("/gate/open", &s.ns), "202");
    s.wait_phase("podinfo", Phase::Succeeded, 90).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hk_event_webhooks_receive_every_event() {
    let receiver = sandbox().receiver().expect("the sandbox runs a receiver");
    let base = receiver.url().trim_end_matches('/').to_string();
    let mut s = Scenario::without_serin("hk-events").await;
    let global = format!("{base}/global/{}", s.ns);
    s.start_replica(&["--event-webhook", &global]);
    s.apply(&podinfo("6.0.0", &[]));
    let hook = format!(
        "    - name: events\n      type: event\n      url: {base}/hook/{}\n",
        s.ns
    );
    s.apply(&canary(
        "",
        &with_hooks(&format!("{hook}{LOAD}").replace("NS", &s.ns)),
    ));
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    s.apply(&podinfo("6.0.1", &[]));
    s.wait_phase("podinfo", Phase::Succeeded, 120).await;
    for path in [format!("/hook/{}", s.ns), format!("/global/{}", s.ns)] {
        let got = || -> Vec<String> {
            receiver
                .received()
                .into_iter()
                .filter(|r| r.path == path)
                .filter(|r| {
                    let m = &r.body["metadata"];
                    r.body["name"] == "podinfo"
                        && m["eventType"].is_string()
                        && m["timestamp"]
                            .as_str()
                            .is_some_and(|t| t.parse::<i64>().is_ok())
                })
                .filter_map(|r| {
                    r.body["metadata"]["eventMessage"]
                        .as_str()
                        .map(str::to_owned)
                })
                .collect()
        };
        crate::support::eventually(&path, std::time::Duration::from_secs(20), || async {
            let messages = got();
            let all = [
                "New revision detected",
                "Starting canary analysis",
                "Promotion completed",
            ]
            .iter()
            .all(|want| messages.iter().any(|m| m.contains(want)));
            Ok(all.then_some(()))
        })
        .await
        .unwrap_or_else(|e| panic!("{e:#}: {:?}", got()));
    }
}

/// Flagger's Istio e2e canary (`test/istio/test-canary.sh`, the first Canary and its
/// `latency` MetricTemplate) as published, with `flagger.app` changed to `serin.dev`.
/// Only [`flagger_s2`] edits it further, for where the sandbox differs from Flagger's
/// kind cluster: namespaces, and the Prometheus address.
const FLAGGER_S2: &str = r#"apiVersion: serin.dev/v1beta1
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
    port: 9898
    portDiscovery: true
    apex:
      annotations:
        test: "annotations-test"
      labels:
        test: "labels-test"
    headers:
      request:
        add:
          x-envoy-upstream-rq-timeout-ms: "15000"
          x-envoy-max-retries: "10"
          x-envoy-retry-on: "gateway-error,connect-failure,refused-stream"
  analysis:
    interval: 15s
    threshold: 15
    maxWeight: 30
    stepWeight: 10
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
      interval: 1m
      templateVariables:
        reporter: destination
    webhooks:
      - name: load-test
        url: http://flagger-loadtester.test/
        timeout: 5s
        metadata:
          type: cmd
          cmd: "hey -z 10m -q 10 -c 2 http://podinfo.test:9898/"
          logCmdOutput: "true"
"#;

/// [`FLAGGER_S2`] for the scenario's namespace (`test` and `istio-system` there) and the
/// sandbox's Prometheus. The loadtester URL stays `http://flagger-loadtester.test/`: serin
/// reaches the stand-in through its host mapping, as it would a real loadtester.
fn flagger_s2(ns: &str) -> String {
    FLAGGER_S2
        .replace("namespace: test", &format!("namespace: {ns}"))
        .replace("namespace: istio-system", &format!("namespace: {ns}"))
        .replace(
            "http://podinfo.test:9898/",
            &format!("http://podinfo.{ns}:9898/"),
        )
        .replace(
            "http://prometheus.istio-system:9090",
            &sandbox().prometheus_url,
        )
}

#[tokio::test(flavor = "multi_thread")]
async fn hk_flaggers_istio_e2e_canary_promotes_with_its_load_test() {
    let s = Scenario::new("hk-s2").await;
    s.apply(&podinfo("6.0.0", &[]));
    s.apply(&flagger_s2(&s.ns));
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    assert_eq!(
        s.jsonpath(
            "service/podinfo",
            "{.metadata.annotations.test} {.metadata.labels.test} {.spec.selector.app}"
        ),
        "annotations-test labels-test podinfo-primary"
    );
    s.apply(&podinfo("6.0.1", &[]));
    let st = s.wait_phase("podinfo", Phase::Succeeded, 240).await;
    let events = s.events("podinfo");
    assert!(
        events.contains("Advance podinfo.") && events.contains("canary weight 30"),
        "{events}"
    );
    // The load test reached the loadtester with Flagger's payload, unchanged metadata.
    let lt = sandbox()
        .loadtester()
        .expect("the sandbox runs a loadtester");
    let calls: Vec<serde_json::Value> = lt
        .requests()
        .into_iter()
        .filter(|r| r.path == "/" && r.body["namespace"] == s.ns.as_str())
        .map(|r| r.body)
        .collect();
    let call = calls
        .first()
        .expect("the load-test hook called the loadtester");
    let mut keys: Vec<&str> = call
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["checksum", "metadata", "name", "namespace", "phase"],
        "{call}"
    );
    assert_eq!(call["name"], "podinfo");
    assert_eq!(call["phase"], "Progressing");
    assert_eq!(
        call["checksum"].as_str(),
        st.last_applied_spec.as_deref(),
        "the checksum names the revision under analysis"
    );
    assert_eq!(
        call["metadata"],
        serde_json::json!({
            "type": "cmd",
            "cmd": format!("hey -z 10m -q 10 -c 2 http://podinfo.{}:9898/", s.ns),
            "logCmdOutput": "true",
        })
    );
    assert!(
        calls.len() >= 3,
        "called at every step, not once: {} calls",
        calls.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hk_failing_metric_while_waiting_promotion_still_rolls_back() {
    let template = |query: &str| {
        format!(
            r#"apiVersion: serin.dev/v1beta1
kind: MetricTemplate
metadata:
  name: errors
spec:
  provider:
    type: prometheus
    address: {}
  query: "{query}"
"#,
            sandbox().prometheus_url
        )
    };
    let s = Scenario::new("hk-promotion-fail").await;
    s.apply(&template("vector(0)"));
    s.apply(&podinfo("6.0.0", &[]));
    let analysis = format!(
        r#"{ANALYSIS}    - name: errors
      templateRef:
        name: errors
      thresholdRange:
        max: 1
      interval: 10s
    webhooks:
    - name: promote
      type: confirm-promotion
      url: http://flagger-loadtester.test/gate/check
{LOAD}"#
    )
    .replace("NS", &s.ns);
    s.apply(&canary("", &analysis));
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    s.apply(&podinfo("6.0.1", &[]));
    s.wait_phase("podinfo", Phase::WaitingPromotion, 90).await;
    // The errors begin while the gate is closed: the checks go on, and fail.
    s.apply(&template("vector(5)"));
    let st = s.wait_phase("podinfo", Phase::Failed, 60).await;
    assert_eq!(st.canary_weight, 0);
    let events = s.events("podinfo");
    assert!(
        events.contains("advancement errors 5.00 > 1")
            && events.contains("Rolling back podinfo.")
            && !events.contains("Promotion completed"),
        "{events}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hk_rollback_gate_opened_while_waiting_for_approval_fails_the_revision() {
    let hooks = r#"    - name: approve
      type: confirm-rollout
      url: http://flagger-loadtester.test/gate/check
    - name: stop
      type: rollback
      url: http://flagger-loadtester.test/rollback/check
"#;
    let s = initialized("hk-wait-rollback", hooks).await;
    s.apply(&podinfo("6.0.1", &[]));
    s.wait_phase("podinfo", Phase::Waiting, 60).await;
    assert_eq!(curl("/rollback/open", &s.ns), "202");
    let st = s.wait_phase("podinfo", Phase::Failed, 30).await;
    assert_eq!(st.canary_weight, 0);
    let events = s.events("podinfo");
    assert!(
        events.contains("manual webhook invoked") && !events.contains("Starting canary analysis"),
        "{events}"
    );
}

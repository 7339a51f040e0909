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

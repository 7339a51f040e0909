//! Trust (issue 9): what serin does when something it depends on fails or is unusable.

use super::*;
use serin::api::conditions;
use support::target::sandbox;

/// An address nothing listens on: a port bound and released.
fn dead_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    format!("http://127.0.0.1:{port}")
}

/// Prometheus unreachable mid-analysis: the step holds and the event names the cause;
/// Prometheus back: the rollout continues and is promoted.
#[tokio::test(flavor = "multi_thread")]
async fn t01_an_unreachable_metrics_server_holds_the_step() {
    let dead = dead_address();
    let extra = format!("  metricsServer: {dead}\n");
    let analysis = format!("    metricErrorLimit: 50\n{ANALYSIS}");
    let s = initialized("metrics-down", &analysis, &extra).await;
    s.apply(&podinfo("6.0.1", &[]));
    let st = s
        .wait_status("podinfo", 120, "two errored checks", |st| {
            st.metric_errors.as_ref().is_some_and(|e| e.count >= 2)
        })
        .await;
    assert_eq!(st.canary_weight, 20, "the step holds at the first weight");
    assert_eq!(st.failed_checks, 0, "errors are not failed checks");
    assert_eq!(st.phase, Some(Phase::Progressing));
    let events = s.events("podinfo");
    let cause = format!("connection refused to {dead}");
    assert!(events.contains(&cause), "{events}");
    assert!(events.contains("step held"), "{events}");

    // The metrics server is back: the rollout goes on and is promoted.
    let live = &sandbox().prometheus_url;
    kubectl(
        &[
            "patch",
            "canary/podinfo",
            "-n",
            &s.ns,
            "--type=merge",
            "-p",
            &format!(r#"{{"spec":{{"metricsServer":"{live}"}}}}"#),
        ],
        None,
    );
    let st = s.wait_phase("podinfo", Phase::Succeeded, 180).await;
    assert_eq!(st.failed_checks, 0);
    assert_eq!(
        image(&s, "podinfo-primary"),
        "ghcr.io/stefanprodan/podinfo:6.0.1"
    );
}

/// A target whose selector has only matchExpressions is refused by name; nothing is
/// created for it.
#[tokio::test(flavor = "multi_thread")]
async fn t02_a_selector_without_match_labels_is_refused() {
    let s = Scenario::new("match-expressions").await;
    let deployment = podinfo("6.0.0", &[]).replace(
        "  selector:\n    matchLabels:\n      app: podinfo\n",
        "  selector:\n    matchExpressions:\n    - key: app\n      operator: In\n      values: [podinfo]\n",
    );
    assert!(deployment.contains("matchExpressions"), "{deployment}");
    s.apply(&deployment);
    s.apply(&canary("", ANALYSIS));
    let st = s
        .wait_status("podinfo", 60, "Valid=False", |st| {
            st.condition(conditions::VALID)
                .is_some_and(|c| c.status == conditions::FALSE)
        })
        .await;
    let valid = st.condition(conditions::VALID).expect("Valid");
    assert_eq!(valid.reason, "InvalidTarget");
    assert!(
        valid.message.contains("only matchExpressions"),
        "{}",
        valid.message
    );
    let events = s.events("podinfo");
    assert!(events.contains("InvalidTarget"), "{events}");
    assert!(
        kubectl_result(&["get", "deployment/podinfo-primary", "-n", &s.ns], None).is_err(),
        "no primary is created for an unusable target"
    );
}

/// The target deleted mid-run: all traffic goes back to the primary at once and the run
/// ends Failed, with an event that says why.
#[tokio::test(flavor = "multi_thread")]
async fn t03_a_target_deleted_mid_run_routes_everything_to_the_primary() {
    let s = initialized("target-gone", ANALYSIS, "").await;
    s.apply(&podinfo("6.0.1", &[]));
    s.wait_status("podinfo", 120, "the first step", |st| {
        st.phase == Some(Phase::Progressing) && st.canary_weight > 0
    })
    .await;
    kubectl(&["delete", "deployment/podinfo", "-n", &s.ns], None);
    let st = s.wait_phase("podinfo", Phase::Failed, 60).await;
    assert_eq!(st.canary_weight, 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while weights(&s) != "100 0" {
        assert!(
            std::time::Instant::now() < deadline,
            "routing: {}",
            weights(&s)
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let events = s.events("podinfo");
    assert!(events.contains("was deleted during the run"), "{events}");
    assert_eq!(
        image(&s, "podinfo-primary"),
        "ghcr.io/stefanprodan/podinfo:6.0.0",
        "the primary keeps the promoted revision"
    );
}

/// A write the API server refuses (here: an apex label value Kubernetes does not accept)
/// is shown on the Canary with the API server's message, and cleared once fixed.
#[tokio::test(flavor = "multi_thread")]
async fn t04_a_refused_write_is_shown_on_the_canary() {
    let s = Scenario::new("write-refused").await;
    s.apply(&podinfo("6.0.0", &[]));
    let with_label = |value: &str| {
        canary("", ANALYSIS).replace(
            "  service:\n    port: 9898\n",
            &format!(
                "  service:\n    port: 9898\n    apex:\n      labels:\n        team: \"{value}\"\n"
            ),
        )
    };
    s.apply(&with_label("not a label value!"));
    let st = s
        .wait_status("podinfo", 60, "Reconciled=False", |st| {
            st.condition(conditions::RECONCILED)
                .is_some_and(|c| c.status == conditions::FALSE)
        })
        .await;
    let c = st.condition(conditions::RECONCILED).expect("Reconciled");
    assert_eq!(c.reason, "WriteRefused");
    assert!(c.message.contains("metadata.labels"), "{}", c.message);
    assert!(s.events("podinfo").contains("WriteRefused"));

    s.apply(&with_label("web"));
    s.wait_status("podinfo", 120, "initialised and Reconciled cleared", |st| {
        st.phase == Some(Phase::Initialized) && st.condition(conditions::RECONCILED).is_none()
    })
    .await;
}

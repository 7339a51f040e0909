//! Alerts end to end: the real serin posts to the sandbox's alert receiver through
//! AlertProviders (one with its address in a Secret), filtered by severity, and an
//! unreachable provider neither stops nor slows the rollout.

use std::time::{Duration, Instant};

use serin::api::Phase;

use crate::support::eventually;
use crate::support::sandbox;
use crate::support::scenario::{ANALYSIS, Scenario, canary, podinfo};

/// Waits until `probe` holds, failing after 20s with `what`.
async fn arrives(what: &str, probe: impl Fn() -> bool) {
    eventually(what, Duration::from_secs(20), || async {
        Ok(probe().then_some(()))
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));
}

fn providers(ns: &str) -> String {
    let url = sandbox()
        .receiver()
        .expect("the sandbox runs a receiver")
        .url();
    let url = url.trim_end_matches('/');
    format!(
        r#"apiVersion: v1
kind: Secret
metadata:
  name: slack-url
stringData:
  address: {url}/slack/{ns}
---
apiVersion: serin.dev/v1beta1
kind: AlertProvider
metadata:
  name: slack
spec:
  type: slack
  channel: deploys
  secretRef:
    name: slack-url
---
apiVersion: serin.dev/v1beta1
kind: AlertProvider
metadata:
  name: teams
spec:
  type: msteams
  address: {url}/teams/{ns}
---
apiVersion: serin.dev/v1beta1
kind: AlertProvider
metadata:
  name: warn
spec:
  type: slack
  address: {url}/warn/{ns}
---
apiVersion: serin.dev/v1beta1
kind: AlertProvider
metadata:
  name: gone
spec:
  type: slack
  address: http://127.0.0.1:9/nowhere
"#
    )
}

const ALERTS: &str = r#"    alerts:
    - name: on-call
      severity: error
      providerRef:
        name: slack
    - name: team
      severity: error
      providerRef:
        name: teams
    - name: info
      severity: info
      providerRef:
        name: teams
    - name: warnings
      severity: warn
      providerRef:
        name: warn
    - name: unreachable
      providerRef:
        name: gone
"#;

fn received(path: &str) -> Vec<serde_json::Value> {
    sandbox()
        .receiver()
        .unwrap()
        .received()
        .into_iter()
        .filter(|r| r.path.starts_with(path))
        .map(|r| r.body)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn al_promotion_and_rollback_reach_providers_by_severity() {
    let s = Scenario::new("al").await;
    s.apply(&providers(&s.ns));
    s.apply(&podinfo("6.0.0", &[]));
    s.apply(&canary("", &format!("{ANALYSIS}{ALERTS}")));
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    let started = Instant::now();
    s.apply(&podinfo("6.0.1", &[]));
    s.wait_phase("podinfo", Phase::Succeeded, 120).await;
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "an unreachable provider does not slow the rollout"
    );
    let ns = s.ns.clone();
    let teams = format!("/teams/{ns}");
    arrives("the promotion alert in Teams", || {
        received(&teams)
            .iter()
            .any(|b| b["@type"] == "MessageCard" && b.to_string().contains("promotion finished"))
    })
    .await;
    assert!(
        received(&format!("/warn/{ns}")).is_empty(),
        "no info alert at warn"
    );
    assert!(
        received(&format!("/slack/{ns}")).is_empty(),
        "no info alert at error"
    );

    // A rollback: the error-level Slack (address in a Secret), the error-level Teams and
    // the warn-level provider get it, with the failing check's numbers.
    s.apply(&podinfo("6.0.2", &[("SANDBOX_ERROR_RATE", "0.5")]));
    s.wait_phase("podinfo", Phase::Failed, 120).await;
    let rollback = |b: &serde_json::Value| b.to_string().contains("Rolling back podinfo.");
    let slack = format!("/slack/{ns}");
    arrives(
        "the rollback alert in Slack, with the failing metric",
        || {
            received(&slack).iter().any(|b| {
                let text = b.to_string();
                b["channel"] == "deploys"
                    && b["attachments"][0]["color"].is_string()
                    && rollback(b)
                    && text.contains("request-success-rate")
                    && text.contains(">= 99")
            })
        },
    )
    .await;
    arrives("the rollback alert in Teams", || {
        received(&teams)
            .iter()
            .any(|b| b["@type"] == "MessageCard" && rollback(b))
    })
    .await;
    let warn = format!("/warn/{ns}");
    arrives("the rollback alert at warn", || {
        received(&warn).iter().any(rollback)
    })
    .await;
    assert!(
        !received(&warn)
            .iter()
            .any(|b| b.to_string().contains("promotion finished")),
        "the warn-level provider never got the promotion"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn al_global_slack_flag_serves_canaries_without_alerts() {
    let base = sandbox().receiver().unwrap().url();
    let mut s = Scenario::without_serin("al-global").await;
    let url = format!("{}/global-slack/{}", base.trim_end_matches('/'), s.ns);
    s.start_replica(&[
        "--slack-url",
        &url,
        "--slack-channel",
        "ops",
        "--cluster-name",
        "sandbox-1",
    ]);
    s.apply(&podinfo("6.0.0", &[]));
    s.apply(&canary("", ANALYSIS));
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    s.apply(&podinfo("6.0.1", &[]));
    s.wait_phase("podinfo", Phase::Succeeded, 120).await;
    let path = format!("/global-slack/{}", s.ns);
    arrives("the promotion alert through --slack-url", || {
        received(&path).iter().any(|b| {
            let text = b.to_string();
            b["channel"] == "ops"
                && text.contains("promotion finished")
                && text.contains("sandbox-1")
        })
    })
    .await;
}

//! serin's webhook and alert protocol against the sandbox's stand-ins: `serin::hooks::call`
//! reaches the loadtester by its in-cluster name through a host mapping, gates open and
//! close as a person would open them (a POST, as with curl), a `hey` task's traffic shows
//! in Prometheus, and `serin::alerts` delivers to the receiver. `hooks_protocol/api.rs`: the typed
//! webhooks, alerts and AlertProvider in the API server.

mod hooks_protocol {
    mod api;
}
mod support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use serin::alerts::{self, AlertSender, SendOutcome, SendPolicy};
use serin::api::{AlertProviderSpec, AlertProviderType, AlertSeverity, CanaryWebhook, Phase};
use serin::hooks::{HookClients, HookOutcome, HostMapping, call, payload};
use support::{Prom, TestNs, promql};

const LOADTESTER: &str = "http://flagger-loadtester.test";

/// Clients that map the loadtester's in-cluster name to the sandbox's stand-in.
fn clients() -> HookClients {
    let loadtester = crate::support::sandbox()
        .loadtester()
        .expect("the sandbox runs a loadtester");
    let mapping: HostMapping = format!("flagger-loadtester.test={}", loadtester.addr())
        .parse()
        .expect("mapping");
    HookClients::new(vec![mapping]).expect("clients")
}

fn hook(path: &str, metadata: &[(&str, &str)]) -> CanaryWebhook {
    CanaryWebhook {
        name: path.trim_matches('/').replace('/', "-"),
        url: format!("{LOADTESTER}{path}"),
        timeout: Some("5s".into()),
        metadata: metadata
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    }
}

async fn run(clients: &HookClients, canary: &str, ns: &str, hook: &CanaryWebhook) -> HookOutcome {
    let body = payload(canary, ns, Phase::Progressing, "rev1", &hook.metadata);
    call(clients, hook, &body).await
}

/// What a person does with curl: `curl -d '{"name":..,"namespace":..}' <loadtester>/gate/open`.
async fn curl_post(path: &str, canary: &str, ns: &str) -> u16 {
    let url = format!(
        "{}{}",
        crate::support::sandbox()
            .loadtester_url
            .trim_end_matches('/'),
        path
    );
    let body = serde_json::json!({"name": canary, "namespace": ns});
    serin::hooks::build_client(&[], false)
        .expect("client")
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("post")
        .status()
        .as_u16()
}

#[tokio::test]
async fn gates_answer_serins_calls_as_a_person_sets_them() {
    let clients = clients();
    let gate = hook("/gate/check", &[]);
    let out = run(&clients, "gated", "hooks-a", &gate).await;
    assert_eq!(out.message(), "HTTP 403: Forbidden");
    assert_eq!(curl_post("/gate/open", "gated", "hooks-a").await, 202);
    assert!(run(&clients, "gated", "hooks-a", &gate).await.passed());
    // Another canary's gate is still closed.
    assert!(!run(&clients, "other", "hooks-a", &gate).await.passed());
    assert_eq!(curl_post("/gate/close", "gated", "hooks-a").await, 202);
    assert!(!run(&clients, "gated", "hooks-a", &gate).await.passed());

    let rollback = hook("/rollback/check", &[]);
    assert!(!run(&clients, "gated", "hooks-a", &rollback).await.passed());
    assert_eq!(curl_post("/rollback/open", "gated", "hooks-a").await, 202);
    assert!(run(&clients, "gated", "hooks-a", &rollback).await.passed());
    assert!(
        run(&clients, "x", "y", &hook("/gate/approve", &[]))
            .await
            .passed()
    );
    assert!(
        !run(&clients, "x", "y", &hook("/gate/halt", &[]))
            .await
            .passed()
    );
}

#[tokio::test]
async fn bash_tasks_pass_or_fail_with_their_output() {
    let clients = clients();
    let ok = hook(
        "/",
        &[
            ("type", "bash"),
            ("cmd", "echo smoke ok"),
            ("returnCmdOutput", "true"),
        ],
    );
    let out = run(&clients, "podinfo", "hooks-b", &ok).await;
    assert!(
        matches!(&out, HookOutcome::Passed { status: 200, body, .. } if body == "smoke ok"),
        "{out:?}"
    );
    let failing = hook(
        "/",
        &[("type", "bash"), ("cmd", "echo smoke failed; exit 1")],
    );
    let out = run(&clients, "podinfo", "hooks-b", &failing).await;
    assert!(
        out.message()
            .starts_with("HTTP 500: command echo smoke failed; exit 1 failed: smoke failed"),
        "{}",
        out.message()
    );
}

#[tokio::test]
async fn a_hey_task_sends_traffic_the_metrics_see() {
    let sandbox = crate::support::sandbox();
    let ns = TestNs::create_at(&sandbox.kubeconfig, "hooks-load")
        .await
        .expect("namespace");
    let n = ns.name.clone();
    ns.create_yaml::<Deployment>(
        "metadata: {name: app-canary}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: app-canary}}\n  template:\n    metadata: {labels: {app: app-canary}}\n    spec: {containers: [{name: app, image: podinfo}]}\n",
    )
    .await.expect("create object");
    ns.create_yaml::<Service>(
        "metadata: {name: app-canary}\nspec:\n  selector: {app: app-canary}\n  ports: [{name: http, port: 9898}]\n",
    )
    .await.expect("create object");
    // No VirtualService routes to app-canary: only the load test's requests reach it.
    let cmd = format!("hey -z 2m -q 10 -c 2 http://app-canary.{n}:9898/");
    let load = hook("/", &[("type", "cmd"), ("cmd", &cmd)]);
    let out = run(&clients(), "app", &n, &load).await;
    assert!(
        matches!(out, HookOutcome::Passed { status: 202, .. }),
        "{out:?}"
    );
    let rate = promql(&format!(
        r#"sum(rate(istio_requests_total{{reporter="destination",destination_workload_namespace="{n}",destination_workload="app-canary"}}[10s]))"#
    ));
    Prom::new(&sandbox.prometheus_url)
        .wait_for(
            "load-test traffic at the canary",
            &rate,
            Duration::from_secs(60),
            |v| v > 5.0,
        )
        .await;
    let _ = ns.delete().await;
}

#[tokio::test]
async fn alerts_reach_the_receiver_in_each_format() {
    let receiver = crate::support::sandbox()
        .receiver()
        .expect("the sandbox runs a receiver");
    let sender = AlertSender::new(
        serin::hooks::build_client(&[], false).expect("client"),
        SendPolicy::default(),
    );
    let alert = alerts::Alert {
        workload: "podinfo".into(),
        namespace: "hooks-c".into(),
        message: alerts::messages::threshold_reached(3),
        fields: vec![alerts::Field::new("Target", "Deployment/podinfo.hooks-c")],
        severity: AlertSeverity::Error,
    };
    for (type_, path) in [
        (AlertProviderType::Slack, "/hooks-c/slack-hook"),
        (AlertProviderType::Msteams, "/hooks-c/teams"),
        (AlertProviderType::Discord, "/hooks-c/discord"),
    ] {
        let spec = AlertProviderSpec {
            type_,
            ..Default::default()
        };
        let address = format!("{}{path}", receiver.url());
        let delivery = alerts::delivery(&spec, &address, Some("t0k"), &alert).expect("delivery");
        assert_eq!(
            sender.send(&delivery).await,
            SendOutcome::Delivered { attempts: 1 }
        );
    }
    let mine = |format: &'static str| {
        move |r: &serin_sandbox::receiver::Received| {
            r.path.starts_with("/hooks-c/") && r.format == format
        }
    };
    for format in ["slack", "msteams", "discord"] {
        let got = receiver
            .wait_for(Duration::from_secs(5), mine(format))
            .await;
        let got = got.unwrap_or_else(|| panic!("no {format} alert received"));
        assert_eq!(got.text(), "Failed checks threshold reached 3");
    }
    let slack = receiver
        .wait_for(Duration::from_secs(1), mine("slack"))
        .await
        .expect("slack");
    assert_eq!(slack.authorization.as_deref(), Some("Bearer t0k"));
    assert_eq!(slack.body["attachments"][0]["color"], "danger");
    let discord = receiver
        .wait_for(Duration::from_secs(1), mine("discord"))
        .await
        .expect("discord");
    assert_eq!(discord.path, "/hooks-c/discord/slack");
}

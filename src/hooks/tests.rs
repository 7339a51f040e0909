//! Payload goldens and calls against a local HTTP server.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;

use super::*;
use crate::api::{CanaryWebhook, HookType, Phase};

fn metadata() -> BTreeMap<String, String> {
    [
        ("type", "cmd"),
        ("cmd", "hey -z 1m -q 10 http://podinfo-canary.test:9898/"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[test]
fn payload_golden_matches_flagger() {
    let p = payload("podinfo", "test", Phase::Progressing, "5d8c9f", &metadata());
    // Flagger's field order; Go sorts map keys, as BTreeMap does.
    assert_eq!(
        serde_json::to_string(&p).unwrap(),
        r#"{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"5d8c9f","metadata":{"cmd":"hey -z 1m -q 10 http://podinfo-canary.test:9898/","type":"cmd"}}"#
    );
    let bare = payload(
        "podinfo",
        "test",
        Phase::Waiting,
        "5d8c9f",
        &BTreeMap::new(),
    );
    assert_eq!(
        serde_json::to_string(&bare).unwrap(),
        r#"{"name":"podinfo","namespace":"test","phase":"Waiting","checksum":"5d8c9f"}"#
    );
}

#[test]
fn event_payload_golden_matches_flagger() {
    let mut own = BTreeMap::new();
    own.insert("eventType".to_owned(), "overridden?".to_owned());
    own.insert("team".to_owned(), "checkout".to_owned());
    let p = event_payload(
        "podinfo",
        "test",
        Phase::Failed,
        "5d8c9f",
        &own,
        "Canary failed! Scaling down podinfo.test",
        "Warning",
        1_764_566_400_123,
    );
    assert_eq!(
        serde_json::to_string(&p).unwrap(),
        r#"{"name":"podinfo","namespace":"test","phase":"Failed","checksum":"5d8c9f","metadata":{"eventMessage":"Canary failed! Scaling down podinfo.test","eventType":"Warning","team":"checkout","timestamp":"1764566400123"}}"#
    );
}

/// A local server: `/ok` 200, `/accepted` 202, `/fail` 500, `/gate` 403, `/slow` answers
/// after 5 s, `/flaky` fails twice then passes, `/big` answers 10 KB, `/created` 201,
/// `/nocontent` 204.
async fn server() -> (String, Arc<AtomicU32>) {
    let flaky = Arc::new(AtomicU32::new(0));
    let count = flaky.clone();
    let app = Router::new()
        .route("/ok", post(|| async { "fine" }))
        .route("/accepted", post(|| async { (StatusCode::ACCEPTED, "") }))
        .route("/created", post(|| async { (StatusCode::CREATED, "") }))
        .route("/nocontent", post(|| async { StatusCode::NO_CONTENT }))
        .route(
            "/fail",
            post(|| async {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "command failed: exit 3\n",
                )
            }),
        )
        .route(
            "/gate",
            post(|| async { (StatusCode::FORBIDDEN, "Forbidden") }),
        )
        .route(
            "/slow",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route(
            "/flaky",
            post(move || {
                let n = count.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 2 {
                        (StatusCode::SERVICE_UNAVAILABLE, "not yet")
                    } else {
                        (StatusCode::OK, "now")
                    }
                }
            }),
        )
        .route("/big", post(|| async { "x".repeat(10_000) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), flaky)
}

fn hook(url: String) -> CanaryWebhook {
    CanaryWebhook {
        name: "test".into(),
        type_: HookType::Rollout,
        url,
        timeout: Some("1s".into()),
        ..Default::default()
    }
}

fn fast() -> CallPolicy {
    CallPolicy {
        first_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        body_limit: 64,
    }
}

fn sample() -> HookPayload {
    payload(
        "podinfo",
        "test",
        Phase::Progressing,
        "abc",
        &BTreeMap::new(),
    )
}

#[tokio::test]
async fn two_hundred_to_two_hundred_two_pass_and_the_rest_fail() {
    let (base, _) = server().await;
    let clients = HookClients::new(vec![]).unwrap();
    for (path, passes) in [
        ("/ok", true),
        ("/created", true),
        ("/accepted", true),
        ("/nocontent", false),
    ] {
        let out = call_with(&clients, &hook(format!("{base}{path}")), &sample(), &fast()).await;
        assert_eq!(out.passed(), passes, "{path}: {out:?}");
    }
    let out = call_with(&clients, &hook(format!("{base}/ok")), &sample(), &fast()).await;
    assert_eq!(
        out,
        HookOutcome::Passed {
            status: 200,
            body: "fine".into(),
            attempts: 1
        }
    );
}

#[tokio::test]
async fn a_500_fails_with_its_body_and_is_retried() {
    let (base, _) = server().await;
    let clients = HookClients::new(vec![]).unwrap();
    let mut h = hook(format!("{base}/fail"));
    h.retries = Some(2);
    let out = call_with(&clients, &h, &sample(), &fast()).await;
    let HookOutcome::Failed { error, attempts } = &out else {
        panic!("{out:?}")
    };
    assert_eq!(*attempts, 3);
    assert_eq!(error.category(), "HTTPStatus");
    assert_eq!(
        out.message(),
        "HTTP 500: command failed: exit 3 (3 attempts)"
    );
}

#[tokio::test]
async fn a_closed_gate_is_an_answer_not_retried() {
    let (base, _) = server().await;
    let clients = HookClients::new(vec![]).unwrap();
    let mut h = hook(format!("{base}/gate"));
    h.retries = Some(5);
    let out = call_with(&clients, &h, &sample(), &fast()).await;
    assert_eq!(out.message(), "HTTP 403: Forbidden");
}

#[tokio::test]
async fn retries_until_a_flaky_hook_passes() {
    let (base, count) = server().await;
    let clients = HookClients::new(vec![]).unwrap();
    let mut h = hook(format!("{base}/flaky"));
    h.retries = Some(3);
    let out = call_with(&clients, &h, &sample(), &fast()).await;
    assert_eq!(
        out,
        HookOutcome::Passed {
            status: 200,
            body: "now".into(),
            attempts: 3
        }
    );
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_slow_hook_times_out_with_its_timeout_in_the_message() {
    let (base, _) = server().await;
    let clients = HookClients::new(vec![]).unwrap();
    let started = std::time::Instant::now();
    let out = call_with(&clients, &hook(format!("{base}/slow")), &sample(), &fast()).await;
    assert_eq!(out.message(), "no answer within 1s");
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn long_bodies_are_truncated() {
    let (base, _) = server().await;
    let clients = HookClients::new(vec![]).unwrap();
    let out = call_with(&clients, &hook(format!("{base}/big")), &sample(), &fast()).await;
    let HookOutcome::Passed { body, .. } = out else {
        panic!("{out:?}")
    };
    assert_eq!(body, format!("{} …(truncated)", "x".repeat(64)));
}

#[tokio::test]
async fn refused_connections_and_bad_urls_say_so() {
    // Bind and drop to find a port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let clients = HookClients::new(vec![]).unwrap();
    let out = call_with(
        &clients,
        &hook(format!("http://127.0.0.1:{port}/")),
        &sample(),
        &fast(),
    )
    .await;
    assert_eq!(out.message(), "connection refused by \"127.0.0.1\"");
    let out = call_with(&clients, &hook("gopher://x/".into()), &sample(), &fast()).await;
    assert_eq!(
        out.message(),
        "invalid URL \"gopher://x/\": the scheme is not http or https"
    );
}

#[tokio::test]
async fn a_host_mapping_reaches_a_loopback_server_by_name() {
    let (base, _) = server().await;
    let addr = base.trim_start_matches("http://");
    let mapping: HostMapping = format!("flagger-loadtester.test={addr}").parse().unwrap();
    let clients = HookClients::new(vec![mapping]).unwrap();
    let h = hook("http://flagger-loadtester.test/ok".into());
    let out = call_with(&clients, &h, &sample(), &fast()).await;
    assert!(out.passed(), "{out:?}");
    let h = hook("http://flagger-loadtester.test:8080/ok".into());
    assert!(call_with(&clients, &h, &sample(), &fast()).await.passed());
}

#[tokio::test]
async fn unknown_hosts_are_named_as_dns_failures() {
    let clients = HookClients::new(vec![]).unwrap();
    // `.invalid` never resolves (RFC 6761); the long timeout leaves DNS time to say so.
    let mut h = hook("http://serin-no-such-host.invalid/".into());
    h.timeout = Some("10s".into());
    let out = call_with(&clients, &h, &sample(), &fast()).await;
    assert_eq!(
        out.message(),
        "cannot resolve host \"serin-no-such-host.invalid\""
    );
}

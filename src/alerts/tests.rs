//! Provider goldens, severity filtering, fields and delivery against a local server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};

use super::*;
use crate::api::{AlertProviderSpec, AlertProviderType, AlertSeverity, CanaryAlert, CanarySpec};

fn alert(severity: AlertSeverity) -> Alert {
    Alert {
        workload: "podinfo".into(),
        namespace: "test".into(),
        message: messages::threshold_reached(2),
        fields: vec![Field::new("Target", "Deployment/podinfo.test")],
        severity,
    }
}

fn spec(type_: AlertProviderType) -> AlertProviderSpec {
    AlertProviderSpec {
        type_,
        channel: Some("on-call".into()),
        address: Some("https://hooks.example/T1/B2".into()),
        ..Default::default()
    }
}

#[test]
fn slack_golden() {
    let body = payload(
        AlertProviderType::Slack,
        "on-call",
        "serin",
        &alert(AlertSeverity::Error),
    );
    assert_eq!(
        body,
        json!({
            "channel": "on-call", "username": "serin", "icon_url": "", "icon_emoji": ":rocket:",
            "attachments": [{
                "color": "danger", "author_name": "podinfo.test",
                "text": "Failed checks threshold reached 2", "mrkdwn_in": ["text"],
                "fields": [{"title": "Target", "value": "Deployment/podinfo.test", "short": false}]
            }]
        })
    );
    let info = payload(
        AlertProviderType::Slack,
        "c",
        "u",
        &alert(AlertSeverity::Warn),
    );
    assert_eq!(info["attachments"][0]["color"], "good");
}

#[test]
fn discord_is_slack_at_the_slack_endpoint() {
    let d = delivery(
        &spec(AlertProviderType::Discord),
        "https://discord.example/api/webhooks/1/x",
        None,
        &alert(AlertSeverity::Info),
    )
    .unwrap();
    assert_eq!(
        d.url.as_str(),
        "https://discord.example/api/webhooks/1/x/slack"
    );
    let again = delivery(
        &spec(AlertProviderType::Discord),
        "https://discord.example/w/slack",
        None,
        &alert(AlertSeverity::Info),
    )
    .unwrap();
    assert_eq!(again.url.as_str(), "https://discord.example/w/slack");
    assert_eq!(
        d.body,
        payload(
            AlertProviderType::Slack,
            "on-call",
            "serin",
            &alert(AlertSeverity::Info)
        )
    );
}

#[test]
fn rocket_golden_colours() {
    let body = payload(
        AlertProviderType::Rocket,
        "c",
        "u",
        &alert(AlertSeverity::Info),
    );
    assert_eq!(body["attachments"][0]["color"], "#0076D7");
    let body = payload(
        AlertProviderType::Rocket,
        "c",
        "u",
        &alert(AlertSeverity::Error),
    );
    assert_eq!(body["attachments"][0]["color"], "#FF0000");
}

#[test]
fn teams_golden() {
    let body = payload(
        AlertProviderType::Msteams,
        "ignored",
        "ignored",
        &alert(AlertSeverity::Info),
    );
    assert_eq!(
        body,
        json!({
            "@type": "MessageCard", "@context": "http://schema.org/extensions",
            "themeColor": "0076D7", "summary": "podinfo.test",
            "sections": [{
                "activityTitle": "Failed checks threshold reached 2",
                "activitySubtitle": "podinfo.test",
                "facts": [{"name": "Target", "value": "Deployment/podinfo.test"}]
            }]
        })
    );
    let error = payload(
        AlertProviderType::Msteams,
        "",
        "",
        &alert(AlertSeverity::Error),
    );
    assert_eq!(error["themeColor"], "FF0000");
}

#[test]
fn gchat_golden() {
    let body = payload(
        AlertProviderType::Gchat,
        "",
        "",
        &alert(AlertSeverity::Info),
    );
    assert_eq!(
        body,
        json!({"cards": [{
            "header": {"title": "serin", "subtitle": "podinfo.test"},
            "sections": [
                {"widgets": [{"textParagraph": {"text": "<font color=#848484><strong>Failed checks threshold reached 2</strong></font>"}}]},
                {"widgets": [{"textParagraph": {"text": "Target<br><font color=#848484><strong>Deployment/podinfo.test</strong></font>"}}]}
            ]
        }]})
    );
}

#[test]
fn tokens_go_to_slack_only_and_bad_addresses_are_refused() {
    let a = alert(AlertSeverity::Info);
    let slack = delivery(
        &spec(AlertProviderType::Slack),
        "https://h/",
        Some("t0k"),
        &a,
    )
    .unwrap();
    assert_eq!(slack.token.as_deref(), Some("t0k"));
    let teams = delivery(
        &spec(AlertProviderType::Msteams),
        "https://h/",
        Some("t0k"),
        &a,
    )
    .unwrap();
    assert_eq!(teams.token, None);
    let err = delivery(&spec(AlertProviderType::Slack), "not a url", None, &a).unwrap_err();
    assert!(err.starts_with("invalid slack address"), "{err}");
}

#[test]
fn severity_filtering_is_flaggers() {
    use AlertSeverity::*;
    let table = [
        (Info, [true, true, true]),
        (Warn, [false, true, true]),
        (Error, [false, false, true]),
    ];
    for (subscribed, expected) in table {
        let got = [Info, Warn, Error].map(|s| receives(subscribed, s));
        assert_eq!(got, expected, "subscribed at {subscribed:?}");
    }
    let alerts: Vec<CanaryAlert> = serde_json::from_value(json!([
        {"name": "all", "providerRef": {"name": "p"}},
        {"name": "pager", "severity": "error", "providerRef": {"name": "p"}}
    ]))
    .unwrap();
    let names = |s| {
        recipients(&alerts, s)
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(Warn), ["all"]);
    assert_eq!(names(Error), ["all", "pager"]);
}

#[test]
fn metadata_fields_are_flaggers_with_the_effective_max_weight() {
    let spec: CanarySpec = serde_json::from_value(json!({
        "targetRef": {"kind": "Deployment", "name": "podinfo"},
        "service": {"port": 80},
        "analysis": {"interval": "1m", "threshold": 5, "stepWeight": 10}
    }))
    .unwrap();
    let fields = metadata_fields(&spec, "test");
    let shown: Vec<(&str, &str)> = fields
        .iter()
        .map(|f| (f.name.as_str(), f.value.as_str()))
        .collect();
    assert_eq!(
        shown,
        [
            ("Target", "Deployment/podinfo.test"),
            ("Failed checks threshold", "5"),
            ("Progress deadline", "600s"),
            ("Traffic routing", "Weight step: 10 max: 100"),
        ]
    );
    let mut steps = spec.clone();
    let a = steps.analysis.as_mut().unwrap();
    (a.step_weight, a.step_weights) = (None, Some(vec![5, 10, 40]));
    assert_eq!(
        metadata_fields(&steps, "test")[3].value,
        "Weight steps: 5,10,40 max: 40"
    );
    let mut bg = spec;
    let a = bg.analysis.as_mut().unwrap();
    (a.step_weight, a.iterations) = (None, Some(10));
    assert_eq!(metadata_fields(&bg, "test")[3].value, "Blue/Green");
}

#[test]
fn verdict_fields_explain_the_failed_check() {
    let v = Verdict {
        metric: "request-success-rate".into(),
        value: Some(91.50000001),
        min: Some(99.0),
        max: None,
    };
    let shown: Vec<String> = v
        .fields()
        .iter()
        .map(|f| format!("{}={}", f.name, f.value))
        .collect();
    assert_eq!(
        shown,
        [
            "Metric=request-success-rate",
            "Value=91.5",
            "Threshold=>= 99"
        ]
    );
    let none = Verdict {
        metric: "latency".into(),
        value: None,
        min: Some(1.0),
        max: Some(500.0),
    };
    assert_eq!(none.fields()[1].value, "no data");
    assert_eq!(none.fields()[2].value, "1 to 500");
}

/// A receiver that fails `failures` times, then records bodies and Authorization headers.
async fn receiver(failures: u32) -> (String, Arc<Mutex<Vec<(Value, Option<String>)>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let left = Arc::new(Mutex::new(failures));
    let record = got.clone();
    let app = Router::new().route(
        "/{*path}",
        post(
            move |headers: HeaderMap, axum::Json(body): axum::Json<Value>| {
                let (record, left) = (record.clone(), left.clone());
                async move {
                    let mut left = left.lock().unwrap();
                    if *left > 0 {
                        *left -= 1;
                        return StatusCode::BAD_GATEWAY;
                    }
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    record.lock().unwrap().push((body, auth));
                    StatusCode::OK
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/services/x"), got)
}

fn sender(attempts: u32) -> AlertSender {
    let policy = SendPolicy {
        attempts,
        timeout: Duration::from_secs(2),
        first_backoff: Duration::from_millis(10),
    };
    AlertSender::new(crate::hooks::build_client(&[], false).unwrap(), policy)
}

#[tokio::test]
async fn delivery_retries_then_succeeds_with_the_token() {
    let (url, got) = receiver(2).await;
    let d = delivery(
        &spec(AlertProviderType::Slack),
        &url,
        Some("t0k"),
        &alert(AlertSeverity::Info),
    )
    .unwrap();
    assert_eq!(
        sender(3).send(&d).await,
        SendOutcome::Delivered { attempts: 3 }
    );
    let got = got.lock().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, d.body);
    assert_eq!(got[0].1.as_deref(), Some("Bearer t0k"));
}

#[tokio::test]
async fn an_undeliverable_alert_is_dropped_not_raised() {
    let (url, got) = receiver(10).await;
    let d = delivery(
        &spec(AlertProviderType::Msteams),
        &url,
        None,
        &alert(AlertSeverity::Info),
    )
    .unwrap();
    let out = sender(2).send(&d).await;
    assert_eq!(
        out,
        SendOutcome::Dropped {
            error: "HTTP 502".into(),
            attempts: 2
        }
    );
    assert!(got.lock().unwrap().is_empty());
}

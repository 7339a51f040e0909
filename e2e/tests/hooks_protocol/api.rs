//! The typed webhooks, alerts and AlertProvider in the API server: a Flagger manifest's
//! `webhooks` and `alerts` are accepted as written, and the schema and CEL rules refuse
//! what serin could not call. Runs against the sandbox or `SERIN_E2E_KUBECONFIG`.

use std::time::Duration;

use crate::support::TestNs;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Client, Resource};
use serde_json::{Value, json};
use serin::api::{AlertProvider, AlertSeverity, Canary, HookType};

/// Applies serin's CRDs and waits until Canaries can be listed.
async fn install_crds(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply("serin-e2e-hooks").force();
    for crd in serin::api::crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        crds.patch(&name, &params, &Patch::Apply(&crd))
            .await
            .expect("apply CRD");
    }
    let canaries: Api<Canary> = Api::all(client.clone());
    let providers: Api<AlertProvider> = Api::all(client.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while canaries.list(&Default::default()).await.is_err()
        || providers.list(&Default::default()).await.is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "CRDs not served within 30s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn api_of<K: Resource<DynamicType = ()>>(client: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &ApiResource::erase::<K>(&()))
}

async fn create(api: &Api<DynamicObject>, object: Value) -> Result<DynamicObject, String> {
    let object: DynamicObject = serde_json::from_value(object).expect("object");
    api.create(&PostParams::default(), &object)
        .await
        .map_err(|e| e.to_string())
}

fn canary(name: &str, analysis: Value) -> Value {
    json!({
        "apiVersion": "serin.dev/v1beta1", "kind": "Canary", "metadata": {"name": name},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898},
            "analysis": analysis
        }
    })
}

fn provider(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "serin.dev/v1beta1", "kind": "AlertProvider", "metadata": {"name": name}, "spec": spec})
}

#[tokio::test]
async fn flagger_webhooks_and_alerts_are_accepted_and_bad_ones_refused() {
    let client = crate::support::sandbox().client().await;
    install_crds(&client).await;
    let ns = TestNs::create_at(&crate::support::sandbox().kubeconfig, "hooks-api")
        .await
        .expect("namespace");
    let canaries = api_of::<Canary>(&client, &ns.name);

    // From Flagger's docs, apiVersion changed.
    let flagger = canary(
        "podinfo",
        json!({
            "interval": "1m", "threshold": 5, "maxWeight": 50, "stepWeight": 10,
            "alerts": [
                {"name": "on-call", "severity": "error", "providerRef": {"name": "on-call", "namespace": "flagger"}},
                {"name": "dev team", "severity": "", "providerRef": {"name": "dev-slack"}}
            ],
            "webhooks": [
                {"name": "start gate", "type": "confirm-rollout", "url": "http://flagger-loadtester.test/gate/approve"},
                {"name": "acceptance-test", "type": "pre-rollout", "url": "http://flagger-loadtester.test/",
                 "timeout": "30s", "metadata": {"type": "bash", "cmd": "curl -sd 'test' http://podinfo-canary:9898/token | grep token"}},
                {"name": "load-test", "url": "http://flagger-loadtester.test/", "timeout": "5s", "retries": 3,
                 "disableTLS": true, "muteAlert": true,
                 "metadata": {"cmd": "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/"}},
                {"name": "rollback", "type": "rollback", "url": "http://flagger-loadtester.test/rollback/check"},
                {"name": "events", "type": "event", "url": "https://events.example/"}
            ]
        }),
    );
    let created = create(&canaries, flagger)
        .await
        .expect("Flagger manifest accepted");
    let typed: Canary = serde_json::from_value(serde_json::to_value(&created).unwrap()).unwrap();
    let analysis = typed.spec.analysis.expect("analysis");
    let types: Vec<HookType> = analysis.webhooks.iter().map(|w| w.type_).collect();
    use HookType::*;
    assert_eq!(
        types,
        [ConfirmRollout, PreRollout, Rollout, Rollback, Event]
    );
    assert_eq!(analysis.webhooks[2].retries(), 3);
    assert_eq!(analysis.alerts[1].severity, AlertSeverity::Info);

    for (name, hook, words) in [
        (
            "bad-type",
            json!({"name": "x", "type": "pre-promotion", "url": "http://x/"}),
            "Unsupported value",
        ),
        (
            "bad-url",
            json!({"name": "x", "url": "ftp://x/"}),
            "must start with http",
        ),
        (
            "bad-timeout",
            json!({"name": "x", "url": "http://x/", "timeout": "2h"}),
            "at most 1h",
        ),
        (
            "bad-retries",
            json!({"name": "x", "url": "http://x/", "retries": 11}),
            "less than or equal to 10",
        ),
        ("no-url", json!({"name": "x"}), "Required value"),
    ] {
        let object = canary(
            name,
            json!({"interval": "1m", "stepWeight": 10, "webhooks": [hook]}),
        );
        let refused = create(&canaries, object).await.expect_err(name);
        assert!(refused.contains(words), "{name}: {refused}");
    }
    let bad_severity = canary(
        "bad-severity",
        json!({"stepWeight": 10,
        "alerts": [{"name": "x", "severity": "critical", "providerRef": {"name": "p"}}]}),
    );
    assert!(create(&canaries, bad_severity).await.is_err());

    let providers = api_of::<AlertProvider>(&client, &ns.name);
    let ok = provider(
        "on-call",
        json!({"type": "msteams", "secretRef": {"name": "teams-url"}}),
    );
    create(&providers, ok)
        .await
        .expect("provider with a secretRef");
    let ok = provider(
        "dev-slack",
        json!({"type": "slack", "channel": "dev", "address": "https://hooks.slack.com/x"}),
    );
    create(&providers, ok)
        .await
        .expect("provider with an address");
    for (name, spec) in [
        (
            "both",
            json!({"type": "slack", "address": "https://x/", "secretRef": {"name": "s"}}),
        ),
        ("neither", json!({"type": "slack"})),
    ] {
        let refused = create(&providers, provider(name, spec))
            .await
            .expect_err(name);
        assert!(
            refused.contains("exactly one of address or secretRef"),
            "{name}: {refused}"
        );
    }
    let refused = create(
        &providers,
        provider(
            "pager",
            json!({"type": "pagerduty", "address": "https://x/"}),
        ),
    )
    .await;
    assert!(refused.is_err());
    let _ = ns.delete().await;
}

//! The mesh stand-in honours the VirtualService shapes of deployment
//! strategies, as Flagger writes them for Istio: A/B cookie matches, traffic
//! mirroring, and session affinity with Set-Cookie. Checked through the real
//! Prometheus and the mesh's `/clients` endpoint.
//!
//! All tests of this binary share one sandbox, so they all set the same
//! traffic knobs: a quarter of the requests carry the A/B cookie (source
//! workload `insiders`), and 20 clients per host keep their cookies.

mod support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::runtime::wait::await_condition;
use serde_json::Value;
use serin_sandbox::mesh::TrafficClass;
use serin_sandbox::sandbox::Sandbox;
use support::{Prom, TestNs, promql};

const METRICS_WITHIN: Duration = Duration::from_secs(60);
const READY_WITHIN: Duration = Duration::from_secs(30);
const WINDOW: &str = "10s";
const CLIENTS: usize = 20;
const POLL: Duration = Duration::from_millis(250);

/// Sets this binary's traffic knobs (the same in every test).
fn sandbox() -> &'static Sandbox {
    let sandbox = crate::support::sandbox();
    let mesh = sandbox.mesh().expect("the sandbox runs the mesh stand-in");
    let insiders: TrafficClass = "cookie:canary=always,source:insiders:0.25"
        .parse()
        .expect("class");
    mesh.set_header_traffic(vec![insiders]);
    mesh.set_session_clients(CLIENTS);
    sandbox
}

fn deployment(name: &str, error_rate: &str) -> String {
    format!(
        r#"
metadata: {{name: {name}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
        - name: app
          image: ghcr.io/stefanprodan/podinfo:6.7.0
          env: [{{name: SANDBOX_ERROR_RATE, value: "{error_rate}"}}]
"#
    )
}

fn service(name: &str) -> String {
    format!(
        "metadata: {{name: {name}}}\nspec:\n  selector: {{app: {name}}}\n  ports: [{{name: http, port: 9898}}]\n"
    )
}

fn vs_api(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("networking.istio.io", "v1", "VirtualService");
    Api::namespaced_with(client.clone(), ns, &ApiResource::from_gvk(&gvk))
}

/// A primary and a canary (with `canary_error_rate`) ready behind their
/// Services, then VirtualService `app` with `http` routes at 100 requests/s.
async fn pair(ns: &TestNs, client: &kube::Client, canary_error_rate: &str, http: &str) {
    ns.create_yaml::<Deployment>(&deployment("app-primary", "0"))
        .await
        .expect("create object");
    ns.create_yaml::<Deployment>(&deployment("app-canary", canary_error_rate))
        .await
        .expect("create object");
    ns.create_yaml::<Service>(&service("app-primary"))
        .await
        .expect("create object");
    ns.create_yaml::<Service>(&service("app-canary"))
        .await
        .expect("create object");
    let api: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    for name in ["app-primary", "app-canary"] {
        let ready = |d: Option<&Deployment>| {
            d.and_then(|d| d.status.as_ref())
                .and_then(|s| s.ready_replicas)
                == Some(1)
        };
        let found =
            tokio::time::timeout(READY_WITHIN, await_condition(api.clone(), name, ready)).await;
        assert!(
            matches!(found, Ok(Ok(Some(_)))),
            "{name} not ready within {READY_WITHIN:?}"
        );
    }
    // Routes only once both are ready, so that no request meets a 503.
    let yaml = format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: app, annotations: {{mesh.sandbox.serin.dev/rps: \"100\"}}}}\nspec:\n  hosts: [app]\n  http:\n{http}"
    );
    let vs: DynamicObject = serde_saphyr::from_str(&yaml).expect("virtual service yaml");
    vs_api(client, &ns.name)
        .create(&PostParams::default(), &vs)
        .await
        .expect("create virtual service");
}

/// Rate of requests in the namespace matching extra label matchers.
fn rate(ns: &str, matchers: &str) -> String {
    promql(&format!(
        r#"sum(rate(istio_requests_total{{destination_workload_namespace="{ns}",{matchers}}}[{WINDOW}]))"#
    ))
}

#[tokio::test]
async fn ab_cookie_traffic_reaches_only_the_canary_and_the_rest_only_the_primary() {
    let sandbox = sandbox();
    let client = sandbox.client().await;
    let ns = TestNs::create_at(&crate::support::sandbox().kubeconfig, "mesh-ab")
        .await
        .expect("namespace");
    let n = ns.name.clone();
    let http = r#"
    - match: [{headers: {cookie: {regex: "^(.*?;)?(canary=always)(;.*)?$"}}}]
      route: [{destination: {host: app-primary}, weight: 0}, {destination: {host: app-canary}, weight: 100}]
    - route: [{destination: {host: app-primary}, weight: 100}]
"#;
    pair(&ns, &client, "0", http).await;
    let prom = Prom::new(&sandbox.prometheus_url);
    let full = format!(
        r#"min(count_over_time(istio_requests_total{{reporter="destination",destination_workload_namespace="{n}"}}[{WINDOW}]))"#
    );
    prom.wait_for("a full window", &full, METRICS_WITHIN, |c| c >= 10.0)
        .await;
    let insiders = rate(
        &n,
        r#"reporter="destination",source_workload="insiders",destination_workload="app-canary""#,
    );
    prom.wait_for(
        "insiders on the canary, 25 ± 3 /s",
        &insiders,
        METRICS_WITHIN,
        |v| (v - 25.0).abs() <= 3.0,
    )
    .await;
    let others = rate(
        &n,
        r#"reporter="destination",source_workload="loadgenerator",destination_workload="app-primary""#,
    );
    prom.wait_for(
        "the rest on the primary, 75 ± 5 /s",
        &others,
        METRICS_WITHIN,
        |v| (v - 75.0).abs() <= 5.0,
    )
    .await;
    // The crossed series were never written at all.
    for (source, workload) in [("insiders", "app-primary"), ("loadgenerator", "app-canary")] {
        let crossed = format!(
            r#"count(istio_requests_total{{destination_workload_namespace="{n}",source_workload="{source}",destination_workload="{workload}"}})"#
        );
        assert_eq!(
            prom.value(&crossed).await,
            None,
            "{source} reached {workload}"
        );
    }
    let _ = ns.delete().await;
}

#[tokio::test]
async fn a_faulty_mirror_gets_half_the_requests_and_users_see_no_error() {
    let sandbox = sandbox();
    let client = sandbox.client().await;
    let ns = TestNs::create_at(&crate::support::sandbox().kubeconfig, "mesh-mirror")
        .await
        .expect("namespace");
    let n = ns.name.clone();
    let http = r#"
    - route: [{destination: {host: app-primary}, weight: 100}, {destination: {host: app-canary}, weight: 0}]
      mirror: {host: app-canary}
      mirrorPercentage: {value: 50}
"#;
    pair(&ns, &client, "0.5", http).await;
    let prom = Prom::new(&sandbox.prometheus_url);
    let canary_errors = format!(
        r#"min(count_over_time(istio_requests_total{{reporter="destination",destination_workload_namespace="{n}",destination_workload="app-canary",response_code="500"}}[{WINDOW}]))"#
    );
    prom.wait_for(
        "a full window of mirrored errors",
        &canary_errors,
        METRICS_WITHIN,
        |c| c >= 10.0,
    )
    .await;
    let ratio = format!(
        "{} / {}",
        rate(
            &n,
            r#"reporter="destination",destination_workload="app-canary""#
        ),
        rate(
            &n,
            r#"reporter="destination",destination_workload="app-primary""#
        )
    );
    prom.wait_for(
        "mirror rate half the primary's",
        &ratio,
        METRICS_WITHIN,
        |v| (v - 0.5).abs() <= 0.05,
    )
    .await;
    let canary_success = format!(
        "{} / {} * 100",
        rate(
            &n,
            r#"reporter="destination",destination_workload="app-canary",response_code!~"5.*""#
        ),
        rate(
            &n,
            r#"reporter="destination",destination_workload="app-canary""#
        )
    );
    prom.wait_for(
        "the mirror's own success rate 50 ± 5",
        &canary_success,
        METRICS_WITHIN,
        |v| (v - 50.0).abs() <= 5.0,
    )
    .await;
    // What users get: every answer their proxies saw was the primary's.
    let user_errors = format!(
        r#"count(istio_requests_total{{reporter="source",destination_service_namespace="{n}",response_code=~"5.*"}})"#
    );
    assert_eq!(prom.value(&user_errors).await, None, "a user saw an error");
    let user_canary = format!(
        r#"count(istio_requests_total{{reporter="source",destination_workload="app-canary",destination_workload_namespace="{n}"}})"#
    );
    assert_eq!(
        prom.value(&user_canary).await,
        None,
        "a user was answered by the mirror"
    );
    let shadow = format!(
        r#"count(istio_requests_total{{destination_workload_namespace="{n}",destination_service="app-shadow"}})"#
    );
    assert!(
        prom.value(&shadow).await.is_some_and(|c| c > 0.0),
        "no -shadow host"
    );
    let _ = ns.delete().await;
}

/// Flagger's session-affinity routes at canary weight 10.
const STICKY: &str = r#"
    - name: sticky-route
      match: [{headers: {Cookie: {regex: ".*flagger-cookie.*XyZab.*"}}}]
      route: [{destination: {host: app-primary}, weight: 0}, {destination: {host: app-canary}, weight: 100}]
    - route:
        - {destination: {host: app-primary}, weight: 90}
        - destination: {host: app-canary}
          weight: 10
          headers: {response: {add: {Set-Cookie: "flagger-cookie=XyZab; Max-Age=3600"}}}
"#;

/// The clients of host `app` in `ns`, once `holds` accepts them.
async fn clients_when(
    url: &str,
    ns: &str,
    what: &str,
    holds: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let key = format!("{ns}/app/app");
    let deadline = tokio::time::Instant::now() + METRICS_WITHIN;
    loop {
        let view: Option<Value> = match reqwest::get(url).await {
            Ok(response) => response.json().await.ok(),
            Err(_) => None,
        };
        let hosts = view.as_ref().and_then(|v| v["hosts"].as_array());
        let clients = hosts
            .and_then(|hs| hs.iter().find(|h| h["host"] == key.as_str()))
            .and_then(|h| h["clients"].as_array())
            .cloned()
            .unwrap_or_default();
        if clients.len() == CLIENTS && holds(&clients) {
            return clients;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {METRICS_WITHIN:?}; last clients {clients:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

fn workloads(client: &Value) -> Vec<String> {
    let last = client["last"].as_array().cloned().unwrap_or_default();
    last.iter()
        .map(|o| o["workload"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_client_that_reached_the_canary_stays_there_until_its_cookie_expires() {
    let sandbox = sandbox();
    let url = sandbox.mesh().expect("mesh").clients_url();
    let client = sandbox.client().await;
    let ns = TestNs::create_at(&crate::support::sandbox().kubeconfig, "mesh-sticky")
        .await
        .expect("namespace");
    let n = ns.name.clone();
    pair(&ns, &client, "0", STICKY).await;
    let sticky = |c: &Value| workloads(c).iter().any(|w| w == "app-canary");
    // 100 requests/s over 20 clients: each fills its history in 4 s.
    let clients = clients_when(&url, &n, "full histories, some sticky", |cs| {
        cs.iter().all(|c| c["requests"].as_u64() >= Some(20)) && cs.iter().any(sticky)
    })
    .await;
    for c in clients.iter().filter(|c| sticky(c)) {
        let seen = workloads(c);
        let first = seen.iter().position(|w| w == "app-canary").unwrap_or(0);
        assert!(seen[first..].iter().all(|w| w == "app-canary"), "{c}");
        assert_eq!(c["cookies"]["flagger-cookie"], "XyZab", "{c}");
    }
    // Not asserted: that some client never reached the canary. At weight 10 a client
    // misses the canary in its 20 recorded requests with probability 0.9^20 (12%), so all
    // 20 clients are sticky in about 8% of runs; that would be a flaky test, not a bug.

    // Promotion: Flagger's routes at weight 0 expire the previous cookie.
    let promoted = serde_json::json!({"spec": {"http": [
        {"name": "sticky-route",
         "match": [{"headers": {"Cookie": {"regex": ".*flagger-cookie.*XyZab.*"}}}],
         "headers": {"response": {"add": {"Set-Cookie": "flagger-cookie=XyZab; Max-Age=-1"}}},
         "route": [{"destination": {"host": "app-primary"}, "weight": 100},
                   {"destination": {"host": "app-canary"}, "weight": 0}]},
        {"route": [{"destination": {"host": "app-primary"}, "weight": 100},
                   {"destination": {"host": "app-canary"}, "weight": 0}]}
    ]}});
    vs_api(&client, &n)
        .patch("app", &PatchParams::default(), &Patch::Merge(promoted))
        .await
        .expect("promote");
    clients_when(
        &url,
        &n,
        "every cookie expired, every client on the primary",
        |cs| {
            cs.iter().all(|c| {
                let empty = c["cookies"].as_object().is_some_and(|m| m.is_empty());
                empty && workloads(c).last().is_some_and(|w| w == "app-primary")
            })
        },
    )
    .await;
    let _ = ns.delete().await;
}

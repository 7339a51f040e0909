//! The whole chain: Deployments made ready by the kubelet stand-in, traffic
//! split by a VirtualService in the mesh stand-in, Istio metrics scraped by
//! the real Prometheus, read back with the PromQL Flagger uses for Istio.
//!
//! Runs against the sandbox's in-process API server, or against the API
//! server `SERIN_E2E_KUBECONFIG` names (kubelet, mesh and Prometheus attach).

mod support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::runtime::wait::{Condition, await_condition};
use support::{Prom, TestNs, promql, sandbox};

/// Long enough for the first scrapes and a full 10 s rate window.
const METRICS_WITHIN: Duration = Duration::from_secs(60);
const READY_WITHIN: Duration = Duration::from_secs(30);
/// The rate window of the queries, as a Canary's `interval` would set it.
const WINDOW: &str = "10s";

fn deployment(name: &str, env: &[(&str, &str)], extra_spec: &str) -> String {
    let env: Vec<String> = env
        .iter()
        .map(|(k, v)| format!("{{name: {k}, value: \"{v}\"}}"))
        .collect();
    format!(
        r#"
metadata: {{name: {name}}}
spec:
  replicas: 1
  {extra_spec}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
        - name: app
          image: ghcr.io/stefanprodan/podinfo:6.7.0
          env: [{}]
"#,
        env.join(", ")
    )
}

fn service(name: &str) -> String {
    format!(
        "metadata: {{name: {name}}}\nspec:\n  selector: {{app: {name}}}\n  ports: [{{name: http, port: 9898}}]\n"
    )
}

/// A VirtualService object (a CRD kind, so written as a dynamic object).
async fn create_virtual_service(client: &kube::Client, ns: &str, yaml: &str) {
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind, PostParams};
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "networking.istio.io",
        "v1",
        "VirtualService",
    ));
    let mut object: DynamicObject = serde_saphyr::from_str(yaml).expect("virtual service yaml");
    // A real API server refuses a custom resource without `kind` (400 "Object 'Kind' is
    // missing"); built-in kinds get theirs from the URL, custom resources do not.
    object.types = Some(kube::api::TypeMeta {
        api_version: resource.api_version.clone(),
        kind: resource.kind.clone(),
    });
    let api = Api::<DynamicObject>::namespaced_with(client.clone(), ns, &resource);
    api.create(&PostParams::default(), &object)
        .await
        .expect("create virtual service");
}

async fn wait_deployment(
    client: &kube::Client,
    ns: &str,
    name: &str,
    condition: impl Condition<Deployment>,
) {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let found = tokio::time::timeout(READY_WITHIN, await_condition(api, name, condition)).await;
    assert!(
        matches!(found, Ok(Ok(Some(_)))),
        "deployment {ns}/{name}: condition not met within {READY_WITHIN:?}"
    );
}

fn ready(d: Option<&Deployment>) -> bool {
    d.and_then(|d| d.status.as_ref())
        .and_then(|s| s.ready_replicas)
        == Some(1)
}

#[tokio::test]
async fn flagger_queries_see_the_weights_errors_and_latency_of_each_revision() {
    let sandbox = sandbox();
    let client = sandbox.client().await;
    let ns = TestNs::create_at(&sandbox.kubeconfig, "chain")
        .await
        .expect("namespace");
    let n = ns.name.clone();
    ns.create_yaml::<Deployment>(&deployment("app-primary", &[], ""))
        .await
        .expect("create object");
    let canary_env = [("SANDBOX_ERROR_RATE", "0.3"), ("SANDBOX_LATENCY_MS", "200")];
    ns.create_yaml::<Deployment>(&deployment("app-canary", &canary_env, ""))
        .await
        .expect("create object");
    ns.create_yaml::<Service>(&service("app-primary"))
        .await
        .expect("create object");
    ns.create_yaml::<Service>(&service("app-canary"))
        .await
        .expect("create object");
    // 100 requests/s, so that a 10 s window holds ~200 canary requests and
    // one request more or less moves a percentage by less than a point.
    create_virtual_service(
        &client,
        &n,
        r#"
metadata: {name: app, annotations: {mesh.sandbox.serin.dev/rps: "100"}}
spec:
  hosts: [app]
  http:
    - route:
        - {destination: {host: app-primary}, weight: 80}
        - {destination: {host: app-canary}, weight: 20}
"#,
    )
    .await;
    wait_deployment(&client, &n, "app-primary", ready).await;
    wait_deployment(&client, &n, "app-canary", ready).await;

    let prom = Prom::new(&sandbox.prometheus_url);
    // Every series must fill the whole window before rates are compared.
    let samples = format!(
        r#"min(count_over_time(istio_requests_total{{reporter="destination",destination_workload_namespace="{n}"}}[{WINDOW}]))"#
    );
    prom.wait_for(
        "a full window of samples",
        &samples,
        METRICS_WITHIN,
        |count| count >= 10.0,
    )
    .await;

    // Flagger's builtin request-success-rate query (pkg/metrics/observers/istio.go).
    let success_rate = promql(&format!(
        r#"sum(rate(istio_requests_total{{reporter="destination",destination_workload_namespace="{n}",
            destination_workload=~"app-canary",response_code!~"5.*"}}[{WINDOW}]))
          / sum(rate(istio_requests_total{{reporter="destination",destination_workload_namespace="{n}",
            destination_workload=~"app-canary"}}[{WINDOW}])) * 100"#
    ));
    prom.wait_for(
        "canary success rate 70 ± 2",
        &success_rate,
        METRICS_WITHIN,
        |v| (v - 70.0).abs() <= 2.0,
    )
    .await;

    let share = promql(&format!(
        r#"sum(rate(istio_requests_total{{reporter="destination",destination_workload_namespace="{n}",
            destination_workload="app-canary"}}[{WINDOW}]))
          / sum(rate(istio_requests_total{{reporter="destination",destination_workload_namespace="{n}"}}[{WINDOW}])) * 100"#
    ));
    prom.wait_for("canary share 20 ± 2", &share, METRICS_WITHIN, |v| {
        (v - 20.0).abs() <= 2.0
    })
    .await;
    let primary_success = success_rate.replace("app-canary", "app-primary");
    prom.wait_for(
        "primary success rate 100",
        &primary_success,
        METRICS_WITHIN,
        |v| v >= 99.99,
    )
    .await;

    // Flagger's builtin request-duration query: P99 in milliseconds. 200 ms
    // ± 10% falls in the (100, 250] bucket; 10 ms ± 10% below 25.
    let p99 = |workload: &str| {
        promql(&format!(
            r#"histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{{reporter="destination",
                destination_workload_namespace="{n}",destination_workload=~"{workload}"}}[{WINDOW}])) by (le))"#
        ))
    };
    prom.wait_for(
        "canary P99 in (100, 250]",
        &p99("app-canary"),
        METRICS_WITHIN,
        |v| v > 100.0 && v <= 250.0,
    )
    .await;
    prom.wait_for(
        "primary P99 in (5, 25]",
        &p99("app-primary"),
        METRICS_WITHIN,
        |v| v > 5.0 && v <= 25.0,
    )
    .await;
    let mean = promql(&format!(
        r#"sum(rate(istio_request_duration_milliseconds_sum{{reporter="destination",destination_workload_namespace="{n}",
            destination_workload="app-canary"}}[{WINDOW}]))
          / sum(rate(istio_request_duration_milliseconds_count{{reporter="destination",destination_workload_namespace="{n}",
            destination_workload="app-canary"}}[{WINDOW}]))"#
    ));
    prom.wait_for("canary mean latency 200 ± 5", &mean, METRICS_WITHIN, |v| {
        (v - 200.0).abs() <= 5.0
    })
    .await;
    let _ = ns.delete().await;
}

#[tokio::test]
async fn a_never_ready_revision_answers_503_and_exceeds_its_progress_deadline() {
    let sandbox = sandbox();
    let client = sandbox.client().await;
    let ns = TestNs::create_at(&sandbox.kubeconfig, "chain-broken")
        .await
        .expect("namespace");
    let n = ns.name.clone();
    let env = [("SANDBOX_NEVER_READY", "true")];
    ns.create_yaml::<Deployment>(&deployment("broken", &env, "progressDeadlineSeconds: 2"))
        .await
        .expect("create object");
    ns.create_yaml::<Service>(&service("broken"))
        .await
        .expect("create object");
    create_virtual_service(
        &client,
        &n,
        r#"
metadata: {name: broken}
spec:
  hosts: [broken]
  http: [{route: [{destination: {host: broken}}]}]
"#,
    )
    .await;
    let deadline_exceeded = |d: Option<&Deployment>| {
        let status = d.and_then(|d| d.status.as_ref());
        let conditions = status.and_then(|s| s.conditions.as_ref());
        let progressing = conditions.and_then(|cs| cs.iter().find(|c| c.type_ == "Progressing"));
        progressing.is_some_and(|c| {
            c.status == "False" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        })
    };
    wait_deployment(&client, &n, "broken", deadline_exceeded).await;
    let api: Api<Deployment> = Api::namespaced(client.clone(), &n);
    let status = api
        .get("broken")
        .await
        .expect("get")
        .status
        .expect("status");
    assert_eq!(
        (status.ready_replicas, status.available_replicas),
        (None, None)
    );
    let available = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Available")
        .expect("Available");
    assert_eq!(
        (available.status.as_str(), available.reason.as_deref()),
        ("False", Some("MinimumReplicasUnavailable"))
    );

    // The client's proxy answers 503 "no healthy upstream"; no destination reports.
    let prom = Prom::new(&sandbox.prometheus_url);
    let unavailable = promql(&format!(
        r#"sum(rate(istio_requests_total{{reporter="source",destination_service_namespace="{n}",
            destination_service_name="broken",response_code="503",response_flags="UH"}}[{WINDOW}]))"#
    ));
    prom.wait_for(
        "503 from the never-ready revision",
        &unavailable,
        METRICS_WITHIN,
        |v| v > 0.0,
    )
    .await;
    let served = format!(
        r#"count(istio_requests_total{{reporter="destination",destination_workload_namespace="{n}"}})"#
    );
    assert_eq!(
        prom.value(&served).await,
        None,
        "a never-ready revision served requests"
    );
    let _ = ns.delete().await;
}

#[tokio::test]
async fn a_bad_release_made_like_a_user_shows_in_the_success_rate() {
    let sandbox = sandbox();
    let client = sandbox.client().await;
    let ns = TestNs::create_at(&sandbox.kubeconfig, "chain-release")
        .await
        .expect("namespace");
    let n = ns.name.clone();
    ns.create_yaml::<Deployment>(&deployment("app", &[], ""))
        .await
        .expect("create object");
    ns.create_yaml::<Service>(&service("app"))
        .await
        .expect("create object");
    create_virtual_service(
        &client,
        &n,
        r#"
metadata: {name: app, annotations: {mesh.sandbox.serin.dev/rps: "100"}}
spec:
  hosts: [app]
  http: [{route: [{destination: {host: app}}]}]
"#,
    )
    .await;
    let prom = Prom::new(&sandbox.prometheus_url);
    let success_rate = promql(&format!(
        r#"sum(rate(istio_requests_total{{reporter="destination",destination_workload_namespace="{n}",
            destination_workload=~"app",response_code!~"5.*"}}[{WINDOW}]))
          / sum(rate(istio_requests_total{{reporter="destination",destination_workload_namespace="{n}",
            destination_workload=~"app"}}[{WINDOW}])) * 100"#
    ));
    prom.wait_for(
        "success rate 100 before the release",
        &success_rate,
        METRICS_WITHIN,
        |v| v >= 99.99,
    )
    .await;

    // The release changes the pod template, as `kubectl set env` would.
    let api: Api<Deployment> = Api::namespaced(client.clone(), &n);
    let release = serde_json::json!({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "env": [{"name": "SANDBOX_ERROR_RATE", "value": "0.5"}]}
    ]}}}});
    let params = kube::api::PatchParams::default();
    api.patch("app", &params, &kube::api::Patch::Strategic(release))
        .await
        .expect("release");
    // Errors exist only since the release: once their series fills the
    // window, the window holds no request from before it.
    let errors = format!(
        r#"count_over_time(istio_requests_total{{reporter="destination",destination_workload_namespace="{n}",response_code="500"}}[{WINDOW}])"#
    );
    prom.wait_for(
        "a full window after the release",
        &errors,
        METRICS_WITHIN,
        |count| count >= 10.0,
    )
    .await;
    let after = "success rate 50 ± 2 after the release";
    prom.wait_for(after, &success_rate, METRICS_WITHIN, |v| {
        (v - 50.0).abs() <= 2.0
    })
    .await;
    let _ = ns.delete().await;
}

#[tokio::test]
async fn the_kubelet_stand_in_completes_scales_and_template_changes() {
    let sandbox = sandbox();
    let client = sandbox.client().await;
    let ns = TestNs::create_at(&sandbox.kubeconfig, "chain-kubelet")
        .await
        .expect("namespace");
    let n = ns.name.clone();
    let created = ns
        .create_yaml::<Deployment>(&deployment("app", &[], ""))
        .await
        .expect("create object");
    let generation = created.metadata.generation.unwrap_or(1);
    let rolled_out = |replicas: i32, generation: i64| {
        move |d: Option<&Deployment>| {
            let Some(status) = d.and_then(|d| d.status.as_ref()) else {
                return false;
            };
            let progressing = status
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == "Progressing");
            status.observed_generation == Some(generation)
                && status.ready_replicas == Some(replicas)
                && status.updated_replicas == Some(replicas)
                && status.unavailable_replicas.is_none()
                && progressing
                    .is_some_and(|c| c.reason.as_deref() == Some("NewReplicaSetAvailable"))
        }
    };
    wait_deployment(&client, &n, "app", rolled_out(1, generation)).await;
    let api: Api<Deployment> = Api::namespaced(client.clone(), &n);
    let first = api.get("app").await.expect("get").status.expect("status");
    let message = |s: &k8s_openapi::api::apps::v1::DeploymentStatus| {
        let conditions = s.conditions.iter().flatten();
        conditions
            .filter(|c| c.type_ == "Progressing")
            .filter_map(|c| c.message.clone())
            .next()
    };

    let params = kube::api::PatchParams::default();
    let scale = serde_json::json!({"spec": {"replicas": 3}});
    let scaled = api
        .patch("app", &params, &kube::api::Patch::Merge(scale))
        .await
        .expect("scale");
    let generation = scaled.metadata.generation.unwrap_or(0);
    wait_deployment(&client, &n, "app", rolled_out(3, generation)).await;

    let image = serde_json::json!({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "ghcr.io/stefanprodan/podinfo:6.7.1"}
    ]}}}});
    let changed = api
        .patch("app", &params, &kube::api::Patch::Strategic(image))
        .await
        .expect("image");
    let generation = changed.metadata.generation.unwrap_or(0);
    wait_deployment(&client, &n, "app", rolled_out(3, generation)).await;
    let last = api.get("app").await.expect("get").status.expect("status");
    // A new template is a new ReplicaSet, named in the Progressing message.
    assert_ne!(message(&first), message(&last));
    let _ = ns.delete().await;
}

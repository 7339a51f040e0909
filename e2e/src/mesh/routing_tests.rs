use super::*;

fn service(ns: &str, name: &str, app: &str) -> Arc<Service> {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": {"app": app}}
    }))
    .map(Arc::new)
    .expect("service")
}

fn deployment(ns: &str, name: &str, app: &str, ready: i32) -> Arc<Deployment> {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "selector": {"matchLabels": {"app": app}},
            "template": {
                "metadata": {"labels": {"app": app, "version": "v1"}},
                "spec": {"containers": [{"name": "c", "env": [{"name": "SANDBOX_ERROR_RATE", "value": "0.25"}]}]}
            }
        },
        "status": {"readyReplicas": ready}
    }))
    .map(Arc::new)
    .expect("deployment")
}

fn vs(yaml: &str) -> CompiledVs {
    CompiledVs::compile(serde_saphyr::from_str(yaml).expect("virtual service")).expect("compiles")
}

fn with_headers(headers: &BTreeMap<String, String>) -> Request {
    Request {
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect(),
        ..Request::plain()
    }
}

/// The user-facing flows of a request with `headers`; none without a route.
fn flows(
    spec: &CompiledVs,
    ns: &str,
    headers: &BTreeMap<String, String>,
    cluster: &Cluster<'_>,
) -> Vec<Flow> {
    route_request(spec, ns, &with_headers(headers), cluster)
        .map(|r| r.flows)
        .unwrap_or_default()
}

static NOTHING_SERVING: std::sync::LazyLock<ServingRevisions> =
    std::sync::LazyLock::new(ServingRevisions::default);

fn pair(canary_ready: i32) -> Cluster<'static> {
    Cluster::new(
        [
            service("ns", "app-primary", "app-primary"),
            service("ns", "app-canary", "app-canary"),
        ],
        [
            deployment("ns", "app-primary", "app-primary", 1),
            deployment("ns", "app-canary", "app-canary", canary_ready),
        ],
        &NOTHING_SERVING,
    )
}

const SPLIT: &str = r#"
hosts: [app]
http:
  - match: [{headers: {x-canary: {exact: insider}}}]
    route: [{destination: {host: app-canary}}]
  - route:
      - {destination: {host: app-primary}, weight: 80}
      - {destination: {host: app-canary.ns.svc.cluster.local}, weight: 20}
"#;

fn shares(flows: &[Flow]) -> Vec<(String, f64)> {
    flows.iter().map(|f| (f.target.key(), f.share)).collect()
}

#[test]
fn plain_traffic_follows_the_weights_of_the_unmatched_route() {
    let flows = flows(&vs(SPLIT), "ns", &BTreeMap::new(), &pair(1));
    assert_eq!(
        shares(&flows),
        vec![
            ("ns/app-primary>app-primary".into(), 0.8),
            ("ns/app-canary>app-canary".into(), 0.2)
        ]
    );
    let Target::Workload { workload, service } = &flows[1].target else {
        panic!("workload")
    };
    assert_eq!(service.fqdn(), "app-canary.ns.svc.cluster.local");
    assert_eq!(workload.behaviour.error_rate, 0.25);
    assert_eq!(workload.service_account, "default");
}

#[test]
fn header_traffic_takes_the_matching_route() {
    let headers = BTreeMap::from([("X-Canary".to_owned(), "insider".to_owned())]);
    let flows = flows(&vs(SPLIT), "ns", &headers, &pair(1));
    assert_eq!(
        shares(&flows),
        vec![("ns/app-canary>app-canary".into(), 1.0)]
    );
}

#[test]
fn regex_and_prefix_header_matches() {
    let spec = vs(r#"
http:
  - match: [{headers: {cookie: {regex: "^(.*?;)?(canary=always)(;.*)?$"}}}, {headers: {x-user: {prefix: beta-}}}]
    route: [{destination: {host: app-canary}}]
"#);
    let cookie = BTreeMap::from([("cookie".to_owned(), "canary=always; a=b".to_owned())]);
    let user = BTreeMap::from([("x-user".to_owned(), "beta-7".to_owned())]);
    assert_eq!(flows(&spec, "ns", &cookie, &pair(1)).len(), 1);
    assert_eq!(flows(&spec, "ns", &user, &pair(1)).len(), 1);
    assert!(flows(&spec, "ns", &BTreeMap::new(), &pair(1)).is_empty());
}

#[test]
fn destination_without_ready_pods_is_no_healthy_upstream() {
    let flows = flows(&vs(SPLIT), "ns", &BTreeMap::new(), &pair(0));
    let service = ServiceRef {
        name: "app-canary".into(),
        namespace: "ns".into(),
    };
    assert_eq!(
        flows[1],
        Flow {
            share: 0.2,
            target: Target::NoHealthyUpstream { service },
            set_cookies: Vec::new(),
        }
    );
}

#[test]
fn unknown_host_is_no_cluster_and_lone_destination_gets_everything() {
    let spec = vs("http: [{route: [{destination: {host: missing.other}}]}]");
    let flows = flows(&spec, "ns", &BTreeMap::new(), &pair(1));
    assert_eq!(
        flows,
        vec![Flow {
            share: 1.0,
            target: Target::NoCluster {
                host: "missing.other".into()
            },
            set_cookies: Vec::new(),
        }]
    );
}

#[test]
fn service_traffic_splits_over_ready_replicas_of_matching_deployments() {
    let cluster = Cluster::new(
        [service("ns", "app", "app")],
        [
            deployment("ns", "a", "app", 3),
            deployment("ns", "b", "app", 1),
            deployment("other", "c", "app", 5),
        ],
        &NOTHING_SERVING,
    );
    let flows = flows(
        &vs("http: [{route: [{destination: {host: app}}]}]"),
        "ns",
        &BTreeMap::new(),
        &cluster,
    );
    assert_eq!(
        shares(&flows),
        vec![("ns/app>a".into(), 0.75), ("ns/app>b".into(), 0.25)]
    );
}

#[test]
fn zero_weight_destinations_get_nothing() {
    let spec = vs(r#"
http:
  - route:
      - {destination: {host: app-primary}, weight: 100}
      - {destination: {host: app-canary}, weight: 0}
"#);
    let flows = flows(&spec, "ns", &BTreeMap::new(), &pair(1));
    assert_eq!(
        shares(&flows),
        vec![("ns/app-primary>app-primary".into(), 1.0)]
    );
}

#[test]
fn ready_pods_of_an_unfinished_rollout_answer_as_the_previous_template() {
    let complete = |error_rate: &str, ready: Option<i32>, generation: i64| -> Arc<Deployment> {
        let status = match ready {
            Some(r) => {
                serde_json::json!({"observedGeneration": generation, "replicas": r, "updatedReplicas": r,
                "readyReplicas": r, "availableReplicas": r})
            }
            // Rolling out: the new pod exists, only the old one is ready.
            None => {
                serde_json::json!({"observedGeneration": generation, "replicas": 2, "updatedReplicas": 1,
                "readyReplicas": 1, "availableReplicas": 1})
            }
        };
        Arc::new(serde_json::from_value(serde_json::json!({
            "metadata": {"name": "app", "namespace": "ns", "uid": "u1", "generation": generation},
            "spec": {"replicas": 1, "selector": {}, "template": {"metadata": {"labels": {"app": "app"}}, "spec": {
                "containers": [{"name": "c", "env": [{"name": "SANDBOX_ERROR_RATE", "value": error_rate}]}]}}},
            "status": status
        })).expect("deployment"))
    };
    let mut serving = ServingRevisions::default();
    let good = complete("0", Some(1), 1);
    serving.update(std::slice::from_ref(&good));
    let rolling = complete("0.5", None, 2);
    serving.update(std::slice::from_ref(&rolling));
    assert_eq!(serving.serving(&rolling).behaviour.error_rate, 0.0);
    let done = complete("0.5", Some(1), 2);
    serving.update(std::slice::from_ref(&done));
    assert_eq!(serving.serving(&done).behaviour.error_rate, 0.5);
}

fn routed(yaml: &str) -> Routed {
    route_request(&vs(yaml), "ns", &Request::plain(), &pair(1)).expect("routed")
}

#[test]
fn mirror_without_percentage_copies_everything() {
    let r =
        routed("http: [{route: [{destination: {host: app-primary}}], mirror: {host: app-canary}}]");
    assert_eq!(
        shares(&r.flows),
        vec![("ns/app-primary>app-primary".into(), 1.0)]
    );
    assert_eq!(
        shares(&r.mirrors),
        vec![("ns/app-canary>app-canary".into(), 1.0)]
    );
}

#[test]
fn mirror_percentages_in_every_form() {
    let percentage = routed(
        "http: [{route: [{destination: {host: app-primary}}], mirror: {host: app-canary}, mirrorPercentage: {value: 12.5}}]",
    );
    assert_eq!(
        shares(&percentage.mirrors),
        vec![("ns/app-canary>app-canary".into(), 0.125)]
    );
    let legacy = routed(
        "http: [{route: [{destination: {host: app-primary}}], mirror: {host: app-canary}, mirrorPercent: 30}]",
    );
    assert_eq!(
        shares(&legacy.mirrors),
        vec![("ns/app-canary>app-canary".into(), 0.3)]
    );
    let list = routed(
        "http: [{route: [{destination: {host: app-primary}}], mirrors: [{destination: {host: app-canary}, percentage: {value: 50}}]}]",
    );
    assert_eq!(
        shares(&list.mirrors),
        vec![("ns/app-canary>app-canary".into(), 0.5)]
    );
    let zero = routed(
        "http: [{route: [{destination: {host: app-primary}}], mirror: {host: app-canary}, mirrorPercentage: {value: 0}}]",
    );
    assert!(zero.mirrors.is_empty());
}

#[test]
fn set_cookie_comes_from_the_destination_and_the_route() {
    let r = routed(
        r#"
http:
  - headers: {response: {set: {x-served: "yes"}, add: {Set-Cookie: "old=1; Max-Age=-1"}}}
    route:
      - {destination: {host: app-primary}, weight: 90}
      - destination: {host: app-canary}
        weight: 10
        headers: {response: {add: {Set-Cookie: "flagger-cookie=XyZ; Max-Age=600"}}}
"#,
    );
    assert_eq!(r.flows[0].set_cookies, vec!["old=1; Max-Age=-1".to_owned()]);
    assert_eq!(
        r.flows[1].set_cookies,
        vec![
            "flagger-cookie=XyZ; Max-Age=600".to_owned(),
            "old=1; Max-Age=-1".to_owned()
        ]
    );
    assert!(r.mirrors.is_empty());
}

#[test]
fn a_request_no_route_takes_has_no_flow() {
    let spec =
        vs("http: [{match: [{uri: {exact: /x}}], route: [{destination: {host: app-primary}}]}]");
    assert_eq!(
        route_request(&spec, "ns", &Request::plain(), &pair(1)),
        None
    );
}

use super::*;
use crate::build::desired_hash;
use crate::decide::Provider;
use std::sync::Arc;

fn canary(service: Value) -> Canary {
    let mut c: Canary = serde_json::from_value(json!({
        "apiVersion": "serin.dev/v1beta1", "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {
            "provider": "gatewayapi:v1",
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": service,
            "analysis": {"interval": "1m", "stepWeight": 10}
        }
    }))
    .unwrap();
    c.metadata.uid = Some("u-1".into());
    c
}

fn gateway_canary() -> Canary {
    canary(json!({
        "port": 9898,
        "hosts": ["www.example.com"],
        "gatewayRefs": [{"name": "gateway", "namespace": "istio-ingress"}]
    }))
}

fn split(canary: i32) -> TrafficSplit {
    TrafficSplit {
        primary: 100 - canary,
        canary,
        matches: None,
        mirror: None,
        session_affinity: None,
    }
}

fn observed(kind: &str, obj: Value) -> RoutingObjects {
    let mut r = RoutingObjects::default();
    let o: DynamicObject = serde_json::from_value(obj).unwrap();
    r.insert(kind, "podinfo", Arc::new(o));
    r
}

#[test]
fn http_route_weights_the_two_services_under_the_gateway_parent() {
    let r = route(&gateway_canary(), &split(30), None);
    assert_eq!(r["kind"], "HTTPRoute");
    assert_eq!(r["apiVersion"], "gateway.networking.k8s.io/v1");
    assert_eq!(
        r["spec"]["parentRefs"],
        json!([{"name": "gateway", "namespace": "istio-ingress"}])
    );
    assert_eq!(r["spec"]["hostnames"], json!(["www.example.com"]));
    let b = &r["spec"]["rules"][0]["backendRefs"];
    assert_eq!(
        b[0],
        json!({"group": "", "kind": "Service", "name": "podinfo-primary", "port": 9898, "weight": 70})
    );
    assert_eq!(b[1]["name"], "podinfo-canary");
    assert_eq!(b[1]["weight"], 30);
}

#[test]
fn without_gateway_refs_the_parent_is_the_apex_service() {
    let r = route(&canary(json!({"port": 80})), &split(0), None);
    assert_eq!(
        r["spec"]["parentRefs"],
        json!([{"group": "", "kind": "Service", "name": "podinfo", "port": 80}])
    );
    assert!(r["spec"].get("hostnames").is_none());
}

#[test]
fn a_grpc_port_gets_a_grpc_route() {
    for service in [
        json!({"port": 9999, "appProtocol": "grpc"}),
        json!({"port": 9999, "portName": "grpc"}),
    ] {
        let c = canary(service);
        assert_eq!(route_kind(&c), GRPC_ROUTE);
        let r = route(&c, &split(10), None);
        assert_eq!(r["kind"], "GRPCRoute");
        assert_eq!(r["spec"]["rules"][0]["backendRefs"][1]["weight"], 10);
    }
    assert_eq!(route_kind(&canary(json!({"port": 80}))), HTTP_ROUTE);
}

#[test]
fn flaggers_route_fields_become_matches_filters_and_timeouts() {
    let c = canary(json!({
        "port": 80,
        "match": [{"uri": {"prefix": "/api"}, "headers": {"x-user": {"exact": "a"}}}],
        "headers": {
            "request": {"set": {"x-a": "1"}, "remove": ["x-b"]},
            "response": {"add": {"x-c": "2"}}
        },
        "rewrite": {"uri": "/", "authority": "internal", "type": "ReplacePrefixMatch"},
        "corsPolicy": {"allowOrigins": [{"exact": "https://a.example"}], "allowMethods": ["GET"], "maxAge": "24h"},
        "timeout": "15s"
    }));
    let r = route(&c, &split(0), None);
    let rule = &r["spec"]["rules"][0];
    assert_eq!(
        rule["matches"],
        json!([{
            "path": {"type": "PathPrefix", "value": "/api"},
            "headers": [{"type": "Exact", "name": "x-user", "value": "a"}]
        }])
    );
    assert_eq!(rule["timeouts"], json!({"request": "15s"}));
    let f = rule["filters"].as_array().unwrap();
    assert_eq!(
        f[0],
        json!({"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [{"name": "x-a", "value": "1"}], "remove": ["x-b"]}})
    );
    assert_eq!(f[1]["type"], "ResponseHeaderModifier");
    assert_eq!(
        f[2],
        json!({"type": "URLRewrite", "urlRewrite": {"hostname": "internal", "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}}})
    );
    assert_eq!(
        f[3],
        json!({"type": "CORS", "cors": {"allowOrigins": ["https://a.example"], "allowMethods": ["GET"], "maxAge": 86400}})
    );
}

#[test]
fn mirrors_backend_timeout_and_a_full_path_rewrite_as_flagger_writes_them() {
    let c = canary(json!({
        "port": 80,
        "rewrite": {"uri": "/v2"},
        "mirror": [{"backendRef": {"name": "shadow", "namespace": "qa", "port": 8080}}, {"nobackend": true}],
        "corsPolicy": {"allowOrigin": ["https://b.example"]},
        "timeout": "15s",
        "backendTimeout": "5s"
    }));
    let r = route(&c, &split(0), None);
    let rule = &r["spec"]["rules"][0];
    assert_eq!(
        rule["timeouts"],
        json!({"request": "15s", "backendRequest": "5s"})
    );
    assert_eq!(
        rule["filters"],
        json!([
            {"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplaceFullPath", "replaceFullPath": "/v2"}}},
            {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "shadow", "namespace": "qa", "port": 8080}}},
            {"type": "CORS", "cors": {"allowOrigins": ["https://b.example"]}}
        ])
    );
}

#[test]
fn blue_green_mirroring_copies_the_primarys_requests_to_the_canary() {
    let mut s = split(0);
    s.mirror = Some(crate::decide::strategy::Mirror { percent: 100 });
    let r = route(&gateway_canary(), &s, None);
    let rule = &r["spec"]["rules"][0];
    assert_eq!(
        rule["filters"],
        json!([{"type": "RequestMirror", "requestMirror": {"backendRef":
            {"group": "", "kind": "Service", "name": "podinfo-canary", "port": 9898}}}])
    );
    assert_eq!(rule["backendRefs"][0]["weight"], 100);
    s.mirror = Some(crate::decide::strategy::Mirror { percent: 25 });
    let r = route(&gateway_canary(), &s, None);
    assert_eq!(
        r["spec"]["rules"][0]["filters"][0]["requestMirror"]["percent"],
        25
    );
    let plain = route(&gateway_canary(), &split(0), None);
    assert!(plain["spec"]["rules"][0].get("filters").is_none());
}

#[test]
fn session_affinity_keeps_cookie_holders_on_the_canary_and_expires_old_cookies() {
    use crate::decide::strategy::SessionAffinity;
    let mut s = split(20);
    s.session_affinity = Some(SessionAffinity {
        canary_cookie: Some("flagger-cookie=abc".into()),
        max_age_seconds: 60,
        expired_cookie: None,
    });
    let r = route(&gateway_canary(), &s, None);
    let rules = r["spec"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(
        rules[0]["matches"],
        json!([{"headers": [{"type": "RegularExpression", "name": "Cookie",
                             "value": "^(.*?;)?(flagger-cookie=abc)(;.*)?$"}]}])
    );
    assert_eq!(rules[0]["backendRefs"][0]["name"], "podinfo-canary");
    assert_eq!(rules[0]["backendRefs"][0]["weight"], 100);
    assert_eq!(
        rules[1]["backendRefs"][1]["filters"][0]["responseHeaderModifier"]["add"][0],
        json!({"name": "Set-Cookie", "value": "flagger-cookie=abc; Max-Age=60"})
    );
    assert!(rules[1]["backendRefs"][0].get("filters").is_none());

    s = split(0);
    s.session_affinity = Some(SessionAffinity {
        canary_cookie: None,
        max_age_seconds: 60,
        expired_cookie: Some("c.x=abc".into()),
    });
    let r = route(&gateway_canary(), &s, None);
    let rules = r["spec"]["rules"].as_array().unwrap();
    assert_eq!(
        rules[0]["matches"][0]["headers"][0]["value"],
        "^(.*?;)?(c\\.x=abc)(;.*)?$"
    );
    let primary = &rules[0]["backendRefs"][0];
    assert_eq!(primary["name"], "podinfo-primary");
    assert_eq!(
        primary["filters"][0]["responseHeaderModifier"]["add"][0]["value"],
        "c.x=abc; Max-Age=-1"
    );
}

#[test]
fn ab_matches_are_narrowed_by_the_services_matches_as_flagger_merges_them() {
    let c = canary(
        json!({"port": 80, "match": [{"uri": {"prefix": "/api"}}, {"uri": {"prefix": "/v2"}}]}),
    );
    let mut s = split(0);
    s.matches = Some(json!([{"headers": {"x-canary": {"exact": "insider"}}}]));
    let r = route(&c, &s, None);
    let header = json!([{"type": "Exact", "name": "x-canary", "value": "insider"}]);
    assert_eq!(
        r["spec"]["rules"][0]["matches"],
        json!([
            {"path": {"type": "PathPrefix", "value": "/api"}, "headers": header},
            {"path": {"type": "PathPrefix", "value": "/v2"}, "headers": header}
        ])
    );
    assert_eq!(r["spec"]["rules"][1]["matches"][0]["path"]["value"], "/api");
}

#[test]
fn ab_matches_send_matching_requests_to_the_canary_first() {
    let mut s = split(0);
    s.matches = Some(json!([{"headers": {"x-canary": {"exact": "insider"}}}]));
    let r = route(&gateway_canary(), &s, None);
    let rules = r["spec"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(
        rules[0]["backendRefs"],
        json!([{"group": "", "kind": "Service", "name": "podinfo-canary", "port": 9898, "weight": 100}])
    );
    assert_eq!(rules[0]["matches"][0]["headers"][0]["value"], "insider");
    assert_eq!(rules[1]["backendRefs"][0]["weight"], 100);
}

#[test]
fn the_applied_hash_changes_only_with_the_route() {
    let a = route(&gateway_canary(), &split(20), None);
    let b = route(&gateway_canary(), &split(20), None);
    let c = route(&gateway_canary(), &split(30), None);
    assert_eq!(desired_hash(&a), desired_hash(&b));
    assert_ne!(desired_hash(&a), desired_hash(&c));
}

#[test]
fn a_user_route_is_taken_over_and_given_back() {
    let user_spec = json!({"parentRefs": [{"name": "gateway"}], "rules": [{"backendRefs": [{"name": "podinfo", "port": 9898}]}]});
    let obs = observed(
        HTTP_ROUTE,
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "podinfo", "namespace": "test"},
            "spec": user_spec
        }),
    );
    let c = gateway_canary();
    let d = GatewayApi.desired(&c, &split(0), &obs);
    let saved = d[0]["metadata"]["annotations"][build::ORIGINAL]
        .as_str()
        .unwrap();
    assert_eq!(serde_json::from_str::<Value>(saved).unwrap(), user_spec);

    let ours = observed(HTTP_ROUTE, {
        let mut v = d[0].object.clone();
        v["metadata"]["ownerReferences"] = json!([{"apiVersion": "serin.dev/v1beta1", "kind": "Canary", "name": "podinfo", "uid": "u-1", "controller": true}]);
        v
    });
    let back = GatewayApi.restore(&c, &ours);
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].name, "podinfo");
    assert_eq!(back[0].resource.kind, "HTTPRoute");
    assert_eq!(back[0].patch["spec"], user_spec);
    assert_eq!(back[0].patch["metadata"]["ownerReferences"], json!([]));
}

fn with_status(parents: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {},
        "status": {"parents": parents}
    }))
    .unwrap()
}

#[test]
fn the_route_serves_only_once_its_parent_accepted_it() {
    let c = gateway_canary();
    let accepted = with_status(json!([{
        "parentRef": {"name": "gateway"}, "controllerName": "x",
        "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted"}]
    }]));
    assert_eq!(not_accepted(&c, Some(&accepted)), None);
    let refused = with_status(json!([{
        "parentRef": {"name": "gateway"}, "controllerName": "x",
        "conditions": [{"type": "Accepted", "status": "False", "reason": "NotAllowedByListeners", "message": "no listener allows this namespace"}]
    }]));
    let why = not_accepted(&c, Some(&refused)).unwrap();
    assert!(why.contains("NotAllowedByListeners"), "{why}");
    assert!(why.contains("no listener allows"), "{why}");
    let silent = with_status(json!([]));
    assert!(
        not_accepted(&c, Some(&silent))
            .unwrap()
            .contains("not reported")
    );
}

#[test]
fn builtin_queries_per_implementation_and_rbac() {
    let c = gateway_canary();
    let q = |c: &Canary, m: &str| GatewayApi.builtin_query(c, m);
    assert!(
        q(&c, "request-success-rate")
            .unwrap()
            .contains("istio_requests_total")
    );
    assert!(
        q(&c, "request-duration")
            .unwrap()
            .contains("istio_request_duration")
    );
    assert!(q(&c, "other").is_none());
    let mut envoy = gateway_canary();
    envoy.metadata.annotations =
        Some([(METRICS_ANNOTATION.to_string(), "envoy".to_string())].into());
    assert!(
        q(&envoy, "request-success-rate")
            .unwrap()
            .contains("envoy_cluster_upstream_rq{")
    );
    assert!(
        q(&envoy, "request-duration")
            .unwrap()
            .contains("envoy_cluster_upstream_rq_time_bucket")
    );
    assert_eq!(GatewayApi.rbac()[0].api_groups, &[GROUP]);
}

#[test]
fn routers_are_named_as_the_flag_and_flagger_name_them() {
    use crate::router::{kinds_of, parse_routers, rbac_rules_of};
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        parse_routers(&names(&["istio", "gatewayapi", "gatewayapi:v1"])).unwrap(),
        vec![Provider::Istio, Provider::GatewayApi]
    );
    assert!(
        parse_routers(&names(&["linkerd"]))
            .unwrap_err()
            .contains("linkerd")
    );
    let only_istio = kinds_of(&[Provider::Istio]);
    assert!(only_istio.iter().all(|k| k.group == "networking.istio.io"));
    let kinds: Vec<String> = kinds_of(&[Provider::GatewayApi])
        .into_iter()
        .map(|k| k.kind)
        .collect();
    assert_eq!(kinds, ["HTTPRoute", "GRPCRoute"]);
    assert!(
        rbac_rules_of(&[Provider::Istio])
            .iter()
            .all(|r| r.api_groups != [GROUP])
    );
}

#[test]
fn the_services_port_carries_the_app_protocol() {
    let c = canary(json!({"port": 9999, "appProtocol": "grpc"}));
    let target: k8s_openapi::api::apps::v1::Deployment = serde_json::from_value(json!({
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {"selector": {"matchLabels": {"app": "podinfo"}},
                 "template": {"metadata": {"labels": {"app": "podinfo"}}, "spec": {"containers": []}}}
    }))
    .unwrap();
    for svc in crate::build::services(&c, &target, None, true) {
        assert_eq!(
            svc["spec"]["ports"][0]["appProtocol"], "grpc",
            "{}",
            svc.name
        );
    }
}

use super::*;

fn route(kind: &str, spec: Value, status: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": kind,
        "metadata": {"name": "podinfo", "namespace": "test", "resourceVersion": "7", "generation": 2},
        "spec": spec, "status": status
    }))
    .unwrap()
}

fn world_sets() -> (Gateways, Services) {
    let mut gateways = BTreeMap::new();
    gateways.insert(("gw".to_string(), "public".to_string()), BTreeMap::new());
    let refusing: BTreeMap<String, String> = [(
        routes::REFUSE_ANNOTATION.to_string(),
        "NotAllowedByListeners".to_string(),
    )]
    .into();
    gateways.insert(("gw".to_string(), "closed".to_string()), refusing);
    let services = ["podinfo", "podinfo-primary", "podinfo-canary"]
        .iter()
        .map(|s| ("test".to_string(), s.to_string()))
        .collect();
    (gateways, services)
}

fn spec(parent: Value) -> Value {
    json!({
        "parentRefs": [parent],
        "hostnames": ["app.example.com"],
        "rules": [{
            "matches": [{"path": {"type": "PathPrefix", "value": "/api"}, "headers": [{"name": "x-a", "value": "1"}]}],
            "backendRefs": [{"name": "podinfo-primary", "port": 80, "weight": 70}, {"name": "podinfo-canary", "port": 80, "weight": 30}]
        }]
    })
}

#[test]
fn a_gateway_parent_serves_the_hostnames_with_the_weights_and_matches() {
    let (g, s) = world_sets();
    let world = World {
        gateways: &g,
        services: &s,
    };
    let r = route(
        "HTTPRoute",
        spec(json!({"name": "public", "namespace": "gw"})),
        json!({}),
    );
    let v = routes::verdicts(&r, &world);
    assert_eq!(v[0].accepted, Ok(()));
    let vs = routes::as_virtual_service(&r, &v).unwrap();
    assert_eq!(vs.data["spec"]["hosts"], json!(["app.example.com"]));
    let http = &vs.data["spec"]["http"][0];
    assert_eq!(
        http["route"][0],
        json!({"destination": {"host": "podinfo-primary"}, "weight": 70})
    );
    assert_eq!(http["route"][1]["weight"], 30);
    assert_eq!(http["match"][0]["uri"], json!({"prefix": "/api"}));
    assert_eq!(http["match"][0]["headers"]["x-a"], json!({"exact": "1"}));
}

#[test]
fn mirror_and_set_cookie_filters_become_the_virtual_services() {
    let (g, s) = world_sets();
    let world = World {
        gateways: &g,
        services: &s,
    };
    let cookie = json!({"type": "ResponseHeaderModifier",
        "responseHeaderModifier": {"add": [{"name": "Set-Cookie", "value": "c=1; Max-Age=60"}]}});
    let mut sp = spec(json!({"name": "public", "namespace": "gw"}));
    sp["rules"][0]["filters"] = json!([
        {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "podinfo-canary", "port": 80}, "percent": 25}},
        {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "shadow"}, "fraction": {"numerator": 1, "denominator": 2}}},
        {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "all"}}}
    ]);
    sp["rules"][0]["backendRefs"][1]["filters"] = json!([cookie]);
    let r = route("HTTPRoute", sp, json!({}));
    let vs = routes::as_virtual_service(&r, &routes::verdicts(&r, &world)).unwrap();
    let http = &vs.data["spec"]["http"][0];
    assert_eq!(
        http["mirrors"],
        json!([
            {"destination": {"host": "podinfo-canary"}, "percentage": {"value": 25.0}},
            {"destination": {"host": "shadow"}, "percentage": {"value": 50.0}},
            {"destination": {"host": "all"}, "percentage": {"value": 100.0}}
        ])
    );
    assert_eq!(
        http["route"][1]["headers"],
        json!({"response": {"add": {"Set-Cookie": "c=1; Max-Age=60"}}})
    );
    assert!(http["route"][0].get("headers").is_none());
}

#[test]
fn a_service_parent_serves_the_service_name_east_west() {
    let (g, s) = world_sets();
    let world = World {
        gateways: &g,
        services: &s,
    };
    let r = route(
        "HTTPRoute",
        spec(json!({"group": "", "kind": "Service", "name": "podinfo"})),
        json!({}),
    );
    let v = routes::verdicts(&r, &world);
    let vs = routes::as_virtual_service(&r, &v).unwrap();
    assert_eq!(vs.data["spec"]["hosts"], json!(["podinfo"]));
}

#[test]
fn a_refusing_or_missing_parent_gets_no_traffic_and_says_why() {
    let (g, s) = world_sets();
    let world = World {
        gateways: &g,
        services: &s,
    };
    for (parent, reason) in [
        (
            json!({"name": "closed", "namespace": "gw"}),
            "NotAllowedByListeners",
        ),
        (
            json!({"name": "nowhere", "namespace": "gw"}),
            "NoMatchingParent",
        ),
    ] {
        let r = route("HTTPRoute", spec(parent), json!({}));
        let v = routes::verdicts(&r, &world);
        assert_eq!(v[0].accepted.as_ref().unwrap_err().0, reason);
        assert!(routes::as_virtual_service(&r, &v).is_none());
        let status = route_status(&r, &v, &[], "2026-01-01T00:00:00Z");
        let accepted = &status["parents"][0]["conditions"][0];
        assert_eq!(accepted["type"], "Accepted");
        assert_eq!(accepted["status"], "False");
        assert_eq!(accepted["reason"], reason);
        assert_eq!(accepted["observedGeneration"], 2);
    }
}

#[test]
fn status_reports_accepted_and_resolved_refs_and_is_written_only_on_change() {
    let (g, s) = world_sets();
    let world = World {
        gateways: &g,
        services: &s,
    };
    let r = route(
        "HTTPRoute",
        spec(json!({"name": "public", "namespace": "gw"})),
        json!({}),
    );
    let v = routes::verdicts(&r, &world);
    let a = route_status(
        &r,
        &v,
        &routes::unresolved(&r, &world),
        "2026-01-01T00:00:00Z",
    );
    assert_eq!(a["parents"][0]["controllerName"], CONTROLLER_NAME);
    assert_eq!(a["parents"][0]["conditions"][1]["type"], "ResolvedRefs");
    assert_eq!(a["parents"][0]["conditions"][1]["status"], "True");
    let b = route_status(&r, &v, &[], "2026-01-02T00:00:00Z");
    assert_eq!(comparable(&a), comparable(&b));
    let missing = route_status(&r, &v, &["podinfo-canary".into()], "2026-01-01T00:00:00Z");
    assert_eq!(
        missing["parents"][0]["conditions"][1]["reason"],
        "BackendNotFound"
    );
    assert_ne!(comparable(&a), comparable(&missing));
}

#[test]
fn a_grpc_method_match_becomes_its_path() {
    let (g, s) = world_sets();
    let world = World {
        gateways: &g,
        services: &s,
    };
    let r = route(
        "GRPCRoute",
        json!({"parentRefs": [{"group": "", "kind": "Service", "name": "podinfo"}],
               "rules": [{"matches": [{"method": {"service": "grpc.health.v1.Health", "method": "Check"}}],
                          "backendRefs": [{"name": "podinfo-primary", "weight": 100}]}]}),
        json!({}),
    );
    let vs = routes::as_virtual_service(&r, &routes::verdicts(&r, &world)).unwrap();
    assert_eq!(
        vs.data["spec"]["http"][0]["match"][0]["uri"],
        json!({"exact": "/grpc.health.v1.Health/Check"})
    );
    assert_eq!(vs.metadata.name.as_deref(), Some("grpcroute:podinfo"));
}

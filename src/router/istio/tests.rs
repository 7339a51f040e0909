use super::*;
use crate::build::{desired_hash, services};
use k8s_openapi::api::apps::v1::Deployment;
use serde_json::json;

fn canary() -> Canary {
    let mut c: Canary = serde_json::from_value(json!({
        "apiVersion": "serin.dev/v1beta1", "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "test", "uid": "u-1"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898, "apex": {"labels": {"team": "a"}, "annotations": {"note": "x"}}},
            "analysis": {"interval": "1m", "stepWeight": 10}
        }
    }))
    .unwrap();
    c.metadata.uid = Some("u-1".into());
    c
}

fn target() -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "podinfo", "tier": "web"}},
            "template": {
                "metadata": {"labels": {"app": "podinfo", "tier": "web", "version": "1"}},
                "spec": {"containers": [{"name": "c", "image": "podinfo:1"}]}
            }
        }
    }))
    .unwrap()
}

#[test]
fn virtual_service_routes_by_weight_and_always_lists_the_apex_host() {
    let vs = virtual_service(&canary(), &TrafficSplit::weighted(20), None);
    assert_eq!(vs["spec"]["hosts"], json!(["podinfo"]));
    assert_eq!(vs["spec"]["gateways"], json!(["mesh"]));
    let route = &vs["spec"]["http"][0]["route"];
    assert_eq!(
        route[0],
        json!({"destination": {"host": "podinfo-primary"}, "weight": 80})
    );
    assert_eq!(
        route[1],
        json!({"destination": {"host": "podinfo-canary"}, "weight": 20})
    );
}

#[test]
fn the_applied_hash_changes_only_with_the_object() {
    let a = virtual_service(&canary(), &TrafficSplit::weighted(20), None);
    let b = virtual_service(&canary(), &TrafficSplit::weighted(20), None);
    let c = virtual_service(&canary(), &TrafficSplit::weighted(30), None);
    assert_eq!(desired_hash(&a), desired_hash(&b));
    assert_ne!(desired_hash(&a), desired_hash(&c));
    assert!(desired_hash(&a).is_some());
}

#[test]
fn generated_objects_tell_gitops_tools_to_leave_them_alone() {
    for obj in services(&canary(), &target(), None, true)
        .iter()
        .chain(destination_rules(&canary()).iter())
    {
        assert_eq!(
            obj["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/reconcile"],
            "disabled"
        );
    }
}

#[test]
fn ab_matches_route_to_the_canary_before_the_default_route() {
    let matches = json!([{"headers": {"cookie": {"regex": "^(.*?;)?(type=insider)(;.*)?$"}}},
                         {"headers": {"x-canary": {"exact": "insider"}}}]);
    let split = TrafficSplit {
        matches: Some(matches.clone()),
        ..TrafficSplit::weighted(0)
    };
    let vs = virtual_service(&canary(), &split, None);
    let http = vs["spec"]["http"].as_array().unwrap();
    assert_eq!(http.len(), 2);
    assert_eq!(http[0]["match"], matches);
    assert_eq!(
        http[0]["route"][1],
        json!({"destination": {"host": "podinfo-canary"}, "weight": 100})
    );
    assert_eq!(http[0]["route"][0]["weight"], 0);
    assert!(http[1].get("match").is_none());
    assert_eq!(
        http[1]["route"][0],
        json!({"destination": {"host": "podinfo-primary"}, "weight": 100})
    );
}

#[test]
fn ab_matches_are_narrowed_by_the_service_match() {
    let mut c = canary();
    c.spec.service.match_ = Some(json!([{"uri": {"prefix": "/api"}}]));
    let split = TrafficSplit {
        matches: Some(json!([{"headers": {"x-canary": {"exact": "insider"}}}])),
        ..TrafficSplit::weighted(0)
    };
    let vs = virtual_service(&c, &split, None);
    assert_eq!(
        vs["spec"]["http"][0]["match"],
        json!([{"uri": {"prefix": "/api"}, "headers": {"x-canary": {"exact": "insider"}}}])
    );
    assert_eq!(
        vs["spec"]["http"][1]["match"],
        json!([{"uri": {"prefix": "/api"}}])
    );
}

#[test]
fn a_mirror_copies_the_primary_route_to_the_canary() {
    let split = TrafficSplit {
        mirror: Some(crate::decide::strategy::Mirror { percent: 50 }),
        ..TrafficSplit::weighted(0)
    };
    let vs = virtual_service(&canary(), &split, None);
    let route = &vs["spec"]["http"][0];
    assert_eq!(route["mirror"], json!({"host": "podinfo-canary"}));
    assert_eq!(route["mirrorPercentage"], json!({"value": 50.0}));
    assert_eq!(route["route"][0]["weight"], 100);
    let plain = virtual_service(&canary(), &TrafficSplit::weighted(0), None);
    assert!(plain["spec"]["http"][0].get("mirror").is_none());
}

#[test]
fn session_affinity_sets_the_cookie_on_the_canary_and_keeps_its_holders_there() {
    use crate::decide::strategy::SessionAffinity;
    let split = TrafficSplit {
        session_affinity: Some(SessionAffinity {
            canary_cookie: Some("flagger-cookie=abc".into()),
            max_age_seconds: 3600,
            expired_cookie: None,
        }),
        ..TrafficSplit::weighted(10)
    };
    let vs = virtual_service(&canary(), &split, None);
    let http = vs["spec"]["http"].as_array().unwrap();
    assert_eq!(http.len(), 2);
    assert_eq!(
        http[0]["match"],
        json!([{"headers": {"cookie": {"regex": "^(.*?;)?(flagger-cookie=abc)(;.*)?$"}}}])
    );
    assert_eq!(http[0]["route"][1]["weight"], 100);
    assert_eq!(
        http[1]["route"][1]["headers"],
        json!({"response": {"add": {"Set-Cookie": "flagger-cookie=abc; Max-Age=3600"}}})
    );
    assert_eq!(http[1]["route"][1]["weight"], 10);
}

#[test]
fn a_finished_runs_cookie_is_expired_on_the_primary() {
    use crate::decide::strategy::SessionAffinity;
    let split = TrafficSplit {
        session_affinity: Some(SessionAffinity {
            canary_cookie: None,
            max_age_seconds: 3600,
            expired_cookie: Some("c.x=abc".into()),
        }),
        ..TrafficSplit::weighted(0)
    };
    let vs = virtual_service(&canary(), &split, None);
    let http = vs["spec"]["http"].as_array().unwrap();
    assert_eq!(http.len(), 2);
    assert_eq!(
        http[0]["match"][0]["headers"]["cookie"]["regex"],
        "^(.*?;)?(c\\.x=abc)(;.*)?$"
    );
    assert_eq!(
        http[0]["route"][0],
        json!({"destination": {"host": "podinfo-primary"}, "weight": 100,
               "headers": {"response": {"add": {"Set-Cookie": "c.x=abc; Max-Age=-1"}}}})
    );
    assert!(http[1].get("match").is_none());
}

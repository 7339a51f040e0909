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
    let vs = virtual_service(&canary(), 20, None);
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
    let a = virtual_service(&canary(), 20, None);
    let b = virtual_service(&canary(), 20, None);
    let c = virtual_service(&canary(), 30, None);
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

use super::*;
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
fn primary_suffixes_every_selector_label() {
    let p = primary(&canary(), &target(), "rev1", 2);
    assert_eq!(p["metadata"]["name"], "podinfo-primary");
    assert_eq!(
        p["spec"]["selector"]["matchLabels"],
        json!({"app": "podinfo-primary", "tier": "web-primary"})
    );
    let labels = &p["spec"]["template"]["metadata"]["labels"];
    assert_eq!(labels["app"], "podinfo-primary");
    assert_eq!(labels["tier"], "web-primary");
    assert_eq!(labels["version"], "1", "other labels are kept");
    assert_eq!(p["metadata"]["annotations"][REVISION], "rev1");
    assert_eq!(p["metadata"]["ownerReferences"][0]["uid"], "u-1");
    assert_eq!(p["spec"]["replicas"], 2);
}

#[test]
fn apex_selects_the_primary_and_carries_the_apex_metadata() {
    let svcs = services(&canary(), &target(), None, true);
    assert_eq!(svcs[0]["metadata"]["name"], "podinfo");
    assert_eq!(
        svcs[0]["spec"]["selector"],
        json!({"app": "podinfo-primary", "tier": "web-primary"})
    );
    assert_eq!(svcs[0]["metadata"]["labels"]["team"], "a");
    assert_eq!(svcs[0]["metadata"]["annotations"]["note"], "x");
    assert_eq!(svcs[2]["metadata"]["name"], "podinfo-canary");
    assert_eq!(
        svcs[2]["spec"]["selector"],
        json!({"app": "podinfo", "tier": "web"})
    );
    assert_eq!(
        svcs[0]["spec"]["ports"][0],
        json!({"name": "http", "port": 9898, "targetPort": 9898, "protocol": "TCP"})
    );
}

#[test]
fn apex_can_select_the_target_until_the_primary_serves() {
    let svcs = services(&canary(), &target(), None, false);
    assert_eq!(
        svcs[0]["spec"]["selector"],
        json!({"app": "podinfo", "tier": "web"})
    );
}

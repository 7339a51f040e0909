use serde_json::json;

use super::*;
use crate::api::{Canary, ScalerReplicas};

fn canary() -> Canary {
    let mut c: Canary = serde_json::from_value(json!({
        "apiVersion": "serin.dev/v1beta1", "kind": "Canary",
        "metadata": {"name": "frontend", "namespace": "shop", "uid": "u1"},
        "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "frontend"},
                 "service": {"port": 80}}
    }))
    .unwrap();
    c.spec.autoscaler_ref = None;
    c
}

fn aref(kind: AutoscalerKind) -> AutoscalerRef {
    AutoscalerRef {
        kind,
        name: "frontend".into(),
        ..Default::default()
    }
}

fn obj(v: serde_json::Value) -> DynamicObject {
    serde_json::from_value(v).unwrap()
}

/// A user's HPA with every spec field autoscaling/v2 has, plus one it does not (yet).
fn user_hpa() -> DynamicObject {
    obj(json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "frontend", "namespace": "shop",
                     "labels": {"team": "web"},
                     "annotations": {"example.com/owner": "web",
                                     "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "frontend"},
            "minReplicas": 2, "maxReplicas": 4,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 80}}}],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60,
                "policies": [{"type": "Pods", "value": 1, "periodSeconds": 30}]}},
            "futureField": {"x": 1}
        },
        "status": {"currentReplicas": 3}
    }))
}

#[test]
fn the_hpa_copy_carries_every_field_and_targets_the_primary() {
    let user = user_hpa();
    let d = primary_autoscaler(
        &canary(),
        &aref(AutoscalerKind::HorizontalPodAutoscaler),
        &user,
    );
    assert_eq!(d.name, "frontend-primary");
    assert_eq!(d.resource.kind, "HorizontalPodAutoscaler");
    assert_eq!(d["apiVersion"], "autoscaling/v2");
    let mut expected = user.data["spec"].clone();
    expected["scaleTargetRef"]["name"] = json!("frontend-primary");
    assert_eq!(d["spec"], expected);
    assert!(
        d.object.get("status").is_none(),
        "status is the HPA controller's"
    );
    assert_eq!(d["metadata"]["ownerReferences"][0]["kind"], "Canary");
    assert_eq!(d["metadata"]["labels"]["team"], "web");
    let ann = &d["metadata"]["annotations"];
    assert_eq!(ann["example.com/owner"], "web");
    assert!(
        ann.get("kubectl.kubernetes.io/last-applied-configuration")
            .is_none()
    );
}

#[test]
fn a_change_to_the_users_hpa_changes_the_copy() {
    let a = aref(AutoscalerKind::HorizontalPodAutoscaler);
    let before = primary_autoscaler(&canary(), &a, &user_hpa());
    let mut edited = user_hpa();
    edited.data["spec"]["maxReplicas"] = json!(8);
    let after = primary_autoscaler(&canary(), &a, &edited);
    assert_eq!(after["spec"]["maxReplicas"], 8);
    assert_ne!(
        before.hash, after.hash,
        "converge applies only when the hash differs"
    );
    assert_eq!(primary_autoscaler(&canary(), &a, &edited).hash, after.hash);
}

#[test]
fn primary_scaler_replicas_override_the_bounds() {
    let mut a = aref(AutoscalerKind::HorizontalPodAutoscaler);
    a.primary_scaler_replicas = Some(ScalerReplicas {
        min_replicas: Some(3),
        max_replicas: None,
    });
    let d = primary_autoscaler(&canary(), &a, &user_hpa());
    assert_eq!(d["spec"]["minReplicas"], 3);
    assert_eq!(d["spec"]["maxReplicas"], 4);
}

fn user_scaled_object() -> DynamicObject {
    obj(json!({
        "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
        "metadata": {"name": "frontend", "namespace": "shop",
                     "annotations": {PAUSED_REPLICAS: "0", PAUSED: "true", "keep": "me"}},
        "spec": {
            "scaleTargetRef": {"name": "frontend"},
            "minReplicaCount": 0, "maxReplicaCount": 6, "cooldownPeriod": 30,
            "advanced": {"horizontalPodAutoscalerConfig": {"name": "frontend-hpa"}},
            "fallback": {"failureThreshold": 3, "replicas": 2},
            "triggers": [
                {"type": "prometheus", "name": "rps", "metadata": {"query": "sum(rate(x{app=\"frontend\"}[1m]))", "threshold": "10"}},
                {"type": "cpu", "metadata": {"value": "60"}}
            ]
        }
    }))
}

#[test]
fn the_scaled_object_copy_never_carries_the_pause_and_keeps_min_zero() {
    let mut a = aref(AutoscalerKind::ScaledObject);
    a.primary_scaler_queries.insert(
        "rps".into(),
        "sum(rate(x{app=\"frontend-primary\"}[1m]))".into(),
    );
    let d = primary_autoscaler(&canary(), &a, &user_scaled_object());
    assert_eq!(d["apiVersion"], "keda.sh/v1alpha1");
    let ann = d["metadata"]["annotations"].as_object().unwrap();
    assert!(!ann.contains_key(PAUSED_REPLICAS));
    assert!(!ann.contains_key(PAUSED));
    assert_eq!(ann["keep"], "me");
    let spec = &d["spec"];
    assert_eq!(spec["scaleTargetRef"]["name"], "frontend-primary");
    assert_eq!(spec["minReplicaCount"], 0);
    assert_eq!(spec["fallback"]["replicas"], 2);
    assert_eq!(spec["cooldownPeriod"], 30);
    assert_eq!(
        spec["advanced"]["horizontalPodAutoscalerConfig"]["name"],
        "frontend-hpa-primary"
    );
    assert_eq!(
        spec["triggers"][0]["metadata"]["query"],
        "sum(rate(x{app=\"frontend-primary\"}[1m]))"
    );
    assert_eq!(spec["triggers"][0]["metadata"]["threshold"], "10");
    assert_eq!(
        spec["triggers"][1],
        user_scaled_object().data["spec"]["triggers"][1]
    );
}

#[test]
fn the_target_scaled_object_is_paused_only_when_it_is_not() {
    let paused = user_scaled_object();
    assert_eq!(pause_patch(&paused, true), None);
    assert_eq!(
        pause_patch(&paused, false),
        Some(json!({"metadata": {"annotations": {PAUSED_REPLICAS: null}}}))
    );
    let mut running = user_scaled_object();
    running.metadata.annotations = None;
    assert_eq!(pause_patch(&running, false), None);
    assert_eq!(
        pause_patch(&running, true),
        Some(json!({"metadata": {"annotations": {PAUSED_REPLICAS: "0"}}}))
    );
}

#[test]
fn the_canary_starts_a_run_at_its_own_replicas_else_the_autoscaler_min() {
    // The plan scales a canary at 0 up for a run: to the autoscaler's minimum instead.
    assert_eq!(canary_replicas(Some(5), 0, Some(2)), Some(2));
    // A ScaledObject's minimum of 0 still gives the analysis one replica.
    assert_eq!(canary_replicas(Some(5), 0, Some(0)), Some(1));
    // Scaling down between runs, or leaving alone, is the plan's choice.
    assert_eq!(canary_replicas(Some(0), 3, Some(2)), Some(0));
    assert_eq!(canary_replicas(None, 3, Some(2)), None);
    // Without an autoscaler, the plan's choice.
    assert_eq!(canary_replicas(Some(5), 0, None), Some(5));
}

#[test]
fn min_replicas_defaults_as_each_kind_does() {
    assert_eq!(
        min_replicas(AutoscalerKind::HorizontalPodAutoscaler, &user_hpa()),
        2
    );
    let mut hpa = user_hpa();
    hpa.data["spec"]
        .as_object_mut()
        .unwrap()
        .remove("minReplicas");
    assert_eq!(
        min_replicas(AutoscalerKind::HorizontalPodAutoscaler, &hpa),
        1
    );
    assert_eq!(
        min_replicas(AutoscalerKind::ScaledObject, &user_scaled_object()),
        0
    );
}

#[test]
fn an_autoscaled_primary_keeps_its_replicas_when_a_template_is_copied() {
    assert_eq!(primary_replicas(2, true, Some(6)), 6);
    assert_eq!(primary_replicas(2, false, Some(6)), 2);
    assert_eq!(primary_replicas(2, true, None), 2);
}

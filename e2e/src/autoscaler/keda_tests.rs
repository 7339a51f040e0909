//! The KEDA decision, the managed HPA and the status, without a cluster.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::keda::{self, Pause, ScaledObjectSpec, contains, hpa, hpa_name, pause};
use super::keda_plan::{decide, status};
use super::{UTILIZATION_ANNOTATION, scaled_object_crd};

fn spec(value: Value) -> ScaledObjectSpec {
    serde_json::from_value(value).expect("spec")
}

fn basic() -> ScaledObjectSpec {
    spec(json!({
        "scaleTargetRef": {"name": "web"},
        "minReplicaCount": 2, "maxReplicaCount": 4,
        "triggers": [{"type": "prometheus", "metadata": {"threshold": "5", "value": "0.5"}}]
    }))
}

fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn condition<'a>(status: &'a Value, type_: &str) -> (&'a str, &'a str) {
    let found = status["conditions"]
        .as_array()
        .and_then(|l| l.iter().find(|c| c["type"] == type_));
    let field = |k: &str| found.and_then(|c| c[k].as_str()).unwrap_or_default();
    (field("status"), field("reason"))
}

#[test]
fn pause_annotations() {
    assert_eq!(pause(&annotations(&[])), Ok(Pause::None));
    assert_eq!(
        pause(&annotations(&[(keda::PAUSED_REPLICAS, "3")])),
        Ok(Pause::At(3))
    );
    assert_eq!(
        pause(&annotations(&[(keda::PAUSED, "true")])),
        Ok(Pause::Here)
    );
    assert_eq!(
        pause(&annotations(&[(keda::PAUSED, "false")])),
        Ok(Pause::None)
    );
    let both = annotations(&[(keda::PAUSED, "true"), (keda::PAUSED_REPLICAS, "0")]);
    assert_eq!(pause(&both), Ok(Pause::At(0)), "paused-replicas wins");
    assert!(pause(&annotations(&[(keda::PAUSED_REPLICAS, "two")])).is_err());
    assert!(pause(&annotations(&[(keda::PAUSED_REPLICAS, "-1")])).is_err());
}

#[test]
fn managed_hpa_follows_the_scaled_object() {
    let owner = json!({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "name": "web", "uid": "u"});
    let knobs = annotations(&[(UTILIZATION_ANNOTATION, "150")]);
    let h = hpa("web", &basic(), owner, &knobs);
    assert_eq!(h["metadata"]["name"], "keda-hpa-web");
    assert_eq!(h["metadata"]["labels"][keda::SCALED_OBJECT_LABEL], "web");
    assert_eq!(h["metadata"]["ownerReferences"][0]["uid"], "u");
    assert_eq!(h["metadata"]["annotations"][UTILIZATION_ANNOTATION], "150");
    assert_eq!(
        h["spec"]["scaleTargetRef"],
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"})
    );
    assert_eq!(
        (
            h["spec"]["minReplicas"].clone(),
            h["spec"]["maxReplicas"].clone()
        ),
        (json!(2), json!(4))
    );
    let metric = &h["spec"]["metrics"][0]["external"];
    assert_eq!(metric["metric"]["name"], "s0-prometheus");
    assert_eq!(metric["target"]["averageValue"], "500m");
    let to_zero = spec(
        json!({"scaleTargetRef": {"name": "web"}, "minReplicaCount": 0,
        "advanced": {"horizontalPodAutoscalerConfig": {"name": "custom", "behavior": {"scaleDown": {"stabilizationWindowSeconds": 5}}}},
        "triggers": [{"type": "cpu", "metricType": "Utilization", "metadata": {"value": "60"}}]}),
    );
    let h = hpa("web", &to_zero, json!({}), &BTreeMap::new());
    assert!(h["metadata"].get("annotations").is_none());
    assert_eq!(hpa_name("web", &to_zero), "custom");
    assert_eq!(
        h["spec"]["minReplicas"], 1,
        "an HPA holds at least one replica"
    );
    assert_eq!(h["spec"]["maxReplicas"], 100, "KEDA's default");
    assert_eq!(
        h["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"],
        5
    );
    assert_eq!(
        h["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
        60
    );
}

#[test]
fn contains_ignores_server_defaults() {
    let desired = json!({"spec": {"minReplicas": 2, "metrics": [{"type": "External"}]}});
    let observed =
        json!({"spec": {"minReplicas": 2, "extra": 1, "metrics": [{"type": "External", "x": 1}]}});
    assert!(contains(&observed, &desired));
    let changed = json!({"spec": {"minReplicas": 3, "metrics": [{"type": "External"}]}});
    assert!(!contains(&observed, &changed));
}

#[test]
fn paused_replicas_scale_and_drop_the_hpa() {
    let plan = decide(&basic(), Pause::At(0), Some(3), true, Duration::ZERO);
    assert_eq!(
        (plan.keep_hpa, plan.scale_to, plan.paused_replicas),
        (false, Some(0), Some(0))
    );
    let plan = decide(&basic(), Pause::At(3), Some(3), true, Duration::ZERO);
    assert_eq!(plan.scale_to, None, "already there");
    let plan = decide(&basic(), Pause::Here, Some(3), true, Duration::ZERO);
    assert_eq!((plan.keep_hpa, plan.scale_to), (false, None));
    let s = status(&Value::Null, &plan, None, "keda-hpa-web", Some(3));
    assert_eq!(condition(&s, "Paused"), ("True", "ScaledObjectPaused"));
    assert!(s.get("hpaName").is_none());
}

#[test]
fn unpausing_restores_the_hpa_and_says_so() {
    let paused = decide(&basic(), Pause::At(1), Some(3), true, Duration::ZERO);
    let before = status(&Value::Null, &paused, None, "keda-hpa-web", Some(3));
    assert_eq!(before["pausedReplicaCount"], 1);
    assert_eq!(before["originalReplicaCount"], 3);
    let running = decide(&basic(), Pause::None, Some(1), true, Duration::ZERO);
    assert!(running.keep_hpa);
    let after = status(&before, &running, None, "keda-hpa-web", Some(1));
    assert_eq!(
        condition(&after, "Paused"),
        ("False", "ScaledObjectUnpaused")
    );
    assert_eq!(condition(&after, "Ready"), ("True", "ScaledObjectReady"));
    assert_eq!(condition(&after, "Active"), ("True", "ScalerActive"));
    assert!(after.get("pausedReplicaCount").is_none());
    assert_eq!(after["hpaName"], "keda-hpa-web");
    assert_eq!(
        after["originalReplicaCount"], 3,
        "kept from the first sight"
    );
}

#[test]
fn scale_to_zero_after_cooldown_and_back() {
    let s = spec(
        json!({"scaleTargetRef": {"name": "web"}, "minReplicaCount": 0, "cooldownPeriod": 10,
        "triggers": [{"type": "cron", "metadata": {}}]}),
    );
    let idle = |secs| decide(&s, Pause::None, Some(2), false, Duration::from_secs(secs));
    assert_eq!(idle(5).scale_to, None, "cooling down");
    assert_eq!(idle(10).scale_to, Some(0));
    assert_eq!(idle(10).active, Some(false));
    let woken = decide(&s, Pause::None, Some(0), true, Duration::ZERO);
    assert_eq!(woken.scale_to, Some(1));
    let held = decide(
        &basic(),
        Pause::None,
        Some(2),
        false,
        Duration::from_secs(900),
    );
    assert_eq!(held.scale_to, None, "minReplicaCount 2 never idles");
    let lifted = decide(&basic(), Pause::None, Some(0), true, Duration::ZERO);
    assert_eq!(lifted.scale_to, Some(2));
}

#[test]
fn invalid_specs_are_not_ready() {
    let bad = spec(
        json!({"scaleTargetRef": {"name": "web"}, "minReplicaCount": 5, "maxReplicaCount": 2,
        "triggers": [{"type": "cron", "metadata": {}}]}),
    );
    let error = bad.invalid().expect("invalid");
    let plan = decide(&basic(), Pause::None, Some(1), true, Duration::ZERO);
    let s = status(&Value::Null, &plan, Some(&error), "", None);
    assert_eq!(condition(&s, "Ready"), ("False", "ScaledObjectCheckFailed"));
    let no_triggers = spec(json!({"scaleTargetRef": {"name": "web"}}));
    assert!(no_triggers.invalid().is_some());
}

#[test]
fn crd_is_structural_with_keda_names() {
    let crd = serde_json::to_value(scaled_object_crd().expect("crd")).expect("json");
    assert_eq!(crd["metadata"]["name"], "scaledobjects.keda.sh");
    let version = &crd["spec"]["versions"][0];
    assert_eq!(version["name"], "v1alpha1");
    let spec = &version["schema"]["openAPIV3Schema"]["properties"]["spec"];
    assert_eq!(spec["required"], json!(["scaleTargetRef", "triggers"]));
    let behavior = &spec["properties"]["advanced"]["properties"]["horizontalPodAutoscalerConfig"]["properties"]
        ["behavior"];
    assert_eq!(behavior["x-kubernetes-preserve-unknown-fields"], true);
    assert_eq!(crd["spec"]["names"]["shortNames"], json!(["so"]));
}

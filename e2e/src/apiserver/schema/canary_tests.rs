//! serin's `Canary` through the whole pipeline a create goes through (prune, default,
//! validate), with a schema shaped as kube-rs derives it from `src/api/canary.rs`.

use serde_json::{Value, json};

use super::{apply_defaults, prune, validate};

const INTERVAL: &str = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$";

fn percent(min: i64) -> Value {
    json!({"type": "integer", "format": "int32", "nullable": true, "minimum": min, "maximum": 100})
}

fn schema() -> Value {
    json!({
        "type": "object",
        "required": ["spec"],
        "properties": {
            "spec": {"type": "object", "required": ["service", "targetRef"], "properties": {
                "provider": {"type": "string", "nullable": true},
                "targetRef": target_ref(),
                "progressDeadlineSeconds": {"type": "integer", "format": "int32", "nullable": true, "minimum": 1},
                "skipAnalysis": {"type": "boolean", "default": false},
                "suspend": {"type": "boolean", "default": false},
                "service": {"type": "object", "required": ["port"], "properties": {
                    "port": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 65535},
                    "targetPort": {"x-kubernetes-int-or-string": true, "nullable": true,
                        "anyOf": [{"type": "integer"}, {"type": "string"}]},
                    "match": {"type": "array", "nullable": true, "items": {
                        "type": "object", "x-kubernetes-preserve-unknown-fields": true}}
                }},
                "analysis": analysis()
            }},
            "status": {"type": "object", "nullable": true, "properties": {
                "phase": {"type": "string", "nullable": true},
                "canaryWeight": {"type": "integer", "format": "int32", "nullable": true}
            }}
        }
    })
}

fn target_ref() -> Value {
    json!({"type": "object", "required": ["kind", "name"], "properties": {
        "apiVersion": {"type": "string", "nullable": true},
        "kind": {"type": "string", "x-kubernetes-validations": [{
            "rule": "self in ['Deployment', 'DaemonSet', 'Service']",
            "message": "targetRef.kind must be Deployment, DaemonSet or Service"}]},
        "name": {"type": "string", "minLength": 1}
    }})
}

fn analysis() -> Value {
    json!({"type": "object", "nullable": true,
    "x-kubernetes-validations": [
        {"rule": "has(self.stepWeight) && self.stepWeight > 0 || has(self.stepWeights) && size(self.stepWeights) > 0 || has(self.iterations) && self.iterations > 0",
         "message": "analysis needs stepWeight > 0, stepWeights or iterations"},
        {"rule": "!has(self.stepWeights) || self.stepWeights.isSorted()",
         "message": "stepWeights must be increasing"},
        {"rule": "!has(self.maxWeight) || !has(self.stepWeight) || self.stepWeight <= self.maxWeight",
         "message": "stepWeight must not exceed maxWeight"}
    ],
    "properties": {
        "interval": {"type": "string", "nullable": true, "pattern": INTERVAL},
        "threshold": {"type": "integer", "format": "int32", "nullable": true, "minimum": 0},
        "maxWeight": percent(1),
        "stepWeight": percent(0),
        "stepWeights": {"type": "array", "nullable": true, "x-kubernetes-list-type": "set",
            "items": {"type": "integer", "format": "int32"},
            "x-kubernetes-validations": [{"rule": "self.all(w, w >= 1 && w <= 100)",
                "message": "stepWeights must be between 1 and 100"}]},
        "iterations": {"type": "integer", "format": "int32", "nullable": true, "minimum": 0},
        "metrics": {"type": "array", "items": metric()}
    }})
}

fn metric() -> Value {
    json!({"type": "object", "required": ["name"],
    "x-kubernetes-validations": [{
        "rule": "has(self.templateRef) || self.name in ['request-success-rate', 'request-duration'] || has(self.query)",
        "message": "a metric needs a templateRef unless it is the builtin request-success-rate or request-duration"}],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "interval": {"type": "string", "nullable": true, "pattern": INTERVAL},
        "threshold": {"type": "number", "format": "double", "nullable": true},
        "query": {"type": "string", "nullable": true},
        "thresholdRange": {"type": "object", "nullable": true,
            "x-kubernetes-validations": [
                {"rule": "has(self.min) || has(self.max)", "message": "thresholdRange needs min or max"},
                {"rule": "!has(self.min) || !has(self.max) || self.min <= self.max",
                 "message": "thresholdRange min must not exceed max"}],
            "properties": {
                "min": {"type": "number", "format": "double", "nullable": true},
                "max": {"type": "number", "format": "double", "nullable": true}}}
    }})
}

fn canary(analysis: Value) -> Value {
    json!({
        "apiVersion": "serin.dev/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898, "targetPort": "http"},
            "analysis": analysis
        }
    })
}

fn good_analysis() -> Value {
    json!({"interval": "30s", "threshold": 5, "maxWeight": 50, "stepWeight": 10, "metrics": [
        {"name": "request-success-rate", "interval": "1m", "thresholdRange": {"min": 99}},
        {"name": "request-duration", "interval": "1m", "thresholdRange": {"max": 500}}
    ]})
}

/// What the server does with a created object, in order.
fn create(mut obj: Value) -> (Value, Vec<String>) {
    let schema = schema();
    prune(&schema, &mut obj);
    apply_defaults(&schema, &mut obj);
    let errors = validate(&schema, &obj, None)
        .into_iter()
        .map(|e| e.message)
        .collect();
    (obj, errors)
}

fn errors_with(analysis: Value) -> Vec<String> {
    create(canary(analysis)).1
}

#[test]
fn a_flagger_style_canary_is_accepted_pruned_and_defaulted() {
    let mut obj = canary(good_analysis());
    obj["spec"]["unknownField"] = json!(true);
    let (obj, errors) = create(obj);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(obj["spec"].get("unknownField").is_none());
    assert_eq!(obj["spec"]["skipAnalysis"], false);
    assert_eq!(obj["spec"]["suspend"], false);
}

#[test]
fn step_weight_above_100_is_refused_like_kube_apiserver() {
    let mut analysis = good_analysis();
    analysis["stepWeight"] = json!(101);
    analysis["maxWeight"] = json!(100);
    assert_eq!(
        errors_with(analysis),
        [
            "spec.analysis.stepWeight: Invalid value: 101: spec.analysis.stepWeight in body should be less than or equal to 100",
            r#"spec.analysis: Invalid value: "object": stepWeight must not exceed maxWeight"#,
        ]
    );
}

#[test]
fn step_weights_must_increase() {
    let analysis = json!({"stepWeights": [10, 50, 20]});
    assert_eq!(
        errors_with(analysis),
        [r#"spec.analysis: Invalid value: "object": stepWeights must be increasing"#]
    );
    let repeated = json!({"stepWeights": [10, 10]});
    assert_eq!(
        errors_with(repeated),
        [r"spec.analysis.stepWeights[1]: Duplicate value: 10"]
    );
    let out_of_range = json!({"stepWeights": [0, 200]});
    assert_eq!(
        errors_with(out_of_range),
        [
            r#"spec.analysis.stepWeights: Invalid value: "array": stepWeights must be between 1 and 100"#
        ]
    );
}

#[test]
fn intervals_must_be_durations() {
    let mut analysis = good_analysis();
    analysis["interval"] = json!("1x");
    assert_eq!(
        errors_with(analysis),
        [format!(
            r#"spec.analysis.interval: Invalid value: "1x": spec.analysis.interval in body should match '{INTERVAL}'"#
        )]
    );
    let mut analysis = good_analysis();
    analysis["interval"] = json!("1m30s");
    assert!(errors_with(analysis).is_empty());
}

#[test]
fn threshold_ranges_need_min_or_max() {
    let mut analysis = good_analysis();
    analysis["metrics"][0]["thresholdRange"] = json!({});
    assert_eq!(
        errors_with(analysis),
        [
            r#"spec.analysis.metrics[0].thresholdRange: Invalid value: "object": thresholdRange needs min or max"#
        ]
    );
    let mut analysis = good_analysis();
    analysis["metrics"][1]["thresholdRange"] = json!({"min": 10, "max": 1});
    assert_eq!(
        errors_with(analysis),
        [
            r#"spec.analysis.metrics[1].thresholdRange: Invalid value: "object": thresholdRange min must not exceed max"#
        ]
    );
}

#[test]
fn custom_metrics_need_a_query_or_template() {
    let mut analysis = good_analysis();
    analysis["metrics"][0]["name"] = json!("error-budget");
    assert_eq!(
        errors_with(analysis),
        [
            r#"spec.analysis.metrics[0]: Invalid value: "object": a metric needs a templateRef unless it is the builtin request-success-rate or request-duration"#
        ]
    );
}

#[test]
fn an_analysis_without_steps_is_refused() {
    assert_eq!(
        errors_with(json!({"interval": "1m"})),
        [
            r#"spec.analysis: Invalid value: "object": analysis needs stepWeight > 0, stepWeights or iterations"#
        ]
    );
}

#[test]
fn a_missing_target_ref_blocks_the_rules() {
    let mut obj = canary(good_analysis());
    obj["spec"].as_object_mut().map(|s| s.remove("targetRef"));
    obj["spec"]["analysis"]["metrics"][0]["thresholdRange"] = json!({});
    let (_, errors) = create(obj);
    assert_eq!(
        errors,
        [
            "spec.targetRef: Required value",
            "<nil>: Invalid value: null: some validation rules were not checked because the object was \
             invalid; correct the existing errors to complete validation",
        ]
    );
}

#[test]
fn target_kinds_are_limited() {
    let mut obj = canary(good_analysis());
    obj["spec"]["targetRef"]["kind"] = json!("Pod");
    let (_, errors) = create(obj);
    assert_eq!(
        errors,
        [
            r#"spec.targetRef.kind: Invalid value: "string": targetRef.kind must be Deployment, DaemonSet or Service"#
        ]
    );
}

#[test]
fn metadata_name_is_checked_first() {
    let mut obj = canary(good_analysis());
    obj["metadata"]["name"] = json!("Podinfo");
    let (_, errors) = create(obj);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with(
            r#"metadata.name: Invalid value: "Podinfo": a lowercase RFC 1123 subdomain"#
        )
    );
}

#[test]
fn a_status_update_is_validated_too() {
    let schema = schema();
    let old = create(canary(good_analysis())).0;
    let mut new = old.clone();
    new["status"] = json!({"phase": "Progressing", "canaryWeight": "ten"});
    let errors = validate(&schema, &new, Some(&old));
    assert_eq!(errors[0].field, "status.canaryWeight");
    assert_eq!(errors[0].reason, "FieldValueTypeInvalid");
    assert_eq!(
        errors[0].body(),
        r#"Invalid value: "string": status.canaryWeight in body must be of type integer: "string""#
    );
}

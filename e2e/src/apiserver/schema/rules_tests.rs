//! `x-kubernetes-validations` cases: the CEL surface CRD authors use, and kube-apiserver's
//! wording of failures.

use serde_json::{Value, json};

use super::{has_rules, validate_rules};

fn with_rules(spec_properties: Value, rules: Value) -> Value {
    json!({"type": "object", "properties": {"spec": {
        "type": "object", "properties": spec_properties, "x-kubernetes-validations": rules
    }}})
}

fn run(schema: &Value, spec: Value) -> Vec<String> {
    validate_rules(schema, &json!({"spec": spec}), None)
        .into_iter()
        .map(|e| e.message)
        .collect()
}

fn holds(rule: &str, spec_properties: Value, spec: Value) -> bool {
    let schema = with_rules(spec_properties, json!([{"rule": rule}]));
    let found = run(&schema, spec);
    assert!(
        found.iter().all(|m| m.contains("failed rule")),
        "{rule}: {found:?}"
    );
    found.is_empty()
}

fn props() -> Value {
    json!({
        "weights": {"type": "array", "items": {"type": "integer"}},
        "name": {"type": "string"},
        "max": {"type": "integer"},
        "ratio": {"type": "number"},
        "range": {"type": "object", "properties": {"min": {"type": "number"}, "max": {"type": "number"}}},
        "tags": {"type": "object", "additionalProperties": {"type": "string"}}
    })
}

#[test]
fn rules_are_found_anywhere_in_the_schema() {
    assert!(has_rules(&with_rules(json!({}), json!([{"rule": "true"}]))));
    assert!(!has_rules(
        &json!({"type": "object", "properties": {"a": {"type": "string"}}})
    ));
}

#[test]
fn the_cel_surface_of_crd_rules() {
    let spec = json!({"weights": [10, 20, 30], "name": "podinfo-canary", "max": 50, "ratio": 0.5,
        "range": {"min": 1}, "tags": {"team": "a"}});
    for rule in [
        "self.max <= 100 && self.max >= 0",
        "has(self.range.min) || has(self.range.max)",
        "!has(self.range.max)",
        "size(self.weights) == 3 && self.weights.size() == 3",
        "self.weights.all(w, w > 0 && w <= self.max)",
        "self.weights.exists(w, w == 20)",
        "self.weights.exists_one(w, w > 25)",
        "self.weights.map(w, w * 2)[2] == 60",
        "self.weights.filter(w, w > 15).size() == 2",
        "20 in self.weights",
        "'team' in self.tags",
        "self.name.startsWith('podinfo') && self.name.endsWith('canary') && self.name.contains('-')",
        "self.name.matches('^[a-z-]+$')",
        "int(self.ratio * 10.0) == 5 && double(self.max) == 50.0 && string(self.max) == '50'",
        "self.max % 7 == 1 && self.max / 7 == 7 && self.max - 1 == 49 && self.max + 1 == 51",
        "self.max > 10 ? self.ratio < 1.0 : false",
        "self.ratio == 0.5",
        "self.weights.isSorted()",
        "self.weights.sum() == 60 && self.weights.min() == 10 && self.weights.max() == 30",
        "self.name.lowerAscii() == self.name && self.name.split('-').size() == 2",
    ] {
        assert!(holds(rule, props(), spec.clone()), "{rule}");
    }
}

#[test]
fn is_sorted_catches_unsorted_lists() {
    let schema = with_rules(
        props(),
        json!([{"rule": "self.weights.isSorted()", "message": "stepWeights must be sorted"}]),
    );
    assert!(run(&schema, json!({"weights": [10, 20, 20]})).is_empty());
    assert_eq!(
        run(&schema, json!({"weights": [10, 30, 20]})),
        [r#"spec: Invalid value: "object": stepWeights must be sorted"#]
    );
}

#[test]
fn failures_use_message_message_expression_or_the_rule() {
    let schema = with_rules(
        props(),
        json!([
            {"rule": "self.max < 10"},
            {"rule": "self.max < 20", "message": "  too big  "},
            {"rule": "self.max < 30", "message": "static", "messageExpression": "'max is ' + string(self.max)"},
            {"rule": "self.max < 40", "message": "fallback", "messageExpression": "self.missing"}
        ]),
    );
    assert_eq!(
        run(&schema, json!({"max": 50})),
        [
            r#"spec: Invalid value: "object": failed rule: self.max < 10"#,
            r#"spec: Invalid value: "object": too big"#,
            r#"spec: Invalid value: "object": max is 50"#,
            r#"spec: Invalid value: "object": fallback"#,
        ]
    );
}

#[test]
fn reasons_and_field_paths() {
    let schema = with_rules(
        props(),
        json!([
            {"rule": "self.max < 10", "reason": "FieldValueForbidden", "message": "no", "fieldPath": ".max"},
            {"rule": "has(self.name)", "reason": "FieldValueRequired", "message": "name it"},
            {"rule": "false", "reason": "FieldValueDuplicate"}
        ]),
    );
    let found = validate_rules(&schema, &json!({"spec": {"max": 50}}), None);
    assert_eq!(found[0].field, "spec.max");
    assert_eq!(found[0].reason, "FieldValueForbidden");
    assert_eq!(found[0].message, "spec.max: Forbidden: no");
    assert_eq!(found[1].message, "spec: Required value: name it");
    assert_eq!(found[2].message, r#"spec: Duplicate value: "object""#);
}

#[test]
fn reading_an_absent_field_is_an_evaluation_error() {
    let schema = with_rules(props(), json!([{"rule": "self.range.max > 1.0"}]));
    let found = validate_rules(&schema, &json!({"spec": {"range": {"min": 1}}}), None);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].reason, "FieldValueInvalid");
    assert_eq!(
        found[0].message,
        r#"spec: Invalid value: "object": no such key: max evaluating rule: self.range.max > 1.0"#
    );
}

#[test]
fn rules_on_nested_nodes_report_their_path() {
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "metrics": {"type": "array", "items": {"type": "object",
            "properties": {"min": {"type": "number"}, "max": {"type": "number"}},
            "x-kubernetes-validations": [{"rule": "has(self.min) || has(self.max)", "message": "min or max"}]}},
        "labels": {"type": "object", "additionalProperties": {"type": "string",
            "x-kubernetes-validations": [{"rule": "self.size() < 4"}]}}
    }}}});
    let obj =
        json!({"spec": {"metrics": [{"min": 1}, {}], "labels": {"ok": "abc", "bad": "abcd"}}});
    let found: Vec<String> = validate_rules(&schema, &obj, None)
        .into_iter()
        .map(|e| e.message)
        .collect();
    assert_eq!(
        found,
        [
            r#"spec.labels[bad]: Invalid value: "string": failed rule: self.size() < 4"#,
            r#"spec.metrics[1]: Invalid value: "object": min or max"#,
        ]
    );
}

#[test]
fn root_rules_name_no_field() {
    let schema = json!({"type": "object", "x-kubernetes-validations": [{"rule": "has(self.spec)", "message": "spec please"}]});
    let found = validate_rules(&schema, &json!({"metadata": {"name": "x"}}), None);
    assert_eq!(found[0].field, "<nil>");
    assert_eq!(
        found[0].message,
        r#"<nil>: Invalid value: "object": spec please"#
    );
}

#[test]
fn transition_rules_need_an_old_value() {
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "name": {"type": "string", "x-kubernetes-validations": [
            {"rule": "self == oldSelf", "message": "name is immutable"}
        ]}
    }}}});
    let new = json!({"spec": {"name": "b"}});
    assert!(
        validate_rules(&schema, &new, None).is_empty(),
        "skipped on create"
    );
    let old = json!({"spec": {"name": "a"}});
    let found = validate_rules(&schema, &new, Some(&old));
    assert_eq!(
        found[0].message,
        r#"spec.name: Invalid value: "string": name is immutable"#
    );
    assert!(validate_rules(&schema, &new, Some(&new)).is_empty());
    // The field did not exist before: nothing to compare with.
    assert!(validate_rules(&schema, &new, Some(&json!({"spec": {}}))).is_empty());
}

#[test]
fn optional_old_self_runs_on_create() {
    let schema = with_rules(
        props(),
        json!([{"rule": "!oldSelf.hasValue() || self.max >= oldSelf.value().max",
            "optionalOldSelf": true, "message": "max may only grow"}]),
    );
    assert!(run(&schema, json!({"max": 5})).is_empty());
    let old = json!({"spec": {"max": 10}});
    let found = validate_rules(&schema, &json!({"spec": {"max": 5}}), Some(&old));
    assert_eq!(
        found[0].message,
        r#"spec: Invalid value: "object": max may only grow"#
    );
    assert!(validate_rules(&schema, &json!({"spec": {"max": 20}}), Some(&old)).is_empty());
}

#[test]
fn map_list_items_correlate_with_their_old_items_by_key() {
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
            "items": {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer"}},
                "x-kubernetes-validations": [{"rule": "self.port == oldSelf.port", "message": "port is fixed"}]}}
    }}}});
    let old = json!({"spec": {"ports": [{"name": "a", "port": 1}, {"name": "b", "port": 2}]}});
    let new = json!({"spec": {"ports": [{"name": "b", "port": 2}, {"name": "a", "port": 9}, {"name": "c", "port": 3}]}});
    let found: Vec<String> = validate_rules(&schema, &new, Some(&old))
        .into_iter()
        .map(|e| e.message)
        .collect();
    assert_eq!(
        found,
        [r#"spec.ports[1]: Invalid value: "object": port is fixed"#]
    );
}

#[test]
fn null_values_are_not_validated_by_their_own_rules() {
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "name": {"type": "string", "nullable": true, "x-kubernetes-validations": [{"rule": "self.size() > 0"}]}
    }}}});
    assert!(validate_rules(&schema, &json!({"spec": {"name": null}}), None).is_empty());
}

#[test]
fn type_errors_at_run_time_read_like_kube_apiserver() {
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "port": {"x-kubernetes-int-or-string": true, "x-kubernetes-validations": [{"rule": "self > 0"}]}
    }}}});
    let found = validate_rules(&schema, &json!({"spec": {"port": "http"}}), None);
    assert_eq!(
        found[0].message,
        "spec.port: Invalid value: \"\": 'no such overload': call arguments did not match a supported \
         operator, function or macro signature for rule: self > 0"
    );
}

#[test]
fn escaped_property_names_and_timestamps() {
    let schema = with_rules(
        json!({"x-count": {"type": "integer"}, "since": {"type": "string", "format": "date-time"}}),
        json!([{"rule": "self.x__dash__count == 1 && self.since < timestamp('2030-01-01T00:00:00Z')"}]),
    );
    assert!(
        run(
            &schema,
            json!({"x-count": 1, "since": "2026-01-01T00:00:00Z"})
        )
        .is_empty()
    );
}

#[test]
fn a_rule_that_does_not_compile_is_reported() {
    let schema = with_rules(props(), json!([{"rule": "self.max <"}]));
    let found = run(&schema, json!({"max": 1}));
    assert_eq!(found.len(), 1);
    assert!(found[0].contains("compilation failed"), "{found:?}");
}

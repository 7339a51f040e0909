//! One case per OpenAPI keyword, with the message kube-apiserver gives.

use serde_json::{Value, json};

use super::validate_root;

fn spec_schema(properties: Value) -> Value {
    json!({"type": "object", "properties": {"spec": {"type": "object", "properties": properties}}})
}

fn messages(schema: &Value, spec: Value) -> Vec<String> {
    let obj = json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "x"}, "spec": spec});
    validate_root(schema, &obj)
        .into_iter()
        .map(|e| e.message)
        .collect()
}

fn reasons(schema: &Value, spec: Value) -> Vec<&'static str> {
    let obj = json!({"spec": spec});
    validate_root(schema, &obj)
        .into_iter()
        .map(|e| e.reason)
        .collect()
}

#[test]
fn types_are_checked() {
    let schema = spec_schema(json!({
        "replicas": {"type": "integer"}, "name": {"type": "string"}, "on": {"type": "boolean"},
        "list": {"type": "array"}, "map": {"type": "object"}, "ratio": {"type": "number"}
    }));
    assert!(
        messages(
            &schema,
            json!({"replicas": 1, "name": "a", "on": true, "list": [], "map": {}, "ratio": 1})
        )
        .is_empty()
    );
    assert_eq!(
        messages(&schema, json!({"replicas": "two"})),
        [
            r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#
        ]
    );
    assert_eq!(
        reasons(&schema, json!({"on": "yes"})),
        ["FieldValueTypeInvalid"]
    );
    assert_eq!(
        messages(&schema, json!({"list": {}})),
        [
            r#"spec.list: Invalid value: "object": spec.list in body must be of type array: "object""#
        ]
    );
    assert_eq!(messages(&schema, json!({"ratio": 0.25})).len(), 0);
    assert_eq!(
        messages(&schema, json!({"replicas": 2.0})).len(),
        0,
        "2.0 is an integer"
    );
    assert_eq!(messages(&schema, json!({"replicas": 2.5})).len(), 1);
}

#[test]
fn null_needs_nullable() {
    let schema =
        spec_schema(json!({"a": {"type": "string"}, "b": {"type": "string", "nullable": true}}));
    assert_eq!(
        messages(&schema, json!({"a": null, "b": null})),
        [r#"spec.a: Invalid value: "null": spec.a in body must be of type string: "null""#]
    );
}

#[test]
fn int_or_string_takes_both() {
    let schema = spec_schema(json!({"port": {"x-kubernetes-int-or-string": true,
        "anyOf": [{"type": "integer"}, {"type": "string"}]}}));
    assert!(messages(&schema, json!({"port": 8080})).is_empty());
    assert!(messages(&schema, json!({"port": "http"})).is_empty());
    let found = messages(&schema, json!({"port": true}));
    assert_eq!(
        found[0],
        r#"spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean""#
    );
}

#[test]
fn required_fields() {
    let schema = json!({"type": "object", "required": ["spec"], "properties": {"spec": {
        "type": "object", "required": ["targetRef"], "properties": {"targetRef": {"type": "object"}}
    }}});
    assert_eq!(
        messages(&schema, json!({})),
        ["spec.targetRef: Required value"]
    );
    let obj = json!({"metadata": {"name": "x"}});
    assert_eq!(
        validate_root(&schema, &obj)[0].message,
        "spec: Required value"
    );
    assert_eq!(validate_root(&schema, &obj)[0].reason, "FieldValueRequired");
}

#[test]
fn enums_list_the_supported_values() {
    let schema = spec_schema(
        json!({"provider": {"type": "string", "enum": ["istio", "kubernetes"]},
        "level": {"type": "integer", "enum": [1, 2]}}),
    );
    assert_eq!(
        messages(&schema, json!({"provider": "foo", "level": 3})),
        [
            r#"spec.level: Unsupported value: 3: supported values: "1", "2""#,
            r#"spec.provider: Unsupported value: "foo": supported values: "istio", "kubernetes""#
        ]
    );
}

#[test]
fn numeric_bounds() {
    let schema = spec_schema(json!({
        "stepWeight": {"type": "integer", "minimum": 0, "maximum": 100},
        "ratio": {"type": "number", "exclusiveMinimum": true, "minimum": 0, "exclusiveMaximum": true, "maximum": 1},
        "even": {"type": "integer", "multipleOf": 2}
    }));
    assert_eq!(
        messages(&schema, json!({"stepWeight": 101})),
        [
            "spec.stepWeight: Invalid value: 101: spec.stepWeight in body should be less than or equal to 100"
        ]
    );
    assert_eq!(
        messages(&schema, json!({"stepWeight": -1})),
        [
            "spec.stepWeight: Invalid value: -1: spec.stepWeight in body should be greater than or equal to 0"
        ]
    );
    assert_eq!(
        messages(&schema, json!({"ratio": 1})),
        ["spec.ratio: Invalid value: 1: spec.ratio in body should be less than 1"]
    );
    assert_eq!(
        messages(&schema, json!({"ratio": 0.0})),
        ["spec.ratio: Invalid value: 0: spec.ratio in body should be greater than 0"]
    );
    assert!(messages(&schema, json!({"ratio": 0.5, "stepWeight": 100, "even": 4})).is_empty());
    assert_eq!(
        messages(&schema, json!({"even": 3})),
        ["spec.even: Invalid value: 3: spec.even in body should be a multiple of 2"]
    );
}

#[test]
fn string_lengths_patterns_and_formats() {
    let schema = spec_schema(json!({
        "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
        "short": {"type": "string", "maxLength": 3},
        "long": {"type": "string", "minLength": 2},
        "at": {"type": "string", "format": "date-time"},
        "anything": {"type": "string", "format": "int-or-whatever"}
    }));
    assert_eq!(
        messages(&schema, json!({"interval": "1x"})),
        [
            r#"spec.interval: Invalid value: "1x": spec.interval in body should match '^[0-9]+(ms|s|m|h)$'"#
        ]
    );
    assert_eq!(
        messages(&schema, json!({"short": "abcd"})),
        ["spec.short: Too long: may not be more than 3 bytes"]
    );
    assert_eq!(
        reasons(&schema, json!({"short": "abcd"})),
        ["FieldValueTooLong"]
    );
    assert!(
        messages(&schema, json!({"short": "äöü"})).is_empty(),
        "lengths count characters"
    );
    assert_eq!(
        messages(&schema, json!({"long": "a"})),
        [r#"spec.long: Invalid value: "a": spec.long in body should be at least 2 chars long"#]
    );
    assert_eq!(
        messages(&schema, json!({"at": "yesterday"})),
        [
            r#"spec.at: Invalid value: "yesterday": spec.at in body must be of type date-time: "yesterday""#
        ]
    );
    assert!(
        messages(
            &schema,
            json!({"interval": "30s", "at": "2026-11-21T10:00:00Z", "anything": "x"})
        )
        .is_empty()
    );
}

#[test]
fn array_sizes_and_items() {
    let schema = spec_schema(
        json!({"weights": {"type": "array", "minItems": 1, "maxItems": 2,
        "items": {"type": "integer", "maximum": 100}}}),
    );
    assert_eq!(
        messages(&schema, json!({"weights": []})),
        ["spec.weights: Invalid value: 0: spec.weights in body should have at least 1 items"]
    );
    assert_eq!(
        messages(&schema, json!({"weights": [1, 2, 3]})),
        ["spec.weights: Too many: 3: must have at most 2 items"]
    );
    assert_eq!(
        messages(&schema, json!({"weights": [1, 200]})),
        [
            "spec.weights[1]: Invalid value: 200: spec.weights[1] in body should be less than or equal to 100"
        ]
    );
}

#[test]
fn object_sizes_and_additional_properties() {
    let schema = spec_schema(
        json!({"labels": {"type": "object", "minProperties": 1, "maxProperties": 2,
        "additionalProperties": {"type": "string", "maxLength": 5}}}),
    );
    assert_eq!(
        messages(&schema, json!({"labels": {}})),
        ["spec.labels: Invalid value: 0: spec.labels in body should have at least 1 properties"]
    );
    assert_eq!(
        messages(&schema, json!({"labels": {"a": "1", "b": "2", "c": "3"}})),
        ["spec.labels: Too many: 3: must have at most 2 items"]
    );
    assert_eq!(
        messages(&schema, json!({"labels": {"a": 1}})),
        [
            r#"spec.labels.a: Invalid value: "integer": spec.labels.a in body must be of type string: "integer""#
        ]
    );
}

#[test]
fn junctors_validate_values() {
    let schema = spec_schema(json!({
        "range": {"type": "object", "properties": {"min": {"type": "number"}, "max": {"type": "number"}},
            "anyOf": [{"required": ["min"]}, {"required": ["max"]}]},
        "choice": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
            "oneOf": [{"required": ["a"]}, {"required": ["b"]}]},
        "both": {"type": "integer", "allOf": [{"minimum": 1}, {"maximum": 5}]},
        "notZero": {"type": "integer", "not": {"enum": [0]}}
    }));
    assert!(
        messages(
            &schema,
            json!({"range": {"min": 1}, "choice": {"a": "x"}, "both": 3, "notZero": 1})
        )
        .is_empty()
    );
    let found = messages(&schema, json!({"range": {}}));
    assert_eq!(
        found[0],
        r#"<nil>: Invalid value: "": spec.range in body must validate at least one schema (anyOf)"#
    );
    assert_eq!(found[1], "spec.range.min: Required value");
    let found = messages(&schema, json!({"choice": {"a": "x", "b": "y"}}));
    assert_eq!(
        found,
        [
            r#"<nil>: Invalid value: "": spec.choice in body must validate one and only one schema (oneOf)"#
        ]
    );
    assert_eq!(messages(&schema, json!({"both": 9})).len(), 1);
    assert_eq!(
        messages(&schema, json!({"notZero": 0})),
        ["spec.notZero: Invalid value: 0: spec.notZero in body must not validate the schema (not)"]
    );
}

/// What kube-rs derives for `Option<T>` fields, enums with data and `int32` numbers.
#[test]
fn kube_rs_schemas_are_accepted() {
    let schema = spec_schema(json!({
        "maxWeight": {"type": "integer", "format": "int32", "nullable": true, "default": 50},
        "mode": {"type": "string", "nullable": true, "enum": ["Canary", "BlueGreen", null]},
        "target": {"type": "object", "nullable": true, "properties": {
            "name": {"type": "string"}, "kind": {"type": "string"}}, "required": ["name"]},
        "source": {"type": "object", "oneOf": [{"required": ["git"]}, {"required": ["oci"]}],
            "properties": {"git": {"type": "object", "properties": {"url": {"type": "string"}}},
                "oci": {"type": "object", "properties": {"image": {"type": "string"}}}}}
    }));
    assert!(
        messages(
            &schema,
            json!({"maxWeight": null, "mode": null, "target": null})
        )
        .is_empty()
    );
    assert!(
        messages(
            &schema,
            json!({"maxWeight": 30, "mode": "Canary", "target": {"name": "a"},
        "source": {"git": {"url": "u"}}})
        )
        .is_empty()
    );
    assert_eq!(messages(&schema, json!({"mode": "Other"})).len(), 1);
    assert_eq!(
        messages(&schema, json!({"target": {"kind": "Deployment"}})),
        ["spec.target.name: Required value"]
    );
}

#[test]
fn untyped_and_preserved_fields_accept_anything() {
    let schema =
        spec_schema(json!({"free": {"x-kubernetes-preserve-unknown-fields": true}, "any": {}}));
    assert!(messages(&schema, json!({"free": {"a": [1, {"b": null}]}, "any": 3})).is_empty());
}

#[test]
fn embedded_resources_need_api_version_and_kind() {
    let schema = spec_schema(
        json!({"template": {"type": "object", "x-kubernetes-embedded-resource": true,
        "x-kubernetes-preserve-unknown-fields": true}}),
    );
    assert_eq!(
        messages(&schema, json!({"template": {"apiVersion": "v1"}})),
        ["spec.template.kind: Required value: must not be empty"]
    );
}

#[test]
fn object_metadata_and_type_fields_are_not_the_schemas_business() {
    let schema = json!({"type": "object", "required": ["apiVersion", "kind", "metadata"],
        "properties": {"apiVersion": {"type": "string"}, "metadata": {"type": "object",
            "properties": {"name": {"type": "string", "maxLength": 3}}}}});
    let obj = json!({"metadata": {"name": "longer-than-three"}});
    assert!(validate_root(&schema, &obj).is_empty());
}

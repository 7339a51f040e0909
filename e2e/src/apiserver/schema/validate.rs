//! Validation of the OpenAPI keywords, worded as kube-openapi's validator and
//! apiextensions-apiserver's conversion of its results into field errors.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use regex::Regex;
use serde_json::{Map, Value};

use super::FieldError;
use super::errors::{go_float, invalid, not_supported, required, too_long, too_many, type_invalid};
use super::node::{Node, child_path, index_path, json_type};
use crate::apiserver::patch::json_equal;

/// The object's own fields that are the server's business, not the schema's.
const RESOURCE_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// Validates the object (its `apiVersion`, `kind` and `metadata` excepted) against the
/// root schema.
pub(crate) fn validate_root(schema: &Value, obj: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    validate_node(Node(schema), obj, "", &mut errors);
    errors
}

/// Validates `value` at `path` (kube-openapi's notation) against `node`.
pub(crate) fn validate_node(
    node: Node<'_>,
    value: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    if !check_type(node, value, path, errors) || value.is_null() {
        return;
    }
    check_junctors(node, value, path, errors);
    if let Some(allowed) = node.get("enum").and_then(Value::as_array)
        && !allowed.iter().any(|a| json_equal(a, value))
    {
        errors.push(not_supported(path, value, allowed));
    }
    match value {
        Value::String(text) => check_string(node, text, value, path, errors),
        Value::Number(_) => check_number(node, value, path, errors),
        Value::Array(items) => check_array(node, items, path, errors),
        Value::Object(map) => check_object(node, map, path, errors),
        _ => {}
    }
}

/// The type check; `false` when the value is of the wrong type (nothing else is checked).
fn check_type(node: Node<'_>, value: &Value, path: &str, errors: &mut Vec<FieldError>) -> bool {
    let expected: Vec<&str> = if node.int_or_string() {
        vec!["integer", "string"]
    } else if node.type_name().is_empty() {
        return true;
    } else {
        vec![node.type_name()]
    };
    let actual = json_type(value);
    let accepted = match actual {
        "null" => node.nullable(),
        "integer" => expected.contains(&"integer") || expected.contains(&"number"),
        // A float without fraction (`2.0`, `-0.0`) is a valid integer, as in kube-openapi,
        // but only within JSON's exact integers (|f| < 2^53): `1e+30` is a number.
        "number" => {
            expected.contains(&"number")
                || (expected.contains(&"integer")
                    && value
                        .as_f64()
                        .is_some_and(|f| f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_991.0))
        }
        other => expected.contains(&other),
    };
    if !accepted {
        let detail = format!(
            "{path} in body must be of type {}: \"{actual}\"",
            expected.join(",")
        );
        errors.push(type_invalid(
            path,
            &Value::String(actual.to_string()),
            &detail,
        ));
    }
    accepted
}

/// `allOf`, `anyOf`, `oneOf` and `not` as value validations.
fn check_junctors(node: Node<'_>, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    for branch in node.schemas("allOf") {
        validate_node(branch, value, path, errors);
    }
    let outcomes = |key: &str| -> Vec<Vec<FieldError>> {
        node.schemas(key)
            .map(|branch| {
                let mut found = Vec::new();
                validate_node(branch, value, path, &mut found);
                found
            })
            .collect()
    };
    let any = outcomes("anyOf");
    if !any.is_empty() && any.iter().all(|e| !e.is_empty()) {
        errors.push(junctor_error(
            path,
            "must validate at least one schema (anyOf)",
        ));
        errors.extend(any.into_iter().next().unwrap_or_default());
    }
    let one = outcomes("oneOf");
    let passing = one.iter().filter(|e| e.is_empty()).count();
    if !one.is_empty() && passing != 1 {
        errors.push(junctor_error(
            path,
            "must validate one and only one schema (oneOf)",
        ));
        if passing == 0 {
            errors.extend(one.into_iter().next().unwrap_or_default());
        }
    }
    if let Some(not) = node.get("not").map(Node) {
        let mut found = Vec::new();
        validate_node(not, value, path, &mut found);
        if found.is_empty() {
            errors.push(invalid(
                path,
                value,
                &format!("{path} in body must not validate the schema (not)"),
            ));
        }
    }
}

/// kube-openapi reports junctor failures as plain errors, which apiextensions-apiserver turns
/// into an `Invalid` of the object itself with an empty value.
fn junctor_error(path: &str, what: &str) -> FieldError {
    invalid(
        "",
        &Value::String(String::new()),
        &format!("{path} in body {what}"),
    )
}

fn check_string(
    node: Node<'_>,
    text: &str,
    value: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    let length = text.chars().count() as i64;
    if let Some(max) = node.count("maxLength")
        && length > max
    {
        errors.push(too_long(path, max));
    }
    if let Some(min) = node.count("minLength")
        && length < min
    {
        errors.push(invalid(
            path,
            value,
            &format!("{path} in body should be at least {min} chars long"),
        ));
    }
    if let Some(pattern) = node.get("pattern").and_then(Value::as_str)
        && compiled(pattern).is_some_and(|re| !re.is_match(text))
    {
        errors.push(invalid(
            path,
            value,
            &format!("{path} in body should match '{pattern}'"),
        ));
    }
    if let Some(format) = node.get("format").and_then(Value::as_str)
        && !format_matches(format, text)
    {
        let detail = format!("{path} in body must be of type {format}: \"{text}\"");
        errors.push(type_invalid(path, value, &detail));
    }
}

/// A regex for a schema `pattern` (ECMA 262 as far as the `regex` crate goes), compiled once.
fn compiled(pattern: &str) -> Option<Arc<Regex>> {
    static CACHE: LazyLock<Mutex<HashMap<String, Option<Arc<Regex>>>>> =
        LazyLock::new(Default::default);
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    cache
        .entry(pattern.to_string())
        .or_insert_with(|| Regex::new(pattern).ok().map(Arc::new))
        .clone()
}

/// The string formats kube-apiserver checks; others are accepted as any string.
fn format_matches(format: &str, text: &str) -> bool {
    match format {
        "date-time" | "datetime" => {
            chrono::DateTime::parse_from_rfc3339(text).is_ok()
                || chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
        }
        "date" => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok(),
        "uuid" => uuid::Uuid::parse_str(text).is_ok(),
        "ipv4" => text.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => text.parse::<std::net::Ipv6Addr>().is_ok(),
        _ => true,
    }
}

fn check_number(node: Node<'_>, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let Some(number) = value.as_f64() else { return };
    if let Some(max) = node.number("maximum") {
        let exclusive = node.flag("exclusiveMaximum");
        if number > max || (exclusive && number == max) {
            let relation = if exclusive {
                "less than"
            } else {
                "less than or equal to"
            };
            let detail = format!("{path} in body should be {relation} {}", go_float(max));
            errors.push(invalid(path, value, &detail));
        }
    }
    if let Some(min) = node.number("minimum") {
        let exclusive = node.flag("exclusiveMinimum");
        if number < min || (exclusive && number == min) {
            let relation = if exclusive {
                "greater than"
            } else {
                "greater than or equal to"
            };
            let detail = format!("{path} in body should be {relation} {}", go_float(min));
            errors.push(invalid(path, value, &detail));
        }
    }
    if let Some(factor) = node.number("multipleOf").filter(|f| *f > 0.0)
        && ((number / factor) - (number / factor).round()).abs() > 1e-9
    {
        let detail = format!(
            "{path} in body should be a multiple of {}",
            go_float(factor)
        );
        errors.push(invalid(path, value, &detail));
    }
}

fn check_array(node: Node<'_>, items: &[Value], path: &str, errors: &mut Vec<FieldError>) {
    if let Some(item_node) = node.items() {
        for (index, item) in items.iter().enumerate() {
            validate_node(item_node, item, &index_path(path, index), errors);
        }
    }
    let size = items.len();
    if let Some(min) = node.count("minItems")
        && (size as i64) < min
    {
        let detail = format!("{path} in body should have at least {min} items");
        errors.push(invalid(path, &Value::from(size), &detail));
    }
    if let Some(max) = node.count("maxItems")
        && (size as i64) > max
    {
        errors.push(too_many(path, size, max));
    }
}

fn check_object(
    node: Node<'_>,
    map: &Map<String, Value>,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    let server_owned = |name: &str| path.is_empty() && RESOURCE_FIELDS.contains(&name);
    for name in node
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(name) = name.as_str()
            && !map.contains_key(name)
            && !server_owned(name)
        {
            errors.push(required(&child_path(path, name), ""));
        }
    }
    let size = map.len();
    if let Some(min) = node.count("minProperties")
        && (size as i64) < min
    {
        let detail = format!("{path} in body should have at least {min} properties");
        errors.push(invalid(path, &Value::from(size), &detail));
    }
    if let Some(max) = node.count("maxProperties")
        && (size as i64) > max
    {
        errors.push(too_many(path, size, max));
    }
    if node.embedded() {
        for field in ["apiVersion", "kind"] {
            if map
                .get(field)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                errors.push(required(&child_path(path, field), "must not be empty"));
            }
        }
    }
    for (name, child) in map.iter().filter(|(name, _)| !server_owned(name)) {
        if let Some(child_node) = node.child(name) {
            validate_node(child_node, child, &child_path(path, name), errors);
        }
    }
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;

//! Kind-specific checks of the small core kinds: ConfigMap and Secret key names,
//! Namespace `spec.finalizers`, Lease durations. Messages follow
//! pkg/apis/core/validation and pkg/apis/coordination/validation.

use serde_json::Value;

use super::metachecks::finalizers;
use super::{invalid, invalid_value};
use crate::apiserver::error::Cause;

const KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
/// Keys are file names when mounted, so they share the subdomain length limit.
const KEY_MAX: usize = 253;

/// The messages of `IsConfigMapKey`, in its order.
fn key_errors(key: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if key.len() > KEY_MAX {
        errs.push(format!("must be no more than {KEY_MAX} characters"));
    }
    let charset = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
    if key.is_empty() || !key.chars().all(charset) {
        errs.push(KEY_MSG.to_string());
    }
    // A mounted key must not climb out of its volume.
    match key {
        "." => errs.push("must not be '.'".into()),
        ".." => errs.push("must not be '..'".into()),
        k if k.starts_with("..") => errs.push("must not start with '..'".into()),
        _ => {}
    }
    errs
}

/// `data[key]`-style causes for every bad key of the map at `obj[field]`.
fn keys(obj: &Value, field: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    for key in obj[field].as_object().into_iter().flat_map(|m| m.keys()) {
        for msg in key_errors(key) {
            causes.push(invalid(&format!("{field}[{key}]"), key, &msg));
        }
    }
    causes
}

pub fn config_map(obj: &Value) -> Vec<Cause> {
    let mut causes = keys(obj, "data");
    let binary = obj["binaryData"].as_object();
    for key in obj["data"].as_object().into_iter().flat_map(|m| m.keys()) {
        if binary.is_some_and(|b| b.contains_key(key)) {
            causes.push(invalid(
                &format!("data[{key}]"),
                key,
                "duplicate of key present in binaryData",
            ));
        }
    }
    causes.extend(keys(obj, "binaryData"));
    causes
}

/// `stringData` is merged into `data` before validation, so its keys are checked as
/// `data[...]` too.
pub fn secret(obj: &Value) -> Vec<Cause> {
    keys(obj, "data")
}

/// `spec.finalizers` of a Namespace: qualified names, and a name without a prefix must
/// be one of the standard ones (`kubernetes` is the namespace controller's).
pub fn namespace(obj: &Value) -> Vec<Cause> {
    const FIELD: &str = "spec.finalizers";
    let list = &obj["spec"]["finalizers"];
    let mut causes = finalizers(FIELD, list);
    for name in list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let standard = matches!(name, "kubernetes" | "orphan" | "foregroundDeletion");
        if !name.contains('/') && !standard {
            causes.push(invalid(
                FIELD,
                name,
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
    causes
}

pub fn lease(obj: &Value) -> Vec<Cause> {
    let spec = &obj["spec"];
    let mut causes = Vec::new();
    let duration = &spec["leaseDurationSeconds"];
    if duration.as_i64().is_some_and(|d| d <= 0) {
        causes.push(invalid_value(
            "spec.leaseDurationSeconds",
            duration,
            "must be greater than 0",
        ));
    }
    let transitions = &spec["leaseTransitions"];
    if transitions.as_i64().is_some_and(|t| t < 0) {
        causes.push(invalid_value(
            "spec.leaseTransitions",
            transitions,
            "must be greater than or equal to 0",
        ));
    }
    let named = |v: &Value| v.as_str().is_some_and(|s| !s.is_empty());
    if named(&spec["preferredHolder"]) && !named(&spec["strategy"]) {
        causes.push(Cause {
            reason: "FieldValueForbidden".into(),
            message:
                "spec.preferredHolder: Forbidden: may only be specified if `strategy` is defined"
                    .into(),
            field: "spec.preferredHolder".into(),
        });
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_map_keys() {
        assert!(key_errors("app.properties").is_empty());
        assert!(key_errors("KEY_name-1").is_empty());
        assert_eq!(key_errors("a b"), [KEY_MSG]);
        assert_eq!(key_errors(".."), ["must not be '..'"]);
        assert_eq!(key_errors("..x"), ["must not start with '..'"]);
        assert_eq!(key_errors(&"k".repeat(254)).len(), 1);
        let cm = json!({"data": {"a b": "1", "x": "2"}, "binaryData": {"x": "Mg=="}});
        let messages: Vec<String> = config_map(&cm).into_iter().map(|c| c.message).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages[0].starts_with("data[a b]: Invalid value: \"a b\": a valid config key"));
        assert!(messages[1].ends_with("duplicate of key present in binaryData"));
    }

    #[test]
    fn lease_durations() {
        let l = json!({"spec": {"leaseDurationSeconds": 0, "leaseTransitions": -1}});
        let messages: Vec<String> = lease(&l).into_iter().map(|c| c.message).collect();
        assert_eq!(
            messages,
            [
                "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
                "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0"
            ]
        );
    }

    #[test]
    fn namespace_finalizers() {
        let ok = json!({"spec": {"finalizers": ["kubernetes", "example.com/x"]}});
        assert!(namespace(&ok).is_empty());
        let bad = json!({"spec": {"finalizers": ["mine"]}});
        assert!(
            namespace(&bad)[0]
                .message
                .contains("neither a standard finalizer name")
        );
    }
}

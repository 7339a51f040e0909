//! Patch engines: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic merge
//! patch for built-in kinds, and server-side apply with `metadata.managedFields`.
//!
//! Everything here is pure: the functions take the stored object and the request body and
//! return the new object (or a refusal). The server core owns IO, system metadata
//! (`uid`, `resourceVersion`, `generation`...) and the masking of `status` per endpoint.
//!
//! - `model`: which lists of a kind merge by key, which are sets, which are atomic.
//! - `strategic`: strategic merge patch and its `$patch`/`$setElementOrder`/... directives.
//! - `fieldset`, `compare`: field sets, their FieldsV1 encoding, and the sets of objects
//!   and of changes.
//! - `managed`: the `managedFields` entries.
//! - `apply` / `update`: ownership for Apply and for every other write.
//!
//! The caller strips from an applied configuration what the endpoint ignores (`status` on
//! the main resource of a kind with a status subresource); for `/status` this module keeps
//! only `status` itself.

mod apply;
mod compare;
mod fieldset;
mod managed;
mod model;
mod strategic;
mod update;

use serde_json::Value;

pub use apply::server_side_apply;
pub use strategic::strategic_merge_patch;
pub use update::record_update;

/// Why a patch was refused.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// A malformed patch (answered 422 or 400 by the core).
    #[error("{0}")]
    Invalid(String),
    /// An apply that would change fields other managers own (answered 409 `Conflict`).
    #[error("{}", conflict_message(.0))]
    Conflict(Vec<Conflict>),
}

/// A field another manager owns with a different value than the applied one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The manager owning the field (its name, as in `managedFields[].manager`).
    pub manager: String,
    /// The field, in structured-merge-diff's notation: `.spec.replicas`,
    /// `.spec.template.spec.containers[name="web"].image`.
    pub field: String,
}

/// The `Status` message kube-apiserver gives an apply conflict.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    match conflicts {
        [one] => format!(
            "Apply failed with 1 conflict: conflict with \"{}\": {}",
            one.manager, one.field
        ),
        many => {
            let mut managers: Vec<&str> = many.iter().map(|c| c.manager.as_str()).collect();
            managers.dedup();
            let mut text = format!("Apply failed with {} conflicts: conflicts with", many.len());
            let single = managers.len() == 1;
            let mut seen: Vec<&str> = Vec::new();
            for conflict in many {
                if !seen.contains(&conflict.manager.as_str()) {
                    seen.push(&conflict.manager);
                    if single {
                        text.push_str(&format!(" \"{}\":", conflict.manager));
                    } else {
                        text.push_str(&format!("\n\"{}\":", conflict.manager));
                    }
                    for same in many.iter().filter(|c| c.manager == conflict.manager) {
                        text.push_str(&format!("\n- {}", same.field));
                    }
                }
            }
            text
        }
    }
}

/// What an apply request says besides its body.
#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions<'a> {
    /// `fieldManager` of the request.
    pub manager: &'a str,
    /// `force=true`: take ownership of conflicting fields instead of refusing.
    pub force: bool,
    /// The apiVersion the object was applied with (recorded in the entry).
    pub api_version: &'a str,
    /// `Some("status")` for an apply to `/status`.
    pub subresource: Option<&'a str>,
    /// The time recorded in the manager's entry (RFC 3339).
    pub now: &'a str,
}

/// RFC 7386 JSON merge patch: objects merge recursively, `null` deletes, anything else
/// (lists included) replaces.
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    let mut doc = target.clone();
    json_patch::merge(&mut doc, patch);
    doc
}

/// RFC 6902 JSON patch: a list of `add`/`remove`/`replace`/`move`/`copy`/`test` operations,
/// applied all or nothing.
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    let operations: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| PatchError::Invalid(format!("invalid JSON patch: {e}")))?;
    let mut doc = target.clone();
    json_patch::patch(&mut doc, &operations).map_err(|e| PatchError::Invalid(e.to_string()))?;
    Ok(doc)
}

/// Numbers compare by value (`3` equals `3.0`), as Kubernetes' unstructured values do.
pub(crate) fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(l, r)| json_equal(l, r))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_merges_objects_and_deletes_nulls() {
        let target = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 1}});
        let patch = json!({"metadata": {"labels": {"a": null, "c": "3"}}, "spec": {"replicas": 3}});
        assert_eq!(
            merge_patch(&target, &patch),
            json!({"metadata": {"labels": {"b": "2", "c": "3"}}, "spec": {"replicas": 3}})
        );
    }

    #[test]
    fn merge_patch_replaces_lists() {
        let target = json!({"spec": {"ports": [{"port": 80}, {"port": 443}]}});
        let patch = json!({"spec": {"ports": [{"port": 8080}]}});
        assert_eq!(
            merge_patch(&target, &patch),
            json!({"spec": {"ports": [{"port": 8080}]}})
        );
    }

    #[test]
    fn json_patch_applies_operations() {
        let target = json!({"spec": {"replicas": 1, "list": ["a"]}});
        let patch = json!([
            {"op": "replace", "path": "/spec/replicas", "value": 5},
            {"op": "add", "path": "/spec/list/-", "value": "b"},
            {"op": "add", "path": "/metadata", "value": {"labels": {"x": "y"}}}
        ]);
        assert_eq!(
            json_patch(&target, &patch).unwrap(),
            json!({"spec": {"replicas": 5, "list": ["a", "b"]}, "metadata": {"labels": {"x": "y"}}})
        );
    }

    #[test]
    fn json_patch_failed_test_is_invalid_and_atomic() {
        let target = json!({"spec": {"replicas": 1}});
        let patch = json!([
            {"op": "replace", "path": "/spec/replicas", "value": 5},
            {"op": "test", "path": "/spec/replicas", "value": 1}
        ]);
        assert!(matches!(
            json_patch(&target, &patch),
            Err(PatchError::Invalid(_))
        ));
    }

    #[test]
    fn json_patch_rejects_a_body_that_is_not_a_list_of_operations() {
        let err = json_patch(&json!({}), &json!({"op": "add"})).unwrap_err();
        assert!(matches!(err, PatchError::Invalid(_)));
        let err =
            json_patch(&json!({}), &json!([{"op": "remove", "path": "/missing"}])).unwrap_err();
        assert!(matches!(err, PatchError::Invalid(_)));
    }

    #[test]
    fn conflict_messages_read_like_kube_apiserver() {
        let one = [Conflict {
            manager: "kubectl".into(),
            field: ".spec.replicas".into(),
        }];
        assert_eq!(
            conflict_message(&one),
            "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas"
        );
        let two = [
            Conflict {
                manager: "kubectl".into(),
                field: ".spec.replicas".into(),
            },
            Conflict {
                manager: "kubectl".into(),
                field: ".spec.paused".into(),
            },
        ];
        assert_eq!(
            conflict_message(&two),
            "Apply failed with 2 conflicts: conflicts with \"kubectl\":\n- .spec.replicas\n- .spec.paused"
        );
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(json_equal(&json!({"a": [1, 2.0]}), &json!({"a": [1.0, 2]})));
        assert!(!json_equal(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
    }
}

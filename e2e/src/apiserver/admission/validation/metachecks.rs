//! Checks of `metadata` every kind gets, built-in or custom (the apimachinery
//! `ValidateObjectMetaAccessor` part beyond names and labels): owner references and
//! finalizer names. Their field paths carry no list index, as the real server's do.

use serde_json::Value;

use super::{SUBDOMAIN_MSG, invalid, invalid_value, is_subdomain};
use crate::apiserver::error::Cause;

const QUALIFIED_NAME_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const OWNERS: &str = "metadata.ownerReferences";
const FINALIZERS: &str = "metadata.finalizers";

/// Owner references, then finalizers, in the order the real server reports them.
pub fn object_meta(obj: &Value) -> Vec<Cause> {
    let meta = &obj["metadata"];
    let mut causes = owner_references(&meta["ownerReferences"]);
    causes.extend(finalizers(FINALIZERS, &meta["finalizers"]));
    causes
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// Every reference names a versioned kind, a name and a uid; at most one is the
/// controller; an Event owns nothing (the garbage collector ignores it as an owner).
fn owner_references(refs: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let mut controller: Option<String> = None;
    for r in refs.as_array().into_iter().flatten() {
        let api_version = text(&r["apiVersion"]);
        let version = match api_version.split('/').collect::<Vec<_>>().as_slice() {
            [v] | [_, v] => *v,
            _ => "",
        };
        if version.is_empty() {
            causes.push(invalid(
                &format!("{OWNERS}.apiVersion"),
                api_version,
                "version must not be empty",
            ));
        }
        for (field, what) in [("kind", "kind"), ("name", "name"), ("uid", "uid")] {
            if text(&r[field]).is_empty() {
                causes.push(invalid(
                    &format!("{OWNERS}.{field}"),
                    text(&r[field]),
                    &format!("{what} must not be empty"),
                ));
            }
        }
        if api_version == "v1" && text(&r["kind"]) == "Event" {
            causes.push(invalid_value(
                OWNERS,
                r,
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if r["controller"] == Value::Bool(true) {
            let this = format!("{}/{}", text(&r["kind"]), text(&r["name"]));
            match &controller {
                Some(first) => causes.push(invalid_value(
                    OWNERS,
                    refs,
                    &format!("Only one reference can have Controller set to true. Found \"true\" in references for {first} and {this}"),
                )),
                None => controller = Some(this),
            }
        }
    }
    causes
}

/// Finalizer names are qualified names (`example.com/cleanup` or `cleanup`); the two
/// garbage-collector finalizers exclude each other.
pub fn finalizers(field: &str, list: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let names: Vec<&str> = list.as_array().into_iter().flatten().map(text).collect();
    for name in &names {
        for msg in qualified_name_errors(name) {
            causes.push(invalid(field, name, &msg));
        }
    }
    if names.contains(&"orphan") && names.contains(&"foregroundDeletion") {
        causes.push(invalid_value(
            field,
            list,
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    causes
}

fn is_qualified_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// The messages of apimachinery's `IsQualifiedName`, in its order.
pub fn qualified_name_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else if !is_subdomain(prefix) {
                errs.push(format!("prefix part {}", SUBDOMAIN_MSG));
            }
            name
        }
        _ => {
            errs.push(format!("a qualified name {QUALIFIED_NAME_MSG} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push("name part must be no more than 63 characters".to_string());
    }
    if !is_qualified_part(name) {
        errs.push(format!("name part {QUALIFIED_NAME_MSG}"));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn owner(kind: &str, name: &str, controller: bool) -> Value {
        json!({"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": "u", "controller": controller})
    }

    #[test]
    fn one_controller_only() {
        let obj = json!({"metadata": {"ownerReferences": [
            owner("Deployment", "a", true), owner("Deployment", "b", false), owner("ReplicaSet", "c", true)]}});
        let causes = object_meta(&obj);
        assert_eq!(causes.len(), 1, "{causes:?}");
        assert!(causes[0].message.contains(
            "Only one reference can have Controller set to true. Found \"true\" in references for Deployment/a and ReplicaSet/c"
        ));
    }

    #[test]
    fn owner_fields_are_required() {
        let obj = json!({"metadata": {"ownerReferences": [{"apiVersion": "apps/", "kind": "", "name": "n"}]}});
        let fields: Vec<String> = object_meta(&obj).into_iter().map(|c| c.message).collect();
        assert_eq!(
            fields,
            [
                "metadata.ownerReferences.apiVersion: Invalid value: \"apps/\": version must not be empty",
                "metadata.ownerReferences.kind: Invalid value: \"\": kind must not be empty",
                "metadata.ownerReferences.uid: Invalid value: \"\": uid must not be empty",
            ]
        );
    }

    #[test]
    fn finalizer_names() {
        assert!(qualified_name_errors("example.com/cleanup").is_empty());
        assert!(qualified_name_errors("kubernetes").is_empty());
        assert_eq!(
            qualified_name_errors(""),
            [
                "name part must be non-empty".to_string(),
                format!("name part {QUALIFIED_NAME_MSG}")
            ]
        );
        assert_eq!(
            qualified_name_errors("/x"),
            ["prefix part must be non-empty"]
        );
        assert_eq!(qualified_name_errors("a/b/c").len(), 1);
        let both = json!({"metadata": {"finalizers": ["orphan", "foregroundDeletion"]}});
        assert_eq!(object_meta(&both).len(), 1);
    }
}

//! The checks kube-apiserver makes on every object's `metadata.name`
//! (`ValidateObjectMetaAccessor` with `NameIsDNSSubdomain`).

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::FieldError;
use super::errors::{invalid, required};

const DNS1123_SUBDOMAIN_MAX: usize = 253;
const DNS1123_SUBDOMAIN: &str = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";

static SUBDOMAIN: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(&format!("^{DNS1123_SUBDOMAIN}$")).ok());

/// Errors of `metadata.name`: required (unless `generateName` is set), a lowercase RFC 1123
/// subdomain of at most 253 characters.
pub fn validate_metadata_name(obj: &Value) -> Vec<FieldError> {
    let meta = obj.get("metadata");
    let text = |key: &str| {
        meta.and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let name = text("name");
    if name.is_empty() {
        if text("generateName").is_empty() {
            return vec![required(
                "metadata.name",
                "name or generateName is required",
            )];
        }
        return Vec::new();
    }
    subdomain_errors(name)
        .into_iter()
        .map(|message| invalid("metadata.name", &Value::String(name.to_string()), &message))
        .collect()
}

/// `IsDNS1123Subdomain`'s messages for `value`.
fn subdomain_errors(value: &str) -> Vec<String> {
    let mut messages = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX {
        messages.push(format!(
            "must be no more than {DNS1123_SUBDOMAIN_MAX} characters"
        ));
    }
    let matches = SUBDOMAIN.as_ref().is_some_and(|re| re.is_match(value));
    if !matches {
        messages.push(format!(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', \
             and must start and end with an alphanumeric character (e.g. 'example.com', regex used for \
             validation is '{DNS1123_SUBDOMAIN}')"
        ));
    }
    messages
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn good_names_pass() {
        for name in ["podinfo", "my-app.v2", "a", "0abc"] {
            assert!(
                validate_metadata_name(&json!({"metadata": {"name": name}})).is_empty(),
                "{name}"
            );
        }
    }

    #[test]
    fn a_missing_name_is_required_unless_generated() {
        let errors = validate_metadata_name(&json!({"metadata": {}}));
        assert_eq!(
            errors[0].message,
            "metadata.name: Required value: name or generateName is required"
        );
        assert!(validate_metadata_name(&json!({"metadata": {"generateName": "x-"}})).is_empty());
    }

    #[test]
    fn bad_names_get_kube_apiserver_messages() {
        let errors = validate_metadata_name(&json!({"metadata": {"name": "Bad_Name"}}));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].reason, "FieldValueInvalid");
        assert_eq!(
            errors[0].message,
            "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower \
             case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character \
             (e.g. 'example.com', regex used for validation is \
             '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        );
        let long = "a".repeat(254);
        let errors = validate_metadata_name(&json!({"metadata": {"name": long}}));
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0]
                .message
                .ends_with("must be no more than 253 characters")
        );
        assert_eq!(
            validate_metadata_name(&json!({"metadata": {"name": "-x"}})).len(),
            1
        );
    }
}

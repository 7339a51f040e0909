//! Validation of object metadata and of built-in kinds, with the apiserver's messages
//! (field path, `Invalid value`, `Required value`), returned as 422 causes.

pub(super) mod kindchecks;
pub(super) mod metachecks;

use serde_json::Value;

use crate::apiserver::error::Cause;
use crate::apiserver::selector::from_label_selector_object;

pub(super) const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

pub fn invalid(field: &str, value: &str, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueInvalid".into(),
        message: format!("{field}: Invalid value: \"{value}\": {detail}"),
        field: field.into(),
    }
}

/// An `Invalid value` of any JSON value, shown as the real server shows Go values:
/// strings quoted, numbers and booleans bare, `null`, anything else as JSON.
pub fn invalid_value(field: &str, value: &Value, detail: &str) -> Cause {
    let shown = match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    Cause {
        reason: "FieldValueInvalid".into(),
        message: format!("{field}: Invalid value: {shown}: {detail}"),
        field: field.into(),
    }
}

pub fn required(field: &str, detail: &str) -> Cause {
    let message = if detail.is_empty() {
        format!("{field}: Required value")
    } else {
        format!("{field}: Required value: {detail}")
    };
    Cause {
        reason: "FieldValueRequired".into(),
        message,
        field: field.into(),
    }
}

fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

pub(super) fn is_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_label)
}

fn is_label_value(s: &str) -> bool {
    let b = s.as_bytes();
    b.is_empty()
        || (b.len() <= 63
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric())
}

/// How a kind's names are checked.
fn name_rule(group: &str, kind: &str) -> (fn(&str) -> bool, &'static str) {
    match (group, kind) {
        ("", "Namespace") => (is_label, LABEL_MSG),
        ("", "Service") => (
            |s: &str| is_label(s) && s.starts_with(|c: char| c.is_ascii_lowercase()),
            DNS1035_MSG,
        ),
        _ => (is_subdomain, SUBDOMAIN_MSG),
    }
}

/// Checks `metadata` (name format, labels).
pub fn metadata(group: &str, kind: &str, obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    let (ok, msg) = name_rule(group, kind);
    if name.is_empty() {
        causes.push(required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else if !ok(name) {
        causes.push(invalid("metadata.name", name, msg));
    }
    causes.extend(labels(obj));
    causes
}

/// Checks the label keys and values.
pub fn labels(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let meta = &obj["metadata"];
    if let Some(labels) = meta["labels"].as_object() {
        for (k, v) in labels {
            let value = v.as_str().unwrap_or_default();
            if !is_label_value(value) {
                causes.push(invalid("metadata.labels", value, LABEL_VALUE_MSG));
            }
            let key_name = k.rsplit('/').next().unwrap_or_default();
            if !is_label_value(key_name) || key_name.is_empty() {
                causes.push(invalid("metadata.labels", k, "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"));
            }
        }
    }
    causes
}

/// Kind-specific checks of built-in kinds (`old` on update).
pub fn builtin(group: &str, kind: &str, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    match (group, kind) {
        ("apps", "Deployment" | "ReplicaSet") => workload(obj, old),
        ("", "Service") => service(obj, old),
        ("autoscaling", "HorizontalPodAutoscaler") => hpa(obj),
        ("", "ConfigMap") => kindchecks::config_map(obj),
        ("", "Secret") => kindchecks::secret(obj),
        ("", "Namespace") => kindchecks::namespace(obj),
        ("coordination.k8s.io", "Lease") => kindchecks::lease(obj),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            crate::apiserver::storage::crd::validate(obj, old)
        }
        _ => Vec::new(),
    }
}

fn workload(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut causes = Vec::new();
    let spec = &obj["spec"];
    let selector = &spec["selector"];
    if !selector.is_object() || selector.as_object().is_some_and(|m| m.is_empty()) {
        causes.push(required("spec.selector", ""));
    } else {
        let labels = &spec["template"]["metadata"]["labels"];
        let probe = serde_json::json!({"metadata": {"labels": labels}});
        if !from_label_selector_object(selector).matches(&probe) {
            let shown = labels.as_object().map_or_else(String::new, |m| {
                m.iter()
                    .map(|(k, v)| format!("\"{k}\":\"{}\"", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(", ")
            });
            causes.push(Cause {
                reason: "FieldValueInvalid".into(),
                message: format!("spec.template.metadata.labels: Invalid value: map[string]string{{{shown}}}: `selector` does not match template `labels`"),
                field: "spec.template.metadata.labels".into(),
            });
        }
        if let Some(old) = old
            && old["spec"]["selector"] != *selector
        {
            causes.push(invalid(
                "spec.selector",
                &selector.to_string(),
                "field is immutable",
            ));
        }
    }
    if spec["replicas"].as_i64().is_some_and(|r| r < 0) {
        causes.push(invalid_value(
            "spec.replicas",
            &spec["replicas"],
            "must be greater than or equal to 0",
        ));
    }
    let containers = spec["template"]["spec"]["containers"].as_array();
    if containers.is_none_or(Vec::is_empty) {
        causes.push(required("spec.template.spec.containers", ""));
    }
    for (i, c) in containers.into_iter().flatten().enumerate() {
        for field in ["name", "image"] {
            if c[field].as_str().is_none_or(str::is_empty) {
                causes.push(required(
                    &format!("spec.template.spec.containers[{i}].{field}"),
                    "",
                ));
            }
        }
    }
    causes
}

fn service(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut causes = Vec::new();
    let spec = &obj["spec"];
    let headless = spec["clusterIP"] == "None";
    let external = spec["type"] == "ExternalName";
    let ports = spec["ports"].as_array();
    if ports.is_none_or(Vec::is_empty) && !headless && !external {
        causes.push(required("spec.ports", ""));
    }
    for (i, p) in ports.into_iter().flatten().enumerate() {
        match p["port"].as_i64() {
            None => causes.push(required(&format!("spec.ports[{i}].port"), "")),
            Some(port) if !(1..=65535).contains(&port) => causes.push(invalid_value(
                &format!("spec.ports[{i}].port"),
                &p["port"],
                "must be between 1 and 65535, inclusive",
            )),
            Some(_) => {}
        }
    }
    if ports.is_some_and(|ps| ps.len() > 1) {
        for (i, p) in ports.into_iter().flatten().enumerate() {
            if p["name"].as_str().is_none_or(str::is_empty) {
                causes.push(required(&format!("spec.ports[{i}].name"), ""));
            }
        }
    }
    if let Some(old) = old {
        let (was, now) = (&old["spec"]["clusterIP"], &spec["clusterIP"]);
        if !was.is_null() && was != now {
            causes.push(invalid(
                "spec.clusterIPs[0]",
                now.as_str().unwrap_or_default(),
                "may not change once set",
            ));
        }
    }
    causes
}

fn hpa(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let spec = &obj["spec"];
    for field in ["kind", "name"] {
        if spec["scaleTargetRef"][field]
            .as_str()
            .is_none_or(str::is_empty)
        {
            causes.push(required(&format!("spec.scaleTargetRef.{field}"), ""));
        }
    }
    let max = spec["maxReplicas"].as_i64().unwrap_or(0);
    if max < 1 {
        causes.push(invalid_value(
            "spec.maxReplicas",
            &serde_json::json!(max),
            "must be greater than or equal to 1",
        ));
    }
    if let Some(min) = spec["minReplicas"].as_i64()
        && min > max
    {
        causes.push(invalid_value(
            "spec.minReplicas",
            &serde_json::json!(min),
            "must be less than or equal to maxReplicas",
        ));
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names() {
        assert!(metadata("", "ConfigMap", &json!({"metadata": {"name": "a.b-c"}})).is_empty());
        assert_eq!(
            metadata("", "ConfigMap", &json!({"metadata": {"name": "Bad"}}))[0].field,
            "metadata.name"
        );
        assert!(!metadata("", "Namespace", &json!({"metadata": {"name": "a.b"}})).is_empty());
        assert!(!metadata("", "Service", &json!({"metadata": {"name": "1a"}})).is_empty());
    }

    #[test]
    fn deployment_selector_must_match() {
        let d = json!({"spec": {"selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        let causes = builtin("apps", "Deployment", &d, None);
        assert_eq!(causes.len(), 1);
        assert!(
            causes[0]
                .message
                .contains("`selector` does not match template `labels`"),
            "{}",
            causes[0].message
        );
    }
}

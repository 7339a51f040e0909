//! Decoding of built-in kinds through their k8s-openapi types, as a real server decodes a
//! request body into its Go structs: wrong types are refused (400), and fields the type
//! does not know are found (for `fieldValidation`) and dropped.

use k8s_openapi::api::{apps, autoscaling, coordination, core, events};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn round_trip<T: DeserializeOwned + Serialize>(obj: &Value) -> Result<Value, String> {
    let typed = T::deserialize(obj).map_err(|e| e.to_string())?;
    serde_json::to_value(typed).map_err(|e| e.to_string())
}

/// The object as its k8s-openapi type keeps it, for a built-in (group, kind); `None` for
/// kinds without a type here.
pub fn decode(group: &str, kind: &str, obj: &Value) -> Option<Result<Value, String>> {
    let result = match (group, kind) {
        ("", "Namespace") => round_trip::<core::v1::Namespace>(obj),
        ("", "Service") => round_trip::<core::v1::Service>(obj),
        ("", "ConfigMap") => round_trip::<core::v1::ConfigMap>(obj),
        ("", "Secret") => round_trip::<core::v1::Secret>(obj),
        ("", "Event") => round_trip::<core::v1::Event>(obj),
        ("", "Pod") => round_trip::<core::v1::Pod>(obj),
        ("", "ResourceQuota") => round_trip::<core::v1::ResourceQuota>(obj),
        ("", "LimitRange") => round_trip::<core::v1::LimitRange>(obj),
        ("", "ServiceAccount") => round_trip::<core::v1::ServiceAccount>(obj),
        ("apps", "Deployment") => round_trip::<apps::v1::Deployment>(obj),
        ("apps", "ReplicaSet") => round_trip::<apps::v1::ReplicaSet>(obj),
        ("events.k8s.io", "Event") => round_trip::<events::v1::Event>(obj),
        ("coordination.k8s.io", "Lease") => round_trip::<coordination::v1::Lease>(obj),
        ("autoscaling", "HorizontalPodAutoscaler") => {
            round_trip::<autoscaling::v2::HorizontalPodAutoscaler>(obj)
        }
        ("autoscaling", "Scale") => round_trip::<autoscaling::v1::Scale>(obj),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            round_trip::<CustomResourceDefinition>(obj)
        }
        _ => return None,
    };
    Some(result)
}

/// `metadata` as `ObjectMeta` keeps it (for custom resources).
pub fn decode_metadata(meta: &Value) -> Result<Value, String> {
    round_trip::<ObjectMeta>(meta)
}

/// Paths (`spec.template.spec.containers[0].foo`) present in `original` but dropped from
/// `decoded`; explicit nulls do not count.
pub fn unknown_fields(original: &Value, decoded: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(original, decoded, String::new(), &mut out);
    out
}

fn walk(original: &Value, decoded: &Value, path: String, out: &mut Vec<String>) {
    match (original, decoded) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match b.get(key) {
                    Some(d) => walk(value, d, child, out),
                    None if value.is_null() => {}
                    None => out.push(child),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                walk(x, y, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_unknown_fields_and_type_errors() {
        let dep = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a", "bogus": 1},
            "spec": {"replicas": 2, "extra": true, "selector": {"matchLabels": {"app": "a"}},
                     "template": {"spec": {"containers": [{"name": "c", "image": "i", "imag": "x",
                        "resources": {"limits": {"cpu": 1}}}]}}}});
        let decoded = decode("apps", "Deployment", &dep).unwrap().unwrap();
        assert_eq!(
            unknown_fields(&dep, &decoded),
            [
                "metadata.bogus",
                "spec.extra",
                "spec.template.spec.containers[0].imag"
            ]
        );
        assert_eq!(
            decoded["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"],
            "1"
        );
        let bad =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": "two"}});
        assert!(decode("apps", "Deployment", &bad).unwrap().is_err());
    }
}

//! The `scale` subresource: an autoscaling/v1 `Scale` view of a Deployment (or of a custom
//! resource with `subresources.scale`), and the parent object a Scale write produces.

use serde_json::{Value, json};

use crate::apiserver::selector::selector_object_to_string;
use crate::apiserver::storage::registry::ResourceDef;

/// `.spec.replicas` -> `/spec/replicas`.
fn pointer(path: &str) -> String {
    path.trim_start_matches('.')
        .split('.')
        .map(|p| format!("/{p}"))
        .collect()
}

/// The Scale object of a served parent.
pub fn scale_of(def: &ResourceDef, parent: &Value) -> Value {
    let Some(paths) = &def.scale else {
        return Value::Null;
    };
    let meta = &parent["metadata"];
    let spec_replicas = parent
        .pointer(&pointer(&paths.spec_replicas))
        .cloned()
        .unwrap_or(json!(0));
    let status_replicas = parent
        .pointer(&pointer(&paths.status_replicas))
        .cloned()
        .unwrap_or(json!(0));
    let selector = match &paths.label_selector {
        Some(path) => parent
            .pointer(&pointer(path))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        None => selector_object_to_string(&parent["spec"]["selector"]),
    };
    let mut status = json!({"replicas": status_replicas});
    if !selector.is_empty() {
        status["selector"] = json!(selector);
    }
    let mut metadata = serde_json::Map::new();
    for key in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = meta.get(key).filter(|v| !v.is_null()) {
            metadata.insert(key.to_string(), v.clone());
        }
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": spec_replicas},
        "status": status,
    })
}

/// The parent with the replicas a Scale asks for.
pub fn apply_scale(def: &ResourceDef, parent: &Value, scale: &Value) -> Value {
    let mut out = parent.clone();
    let Some(paths) = &def.scale else { return out };
    let replicas = scale["spec"]["replicas"].clone();
    let replicas = if replicas.is_null() {
        json!(0)
    } else {
        replicas
    };
    let ptr = pointer(&paths.spec_replicas);
    let mut cur = &mut out;
    let parts: Vec<&str> = ptr.split('/').skip(1).collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            cur[*part] = replicas.clone();
        } else {
            if !cur[*part].is_object() {
                cur[*part] = json!({});
            }
            cur = &mut cur[*part];
        }
    }
    out
}

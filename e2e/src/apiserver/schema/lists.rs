//! The invariants of `x-kubernetes-list-type` (apiextensions-apiserver's
//! `ValidateListSetsAndMaps`): a `set` holds no value twice, a `map` no key twice.

use serde_json::{Map, Value};

use super::FieldError;
use super::errors::{duplicate, invalid};
use super::node::{Node, child_path, index_path};
use crate::apiserver::patch::json_equal;

/// The list-type errors of the object (its `metadata` excepted).
pub(crate) fn validate_lists(schema: &Value, obj: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Value::Object(map) = obj {
        for (name, child) in map.iter().filter(|(k, _)| k.as_str() != "metadata") {
            if let Some(node) = Node(schema).property(name) {
                walk(node, child, name, &mut errors);
            }
        }
    }
    errors
}

fn walk(node: Node<'_>, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    match value {
        Value::Array(items) => {
            match node.list_type() {
                "set" => check_set(items, path, errors),
                "map" => check_map(node, items, path, errors),
                _ => {}
            }
            if let Some(item_node) = node.items() {
                for (index, item) in items.iter().enumerate() {
                    walk(item_node, item, &index_path(path, index), errors);
                }
            }
        }
        Value::Object(map) => {
            for (name, child) in map {
                if let Some(child_node) = node.child(name) {
                    walk(child_node, child, &child_path(path, name), errors);
                }
            }
        }
        _ => {}
    }
}

fn check_set(items: &[Value], path: &str, errors: &mut Vec<FieldError>) {
    for (index, item) in items.iter().enumerate() {
        if items[..index]
            .iter()
            .any(|earlier| json_equal(earlier, item))
        {
            errors.push(duplicate(&index_path(path, index), item));
        }
    }
}

fn check_map(node: Node<'_>, items: &[Value], path: &str, errors: &mut Vec<FieldError>) {
    let keys = node.list_map_keys();
    let item_node = node.items();
    let mut seen: Vec<Value> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let Value::Object(map) = item else {
            let detail = "must be an object for an array of list-type map";
            errors.push(invalid(&index_path(path, index), item, detail));
            continue;
        };
        let key = key_of(map, &keys, item_node);
        if seen.iter().any(|k| json_equal(k, &key)) {
            errors.push(duplicate(&index_path(path, index), &key));
        } else {
            seen.push(key);
        }
    }
}

/// The key fields of an item, those it omits taking their schema default.
fn key_of(item: &Map<String, Value>, keys: &[&str], item_node: Option<Node<'_>>) -> Value {
    let mut key = Map::new();
    for name in keys {
        let default = item_node
            .and_then(|n| n.property(name))
            .and_then(|p| p.get("default"));
        if let Some(value) = item.get(*name).or(default) {
            key.insert((*name).to_string(), value.clone());
        }
    }
    Value::Object(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "ports": {"type": "array", "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["port", "protocol"],
                "items": {"type": "object", "properties": {
                    "port": {"type": "integer"},
                    "protocol": {"type": "string", "default": "TCP"}
                }}},
            "plain": {"type": "array", "items": {"type": "string"}}
        }}}})
    }

    #[test]
    fn sets_refuse_duplicates() {
        let obj = json!({"spec": {"tags": ["a", "b", "a"], "plain": ["x", "x"]}});
        let errors = validate_lists(&schema(), &obj);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].reason, "FieldValueDuplicate");
        assert_eq!(errors[0].message, r#"spec.tags[2]: Duplicate value: "a""#);
    }

    #[test]
    fn maps_refuse_duplicate_keys_with_defaults() {
        let obj = json!({"spec": {"ports": [
            {"port": 80}, {"port": 80, "protocol": "UDP"}, {"port": 80, "protocol": "TCP"}
        ]}});
        let errors = validate_lists(&schema(), &obj);
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].message,
            r#"spec.ports[2]: Duplicate value: {"port":80,"protocol":"TCP"}"#
        );
    }
}

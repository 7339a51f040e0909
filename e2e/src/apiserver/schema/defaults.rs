//! Defaulting: the `default` of a property is set where the field is absent, or null
//! while not nullable; then nulls the schema does not allow are dropped, as kube-apiserver's
//! structural defaulting does (`Default`, `PruneNonNullableNullsWithoutDefaults`).

use serde_json::Value;

use super::node::Node;

/// Applies the schema's defaults to `obj`, nested ones included (in list items, in
/// `additionalProperties` values, and inside defaults just set).
pub fn apply_defaults(schema: &Value, obj: &mut Value) {
    default_value(Node(schema), obj);
    drop_disallowed_nulls(Node(schema), obj);
}

fn is_non_nullable_null(value: &Value, node: Node<'_>) -> bool {
    value.is_null() && !node.nullable()
}

fn default_value(node: Node<'_>, value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (name, property) in node.properties().into_iter().flatten() {
                let property = Node(property);
                let Some(default) = property.get("default") else {
                    continue;
                };
                let missing = map
                    .get(name)
                    .is_none_or(|v| is_non_nullable_null(v, property));
                if missing {
                    map.insert(name.clone(), default.clone());
                }
            }
            for (name, child) in map.iter_mut() {
                if let Some(property) = node.property(name) {
                    default_value(property, child);
                } else if let Some(additional) = node.additional() {
                    set_default_if_null(additional, child);
                    default_value(additional, child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_node) = node.items() {
                for item in items {
                    set_default_if_null(item_node, item);
                    default_value(item_node, item);
                }
            }
        }
        _ => {}
    }
}

fn set_default_if_null(node: Node<'_>, value: &mut Value) {
    if is_non_nullable_null(value, node)
        && let Some(default) = node.get("default")
    {
        *value = default.clone();
    }
}

fn drop_disallowed_nulls(node: Node<'_>, value: &mut Value) {
    match value {
        Value::Object(map) => map.retain(|name, child| {
            let Some(child_node) = node.child(name) else {
                return true;
            };
            if child.is_null() && !child_node.nullable() && child_node.get("default").is_none() {
                return false;
            }
            drop_disallowed_nulls(child_node, child);
            true
        }),
        Value::Array(items) => {
            if let Some(item_node) = node.items() {
                for item in items {
                    drop_disallowed_nulls(item_node, item);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "replicas": {"type": "integer", "format": "int32", "default": 1},
            "analysis": {"type": "object", "default": {}, "properties": {
                "interval": {"type": "string", "default": "1m"},
                "threshold": {"type": "integer", "default": 5}
            }},
            "provider": {"type": "string", "nullable": true, "default": "istio"},
            "note": {"type": "string"},
            "metrics": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"},
                "interval": {"type": "string", "default": "1m"}
            }}},
            "weights": {"type": "object", "additionalProperties": {
                "type": "object", "properties": {"w": {"type": "integer", "default": 10}}
            }}
        }}}})
    }

    #[test]
    fn absent_fields_get_their_defaults_recursively() {
        let mut obj = json!({"spec": {}});
        apply_defaults(&schema(), &mut obj);
        assert_eq!(obj["spec"]["replicas"], 1);
        // A default object is itself defaulted.
        assert_eq!(
            obj["spec"]["analysis"],
            json!({"interval": "1m", "threshold": 5})
        );
        assert_eq!(obj["spec"]["provider"], "istio");
    }

    #[test]
    fn present_values_are_kept() {
        let mut obj = json!({"spec": {"replicas": 3, "analysis": {"interval": "30s"}}});
        apply_defaults(&schema(), &mut obj);
        assert_eq!(obj["spec"]["replicas"], 3);
        assert_eq!(
            obj["spec"]["analysis"],
            json!({"interval": "30s", "threshold": 5})
        );
    }

    #[test]
    fn defaults_apply_inside_list_items_and_additional_properties() {
        let mut obj = json!({"spec": {
            "metrics": [{"name": "a"}, {"name": "b", "interval": "5m"}],
            "weights": {"x": {}, "y": {"w": 3}}
        }});
        apply_defaults(&schema(), &mut obj);
        assert_eq!(
            obj["spec"]["metrics"],
            json!([{"name": "a", "interval": "1m"}, {"name": "b", "interval": "5m"}])
        );
        assert_eq!(
            obj["spec"]["weights"],
            json!({"x": {"w": 10}, "y": {"w": 3}})
        );
    }

    #[test]
    fn nulls_are_defaulted_kept_or_dropped_by_nullability() {
        let mut obj = json!({"spec": {"replicas": null, "provider": null, "note": null}});
        apply_defaults(&schema(), &mut obj);
        // Not nullable with a default: defaulted. Nullable: kept. Neither: dropped.
        assert_eq!(obj["spec"]["replicas"], 1);
        assert_eq!(obj["spec"]["provider"], Value::Null);
        assert!(obj["spec"].get("note").is_none());
    }
}

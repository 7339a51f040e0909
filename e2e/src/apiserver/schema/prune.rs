//! Pruning: fields the schema does not specify are dropped, as kube-apiserver does when
//! it decodes a custom resource, except below `x-kubernetes-preserve-unknown-fields: true`
//! and in the `apiVersion`/`kind`/`metadata` of the object and of embedded resources.

use serde_json::{Map, Value};

use super::node::Node;

const RESOURCE_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// Drops from `obj` the fields `schema` does not specify.
pub fn prune(schema: &Value, obj: &mut Value) {
    prune_value(Node(schema), obj, true);
}

fn prune_value(node: Node<'_>, value: &mut Value, resource: bool) {
    match value {
        Value::Object(map) => prune_object(node, map, resource || node.embedded()),
        Value::Array(items) => {
            if let Some(item_node) = node.items() {
                for item in items {
                    prune_value(item_node, item, false);
                }
            }
        }
        _ => {}
    }
}

fn prune_object(node: Node<'_>, map: &mut Map<String, Value>, resource: bool) {
    let keep_unknown = node.preserves_unknown() || node.allows_any_additional();
    map.retain(|key, value| {
        if resource && RESOURCE_FIELDS.contains(&key.as_str()) {
            // Type fields and ObjectMeta are the server's business, not the schema's.
            return true;
        }
        match node.child(key) {
            Some(child) => {
                prune_value(child, value, false);
                true
            }
            None => keep_unknown,
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "spec": {"type": "object", "properties": {
                    "known": {"type": "string"},
                    "nested": {"type": "object", "properties": {"a": {"type": "integer"}}},
                    "list": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                        "properties": {"typed": {"type": "object", "properties": {"x": {"type": "string"}}}}},
                    "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                        "properties": {"spec": {"type": "object", "properties": {"x": {"type": "string"}}}}}
                }},
                "status": {"type": "object", "properties": {"phase": {"type": "string"}}}
            }
        })
    }

    #[test]
    fn unknown_fields_are_dropped_everywhere() {
        let mut obj = json!({
            "apiVersion": "serin.dev/v1beta1", "kind": "Canary",
            "metadata": {"name": "c", "whatever": 1},
            "spec": {"known": "k", "unknown": 1, "nested": {"a": 1, "b": 2},
                "list": [{"name": "n", "extra": true}]},
            "status": {"phase": "x", "bogus": 1},
            "top": "dropped"
        });
        prune(&schema(), &mut obj);
        assert_eq!(
            obj,
            json!({
                "apiVersion": "serin.dev/v1beta1", "kind": "Canary",
                "metadata": {"name": "c", "whatever": 1},
                "spec": {"known": "k", "nested": {"a": 1}, "list": [{"name": "n"}]},
                "status": {"phase": "x"}
            })
        );
    }

    #[test]
    fn additional_properties_keep_every_key() {
        let mut obj = json!({"spec": {"labels": {"a": "1", "b": "2"}}});
        prune(&schema(), &mut obj);
        assert_eq!(obj["spec"]["labels"], json!({"a": "1", "b": "2"}));
    }

    #[test]
    fn preserve_unknown_fields_keeps_unknown_but_prunes_known_ones() {
        let mut obj =
            json!({"spec": {"free": {"anything": {"deep": [1]}, "typed": {"x": "1", "y": "2"}}}});
        prune(&schema(), &mut obj);
        assert_eq!(
            obj["spec"]["free"],
            json!({"anything": {"deep": [1]}, "typed": {"x": "1"}})
        );
    }

    #[test]
    fn embedded_resources_keep_their_type_and_metadata() {
        let mut obj = json!({"spec": {"template": {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"a": "b"}},
            "spec": {"x": "1", "y": "2"}, "junk": 1
        }}});
        prune(&schema(), &mut obj);
        assert_eq!(
            obj["spec"]["template"],
            json!({
                "apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"a": "b"}}, "spec": {"x": "1"}
            })
        );
    }

    #[test]
    fn a_root_that_preserves_unknown_fields_keeps_everything() {
        let schema = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
        let mut obj = json!({"spec": {"a": 1}, "other": true});
        prune(&schema, &mut obj);
        assert_eq!(obj, json!({"spec": {"a": 1}, "other": true}));
    }
}

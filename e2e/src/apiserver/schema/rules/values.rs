//! JSON values as CEL values, typed by their schema the way Kubernetes types them.

use std::collections::HashMap;
use std::sync::Arc;

use cel::Value as Cel;
use cel::objects::{Key, Map};
use serde_json::Value;

use super::Node;

/// CEL's reserved words: properties named so are reached as `__<word>__`.
const RESERVED: [&str; 20] = [
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
];

/// The name a property has in CEL (Kubernetes' escaping of `-`, `.`, `/` and `__`).
pub(crate) fn escape(name: &str) -> String {
    if RESERVED.contains(&name) {
        return format!("__{name}__");
    }
    name.replace("__", "__underscores__")
        .replace('.', "__dot__")
        .replace('-', "__dash__")
        .replace('/', "__slash__")
}

/// `value` as CEL sees it under `node`.
pub(crate) fn to_cel(node: Node<'_>, value: &Value) -> Cel {
    match value {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => number(node, n),
        Value::String(s) => string(node, s),
        Value::Array(items) => {
            let item_node = node.items().unwrap_or(Node(&Value::Null));
            Cel::List(Arc::new(
                items.iter().map(|item| to_cel(item_node, item)).collect(),
            ))
        }
        Value::Object(map) => {
            let entries: HashMap<Key, Cel> = map
                .iter()
                .map(|(name, child)| match node.property(name) {
                    Some(property) => (Key::from(escape(name)), to_cel(property, child)),
                    None => {
                        let child_node = node.additional().unwrap_or(Node(&Value::Null));
                        (Key::from(name.clone()), to_cel(child_node, child))
                    }
                })
                .collect();
            Cel::Map(Map {
                map: Arc::new(entries),
            })
        }
    }
}

fn number(node: Node<'_>, n: &serde_json::Number) -> Cel {
    let as_int = n
        .as_i64()
        .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64));
    match (node.type_name(), as_int) {
        ("number", _) => Cel::Float(n.as_f64().unwrap_or_default()),
        (_, Some(i)) => Cel::Int(i),
        _ => match n.as_u64() {
            Some(u) => Cel::UInt(u),
            None => Cel::Float(n.as_f64().unwrap_or_default()),
        },
    }
}

fn string(node: Node<'_>, s: &str) -> Cel {
    let format = node.get("format").and_then(Value::as_str);
    if format == Some("date-time")
        && let Ok(time) = chrono::DateTime::parse_from_rfc3339(s)
    {
        return Cel::Timestamp(time);
    }
    Cel::String(Arc::new(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_are_escaped_like_kubernetes() {
        assert_eq!(escape("stepWeight"), "stepWeight");
        assert_eq!(escape("x-y.z/w"), "x__dash__y__dot__z__slash__w");
        assert_eq!(escape("a__b"), "a__underscores__b");
        assert_eq!(escape("namespace"), "__namespace__");
    }

    #[test]
    fn numbers_follow_the_schema_type() {
        let number = json!({"type": "number"});
        let integer = json!({"type": "integer"});
        assert_eq!(to_cel(Node(&number), &json!(5)), Cel::Float(5.0));
        assert_eq!(to_cel(Node(&integer), &json!(5)), Cel::Int(5));
        assert_eq!(to_cel(Node(&Value::Null), &json!(0.5)), Cel::Float(0.5));
    }

    #[test]
    fn date_times_become_timestamps() {
        let schema = json!({"type": "string", "format": "date-time"});
        assert!(matches!(
            to_cel(Node(&schema), &json!("2026-01-01T00:00:00Z")),
            Cel::Timestamp(_)
        ));
        assert!(matches!(
            to_cel(Node(&schema), &json!("not a time")),
            Cel::String(_)
        ));
    }
}

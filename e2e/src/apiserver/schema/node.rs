//! Read access to one node of a schema (a JSON object in `openAPIV3Schema` form).

use serde_json::{Map, Value};

/// One schema node; a missing or malformed node reads as the empty schema.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Node<'s>(pub(crate) &'s Value);

impl<'s> Node<'s> {
    pub(crate) fn get(&self, key: &str) -> Option<&'s Value> {
        self.0.get(key)
    }

    /// The declared `type`, `""` when there is none.
    pub(crate) fn type_name(&self) -> &'s str {
        self.get("type").and_then(Value::as_str).unwrap_or_default()
    }

    pub(crate) fn flag(&self, key: &str) -> bool {
        self.get(key).and_then(Value::as_bool).unwrap_or(false)
    }

    pub(crate) fn nullable(&self) -> bool {
        self.flag("nullable")
    }

    pub(crate) fn int_or_string(&self) -> bool {
        self.flag("x-kubernetes-int-or-string")
    }

    pub(crate) fn preserves_unknown(&self) -> bool {
        self.flag("x-kubernetes-preserve-unknown-fields")
    }

    pub(crate) fn embedded(&self) -> bool {
        self.flag("x-kubernetes-embedded-resource")
    }

    pub(crate) fn properties(&self) -> Option<&'s Map<String, Value>> {
        self.get("properties")?.as_object()
    }

    pub(crate) fn property(&self, name: &str) -> Option<Node<'s>> {
        self.properties()?.get(name).map(Node)
    }

    /// The schema of `additionalProperties` when given as a schema.
    pub(crate) fn additional(&self) -> Option<Node<'s>> {
        self.get("additionalProperties")
            .filter(|v| v.is_object())
            .map(Node)
    }

    /// `additionalProperties: true`: any extra property is kept as is.
    pub(crate) fn allows_any_additional(&self) -> bool {
        self.get("additionalProperties").and_then(Value::as_bool) == Some(true)
    }

    /// The schema of a property or, failing that, of `additionalProperties`.
    pub(crate) fn child(&self, name: &str) -> Option<Node<'s>> {
        self.property(name).or_else(|| self.additional())
    }

    pub(crate) fn items(&self) -> Option<Node<'s>> {
        self.get("items").filter(|v| v.is_object()).map(Node)
    }

    pub(crate) fn number(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(Value::as_f64)
    }

    pub(crate) fn count(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(Value::as_f64).map(|f| f as i64)
    }

    pub(crate) fn schemas(&self, key: &str) -> impl Iterator<Item = Node<'s>> {
        self.get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(Node)
    }

    pub(crate) fn list_type(&self) -> &'s str {
        self.get("x-kubernetes-list-type")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    pub(crate) fn list_map_keys(&self) -> Vec<&'s str> {
        self.get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array)
            .map(|keys| keys.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }
}

/// The path of a child in kube-openapi's notation (`spec.analysis`).
pub(crate) fn child_path(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// The path of a list item in both notations (`spec.ports[0]`).
pub(crate) fn index_path(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

/// JSON's type of a value, in the schema's words (`integer` for numbers without fraction).
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

//! The CEL view of a schema node with the size bounds the cost estimator needs, built the
//! way k8s.io/apiserver's `SchemaDeclType` builds it: every list, map and string carries the
//! most elements (items, properties, bytes) it can hold, either declared (`maxItems`,
//! `maxProperties`, `maxLength`, enum values, a date/duration format) or else the most that
//! fits in one request, and every node the fewest bytes its JSON can take.

use std::collections::BTreeMap;

use serde_json::Value;

use super::super::node::Node;

/// kube-apiserver's largest request body (3 MiB): unbounded sizes are derived from it.
pub(crate) const MAX_REQUEST_BYTES: i64 = 3 * 1024 * 1024;
/// The longest RFC 3339 date-time or duration in JSON, quotes included.
const MAX_DATETIME_JSON: i64 = 32;
/// `"YYYY-MM-DD"`.
const DATE_JSON: i64 = 12;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Bool,
    Int,
    Double,
    String,
    Bytes,
    Duration,
    Timestamp,
    /// `x-kubernetes-int-or-string`: typed at run time.
    Dyn,
    List(Box<Decl>),
    Map(Box<Decl>),
    /// Fields by their CEL (escaped) names.
    Object(BTreeMap<String, Decl>),
}

/// One node: its kind, the most elements it holds (0 for scalars, as in Kubernetes) and the
/// fewest bytes its JSON form takes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decl {
    pub(crate) kind: Kind,
    pub(crate) max_elements: u64,
    pub(crate) min_size: i64,
}

/// The key type of every schema map: a string without a size of its own.
pub(crate) static MAP_KEY: Decl = Decl {
    kind: Kind::String,
    max_elements: 0,
    min_size: 2,
};

impl Decl {
    fn new(kind: Kind, max_elements: i64, min_size: i64) -> Self {
        Decl {
            kind,
            max_elements: max_elements.max(0) as u64,
            min_size,
        }
    }

    fn scalar(kind: Kind, min_size: i64) -> Self {
        Decl::new(kind, 0, min_size)
    }

    /// The field, element or key a path segment (`name`, `@items`, `@values`, `@keys`) reaches.
    pub(crate) fn step(&self, segment: &str) -> Option<&Decl> {
        match (&self.kind, segment) {
            (Kind::List(item), "@items") => Some(item),
            (Kind::Map(value), "@values") => Some(value),
            (Kind::Map(_), "@keys") => Some(&MAP_KEY),
            (Kind::Object(fields), name) => fields.get(name),
            _ => None,
        }
    }
}

/// The declaration of a schema node, `None` where CEL cannot see it (no type, a list
/// without items, a map of unexposable values). `resource_root` adds what every resource
/// exposes (`apiVersion`, `kind`, `metadata.name`, `metadata.generateName`).
pub(crate) fn decl_of(node: Node<'_>, resource_root: bool) -> Option<Decl> {
    if node.int_or_string() {
        return Some(Decl::new(Kind::Dyn, string_bound(node), 1));
    }
    match node.type_name() {
        "array" => {
            let items = node.items()?;
            let item = decl_of(items, items.embedded())?;
            let max = node
                .count("maxItems")
                .unwrap_or_else(|| items_per_request(item.min_size));
            Some(Decl::new(Kind::List(Box::new(item)), max, 2))
        }
        "object" => object(node, resource_root),
        "string" => Some(string(node)),
        "boolean" => Some(Decl::scalar(Kind::Bool, 4)),
        "number" => Some(Decl::scalar(Kind::Double, 1)),
        "integer" => Some(Decl::scalar(Kind::Int, 1)),
        _ => None,
    }
}

fn object(node: Node<'_>, resource_root: bool) -> Option<Decl> {
    if let Some(values) = node.additional() {
        let value = decl_of(values, values.embedded())?;
        let max = node
            .count("maxProperties")
            .unwrap_or_else(|| (MAX_REQUEST_BYTES - 2) / (value.min_size + 6));
        return Some(Decl::new(Kind::Map(Box::new(value)), max, 2));
    }
    let required: Vec<&str> = node
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut fields = BTreeMap::new();
    // `{}`, plus each required property without a default (defaults are filled in).
    let mut min_size = 2;
    for (name, schema) in node.properties().into_iter().flatten() {
        let property = Node(schema);
        let Some(decl) = decl_of(property, property.embedded()) else {
            continue;
        };
        if required.contains(&name.as_str()) && property.get("default").is_none() {
            min_size += name.len() as i64 + decl.min_size + 4;
        }
        if let Some(escaped) = escape_property(name) {
            fields.insert(escaped, decl);
        }
    }
    if resource_root {
        let unbounded = || Decl::new(Kind::String, MAX_REQUEST_BYTES - 2, 2);
        fields.insert("apiVersion".into(), unbounded());
        fields.insert("kind".into(), unbounded());
        let meta = BTreeMap::from([
            ("name".to_string(), unbounded()),
            ("generateName".to_string(), unbounded()),
        ]);
        fields.insert("metadata".into(), Decl::new(Kind::Object(meta), 0, 2));
    }
    Some(Decl::new(Kind::Object(fields), 0, min_size))
}

fn string(node: Node<'_>) -> Decl {
    let format = node.get("format").and_then(Value::as_str).unwrap_or("");
    match format {
        // Bytes are counted as such: no factor for multi-byte characters.
        "byte" => Decl::new(
            Kind::Bytes,
            node.count("maxLength").unwrap_or(MAX_REQUEST_BYTES - 2),
            2,
        ),
        "duration" => Decl::new(Kind::Duration, MAX_DATETIME_JSON, 3),
        "date" => Decl::new(Kind::Timestamp, DATE_JSON, DATE_JSON),
        "date-time" => Decl::new(Kind::Timestamp, MAX_DATETIME_JSON, 21),
        _ => Decl::new(Kind::String, string_bound(node), 2),
    }
}

/// The most bytes of a string: `maxLength` counts characters of up to 4 bytes; an enum
/// bounds it by its longest value; otherwise the whole request.
fn string_bound(node: Node<'_>) -> i64 {
    if let Some(max) = node.count("maxLength") {
        return max.max(0).saturating_mul(4);
    }
    let longest_enum = node
        .get("enum")
        .and_then(Value::as_array)
        .filter(|values| !values.is_empty() && !node.int_or_string())
        .map(|values| {
            values
                .iter()
                .filter_map(Value::as_str)
                .map(|s| s.len() as i64)
                .max()
                .unwrap_or(0)
        });
    longest_enum.unwrap_or(MAX_REQUEST_BYTES - 2)
}

/// How many items of at least `min_size` bytes fit in one request (`[`, `]` and commas).
fn items_per_request(min_size: i64) -> i64 {
    (MAX_REQUEST_BYTES - 2) / (min_size + 1)
}

/// How many times a node of at least `min_size` bytes can occur in one request: the
/// number of runs of a rule under unbounded lists or maps.
pub(crate) fn max_cardinality(min_size: i64) -> u64 {
    (MAX_REQUEST_BYTES / (min_size + 1)).max(0) as u64
}

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

/// A property's CEL name (Kubernetes' `Escape`), `None` for names CEL cannot reach (empty,
/// a leading digit, characters other than letters, digits, `_`, `.`, `-` and `/`).
pub(crate) fn escape_property(name: &str) -> Option<String> {
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    if RESERVED.contains(&name) {
        return Some(format!("__{name}__"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'))
    {
        return None;
    }
    Some(
        name.replace("__", "__underscores__")
            .replace('.', "__dot__")
            .replace('-', "__dash__")
            .replace('/', "__slash__"),
    )
}

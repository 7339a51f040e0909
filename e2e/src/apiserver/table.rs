//! `meta.k8s.io/v1` Table responses: what `kubectl get` prints.
//!
//! Pure functions only: the HTTP layer picks the columns (a CRD version's
//! [`crd_columns`] or [`builtin_columns`] for a built-in kind), passes the
//! objects and the list metadata, and serialises what [`table`] returns.
//!
//! Mirrors the real server: CRD columns go through the apiextensions table
//! convertor (a `Name` column first, then `additionalPrinterColumns`, or a
//! single `Age` column when there are none; `date` cells become a human age,
//! missing values `null`, which kubectl prints as `<none>`); built-in kinds
//! use the kube-apiserver printers' columns, cells always generated "wide"
//! (kubectl hides `priority > 0` columns unless `-o wide`).

mod builtin;
mod cells;
mod render;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

pub use builtin::builtin_columns;
pub use render::human_duration;

/// One column of a Table (`TableColumnDefinition` plus the path to its value).
///
/// `json_path` is a JSONPath ([`super::jsonpath`]) for CRD columns. Built-in
/// printers compute some cells (`READY 1/3`, `PORT(S)`); their columns carry a
/// `json_path` starting with [`COMPUTED_PREFIX`], understood only by [`table`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterColumn {
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: String,
    pub json_path: String,
    pub description: String,
    pub priority: i32,
    /// `name` marks the column holding the object's name.
    pub format: String,
}

/// Marks a built-in printer's computed column (see [`PrinterColumn`]).
pub const COMPUTED_PREFIX: &str = "computed:";

/// What each row carries besides its cells (`?includeObject=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    None,
    /// The server's default: a `PartialObjectMetadata`.
    #[default]
    Metadata,
    Object,
}

impl IncludeObject {
    /// Reads the `includeObject` query parameter; absent or unknown means
    /// the default (`Metadata`).
    pub fn from_query(value: Option<&str>) -> Self {
        match value {
            Some("None") => Self::None,
            Some("Object") => Self::Object,
            _ => Self::Metadata,
        }
    }
}

const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const CREATION_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

impl PrinterColumn {
    /// A priority-0 column without a format.
    pub fn new(name: &str, type_: &str, json_path: &str, description: &str) -> Self {
        Self {
            name: name.to_string(),
            type_: type_.to_string(),
            json_path: json_path.to_string(),
            description: description.to_string(),
            priority: 0,
            format: String::new(),
        }
    }

    /// The `Name` column every printer starts with.
    pub fn name_column() -> Self {
        Self {
            format: "name".into(),
            ..Self::new("Name", "string", ".metadata.name", NAME_DESCRIPTION)
        }
    }

    /// The column the apiextensions server serves when a CRD version has no
    /// `additionalPrinterColumns`.
    pub fn age_column() -> Self {
        Self::new(
            "Age",
            "date",
            ".metadata.creationTimestamp",
            CREATION_DESCRIPTION,
        )
    }

    fn with_priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    fn definition(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.type_,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// The columns of one served version of a CRD (an entry of
/// `spec.versions`): `Name`, then its `additionalPrinterColumns`, or `Age`
/// alone when it declares none (apiextensions' `serveDefaultColumnsIfEmpty`;
/// a CRD that declares columns gets no `Age` unless it lists one itself).
pub fn crd_columns(version: &Value) -> Vec<PrinterColumn> {
    let declared: Vec<PrinterColumn> = version
        .get("additionalPrinterColumns")
        .and_then(Value::as_array)
        .map(|cols| cols.iter().filter_map(crd_column).collect())
        .unwrap_or_default();
    let mut columns = vec![PrinterColumn::name_column()];
    if declared.is_empty() {
        columns.push(PrinterColumn::age_column());
    } else {
        columns.extend(declared);
    }
    columns
}

fn crd_column(col: &Value) -> Option<PrinterColumn> {
    let text = |key: &str| {
        col.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (name, json_path) = (text("name"), text("jsonPath"));
    if name.is_empty() || json_path.is_empty() {
        return None;
    }
    let mut description = text("description");
    if description.is_empty() {
        description =
            format!("Custom resource definition column (in JSONPath format): {json_path}");
    }
    let priority = col.get("priority").and_then(Value::as_i64).unwrap_or(0);
    Some(PrinterColumn {
        name,
        type_: text("type"),
        json_path,
        description,
        priority: i32::try_from(priority).unwrap_or(0),
        format: text("format"),
    })
}

/// Builds the Table for `objects` (one row each, in order). `list_metadata`
/// becomes the Table's `metadata` (`resourceVersion`, `continue`,
/// `remainingItemCount`). A `Name` column is put first when `columns` has no
/// column of format `name`.
pub fn table(
    columns: &[PrinterColumn],
    objects: &[Value],
    include: IncludeObject,
    list_metadata: Value,
) -> Value {
    table_at(columns, objects, include, list_metadata, Utc::now())
}

/// [`table`] with the clock passed in (ages are relative to `now`).
pub fn table_at(
    columns: &[PrinterColumn],
    objects: &[Value],
    include: IncludeObject,
    list_metadata: Value,
    now: DateTime<Utc>,
) -> Value {
    let mut cols: Vec<PrinterColumn> = Vec::with_capacity(columns.len() + 1);
    if !columns.iter().any(|c| c.format == "name") {
        cols.push(PrinterColumn::name_column());
    }
    cols.extend_from_slice(columns);
    let paths: Vec<Option<super::jsonpath::JsonPath>> = cols
        .iter()
        .map(|c| match c.json_path.starts_with(COMPUTED_PREFIX) {
            true => None,
            false => super::jsonpath::parse(&c.json_path).ok(),
        })
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let cells: Vec<Value> = cols
                .iter()
                .zip(&paths)
                .map(|(col, path)| cell(col, path.as_ref(), obj, now))
                .collect();
            row(cells, obj, include)
        })
        .collect();
    let metadata = match list_metadata {
        Value::Object(m) => Value::Object(m),
        _ => Value::Object(Map::new()),
    };
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": cols.iter().map(PrinterColumn::definition).collect::<Vec<_>>(),
        "rows": rows,
    })
}

fn cell(
    col: &PrinterColumn,
    path: Option<&super::jsonpath::JsonPath>,
    obj: &Value,
    now: DateTime<Utc>,
) -> Value {
    if let Some(spec) = col.json_path.strip_prefix(COMPUTED_PREFIX) {
        return builtin::computed(spec, obj, now);
    }
    if col.format == "name" && col.json_path == ".metadata.name" {
        return obj
            .pointer("/metadata/name")
            .cloned()
            .unwrap_or(Value::String(String::new()));
    }
    // Unparsable paths are refused when the CRD is validated; here they
    // simply print nothing, like the convertor's fallback.
    let Some(first) = path.and_then(|p| p.eval(obj).into_iter().next()) else {
        return Value::Null;
    };
    render::typed_cell(&col.type_, &first, now)
}

fn row(cells: Vec<Value>, obj: &Value, include: IncludeObject) -> Value {
    let mut row = Map::new();
    row.insert("cells".into(), Value::Array(cells));
    match include {
        IncludeObject::None => {}
        IncludeObject::Object => {
            row.insert("object".into(), obj.clone());
        }
        IncludeObject::Metadata => {
            let metadata = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
            row.insert(
                "object".into(),
                json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata}),
            );
        }
    }
    Value::Object(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn canary_version() -> Value {
        json!({"name": "v1beta1", "additionalPrinterColumns": [
            {"name": "Status", "type": "string", "jsonPath": ".status.phase"},
            {"name": "Weight", "type": "integer", "jsonPath": ".status.canaryWeight"},
            {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Promoted\")].status"},
            {"name": "Interval", "type": "string", "jsonPath": ".spec.analysis.interval", "priority": 1, "description": "d"},
            {"name": "LastTransitionTime", "type": "date", "jsonPath": ".status.lastTransitionTime"}
        ]})
    }

    fn canary() -> Value {
        json!({"apiVersion": "serin.dev/v1beta1", "kind": "Canary",
            "metadata": {"name": "podinfo", "namespace": "test", "resourceVersion": "42",
                         "creationTimestamp": "2026-06-01T10:00:00Z"},
            "spec": {"analysis": {"interval": "1m"}},
            "status": {"phase": "Progressing", "canaryWeight": 20,
                       "conditions": [{"type": "Promoted", "status": "Unknown"}],
                       "lastTransitionTime": "2026-06-01T11:59:00Z"}})
    }

    #[test]
    fn crd_columns_follow_the_apiextensions_convertor() {
        let cols = crd_columns(&canary_version());
        let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Name",
                "Status",
                "Weight",
                "Ready",
                "Interval",
                "LastTransitionTime"
            ]
        );
        assert_eq!(cols[0].format, "name");
        assert_eq!(cols[4].priority, 1);
        assert_eq!(
            cols[1].description,
            "Custom resource definition column (in JSONPath format): .status.phase"
        );
        let plain = crd_columns(&json!({"name": "v1"}));
        assert_eq!(
            plain,
            vec![PrinterColumn::name_column(), PrinterColumn::age_column()]
        );
    }

    #[test]
    fn crd_table_cells_and_missing_values() {
        let empty = json!({"metadata": {"name": "bare"}});
        let meta = json!({"resourceVersion": "50", "continue": "abc"});
        let t = table_at(
            &crd_columns(&canary_version()),
            &[canary(), empty],
            IncludeObject::Metadata,
            meta,
            now(),
        );
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(
            t["metadata"],
            json!({"resourceVersion": "50", "continue": "abc"})
        );
        assert_eq!(
            t["columnDefinitions"][0],
            json!({"name": "Name", "type": "string", "format": "name",
            "description": NAME_DESCRIPTION, "priority": 0})
        );
        assert_eq!(
            t["rows"][0]["cells"],
            json!(["podinfo", "Progressing", 20, "Unknown", "1m", "60s"])
        );
        assert_eq!(
            t["rows"][1]["cells"],
            json!(["bare", null, null, null, null, null])
        );
        let object = &t["rows"][0]["object"];
        assert_eq!(object["kind"], "PartialObjectMetadata");
        assert_eq!(object["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(object["metadata"]["resourceVersion"], "42");
        assert!(object.get("spec").is_none());
    }

    #[test]
    fn include_object_modes() {
        let cols = crd_columns(&json!({}));
        let full = table_at(
            &cols,
            &[canary()],
            IncludeObject::Object,
            Value::Null,
            now(),
        );
        assert_eq!(full["rows"][0]["object"], canary());
        assert_eq!(full["metadata"], json!({}));
        let none = table_at(&cols, &[canary()], IncludeObject::None, json!({}), now());
        assert!(none["rows"][0].get("object").is_none());
        assert_eq!(none["rows"][0]["cells"], json!(["podinfo", "120m"]));
        assert_eq!(
            IncludeObject::from_query(Some("Object")),
            IncludeObject::Object
        );
        assert_eq!(IncludeObject::from_query(Some("None")), IncludeObject::None);
        assert_eq!(IncludeObject::from_query(None), IncludeObject::Metadata);
    }

    #[test]
    fn a_name_column_is_added_when_missing() {
        let cols = vec![PrinterColumn::new("Phase", "string", ".status.phase", "")];
        let t = table_at(&cols, &[canary()], IncludeObject::None, json!({}), now());
        assert_eq!(t["rows"][0]["cells"], json!(["podinfo", "Progressing"]));
        let events = table_at(
            &builtin_columns("Event"),
            &[],
            IncludeObject::None,
            json!({}),
            now(),
        );
        assert_eq!(
            events["columnDefinitions"].as_array().map(Vec::len),
            Some(10)
        );
        assert_eq!(events["rows"], json!([]));
    }

    #[test]
    fn builtin_table() {
        let d = json!({"metadata": {"name": "web", "creationTimestamp": "2026-06-01T11:00:00Z"},
                       "spec": {"replicas": 2}, "status": {"readyReplicas": 2, "availableReplicas": 2}});
        let t = table_at(
            &builtin_columns("Deployment"),
            &[d],
            IncludeObject::None,
            json!({}),
            now(),
        );
        assert_eq!(
            t["rows"][0]["cells"],
            json!(["web", "2/2", 0, 2, "60m", "", "", ""])
        );
    }

    #[test]
    fn unparsable_paths_print_nothing() {
        let cols = vec![PrinterColumn::new("Bad", "string", ".status[", "")];
        let t = table_at(&cols, &[canary()], IncludeObject::None, json!({}), now());
        assert_eq!(t["rows"][0]["cells"], json!(["podinfo", null]));
    }
}

//! How single cell values render: typed CRD cells (apiextensions'
//! `cellForJSONValue`), ages (apimachinery's `duration.HumanDuration`) and
//! the Go formatting of values a string column prints.

use crate::apiserver::schema::errors::go_float;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Number, Value};

/// A CRD column's cell from the first value its path selected.
pub(super) fn typed_cell(type_: &str, value: &Value, now: DateTime<Utc>) -> Value {
    match (type_, value) {
        (_, Value::Null) => Value::Null,
        ("string", v) => go_text(v).map_or(Value::Null, Value::String),
        ("integer", Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_u64().map(|u| i64::try_from(u).unwrap_or(i64::MAX)))
            // Go converts with int64(f): truncation toward zero.
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map_or(Value::Null, Value::from),
        ("number", Value::Number(n)) => n.as_f64().map_or(Value::Null, float_value),
        ("boolean", Value::Bool(b)) => Value::Bool(*b),
        ("date", Value::String(s)) => Value::String(age_of(s, now)),
        _ => Value::Null,
    }
}

/// What client-go's JSONPath printer writes for one value: strings as they
/// are, maps and lists as compact JSON, scalars as Go's `%v`.
pub(super) fn go_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(go_number(n)),
        Value::Array(_) | Value::Object(_) => serde_json::to_string(value).ok(),
    }
}

/// Go's `%v` for a JSON number decoded the way the API server decodes
/// unstructured objects (integers as int64, the rest as float64).
fn go_number(n: &Number) -> String {
    match (n.as_i64(), n.as_u64(), n.as_f64()) {
        (Some(i), _, _) => i.to_string(),
        (_, Some(u), _) => u.to_string(),
        (_, _, Some(f)) => go_float(f),
        _ => n.to_string(),
    }
}

/// A float cell as Go's JSON encoder writes it (`3`, not `3.0`).
fn float_value(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        Value::from(f as i64)
    } else {
        Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

/// The age of an RFC 3339 timestamp (`metav1.Time.UnmarshalQueryParameter`
/// then `ConvertToHumanReadableDateType`): empty means the zero time, which
/// prints `<unknown>`; garbage prints `<invalid>`.
pub(super) fn age_of(timestamp: &str, now: DateTime<Utc>) -> String {
    if timestamp.is_empty() || timestamp == "null" {
        return "<unknown>".into();
    }
    match DateTime::parse_from_rfc3339(timestamp) {
        Ok(t) => human_duration(now.signed_duration_since(t.with_timezone(&Utc))),
        Err(_) => "<invalid>".into(),
    }
}

/// An optional timestamp's age, as the built-in printers show it
/// (`translateTimestampSince`: absent means `<unknown>`).
pub(super) fn age_since(timestamp: Option<&Value>, now: DateTime<Utc>) -> String {
    age_of(timestamp.and_then(Value::as_str).unwrap_or_default(), now)
}

/// apimachinery's `duration.HumanDuration`: `45s`, `3m20s`, `15m`, `5h10m`,
/// `2d3h`, `1y30d`; up to a second in the future counts as now.
pub fn human_duration(d: Duration) -> String {
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return with_rest(minutes, "m", seconds % 60, "s");
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        return with_rest(hours, "h", minutes % 60, "m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        return with_rest(hours / 24, "d", hours % 24, "h");
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        return with_rest(hours / 24 / 365, "y", (hours / 24) % 365, "d");
    }
    format!("{}y", hours / 24 / 365)
}

fn with_rest(major: i64, major_unit: &str, minor: i64, minor_unit: &str) -> String {
    match minor {
        0 => format!("{major}{major_unit}"),
        _ => format!("{major}{major_unit}{minor}{minor_unit}"),
    }
}

/// The string at a JSON pointer, empty when absent or not a string.
pub(super) fn str_at<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn human_durations_match_apimachinery() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (119, "119s"),
            (120, "2m"),
            (200, "3m20s"),
            (600, "10m"),
            (179 * 60, "179m"),
            (3 * 3600, "3h"),
            (5 * 3600 + 600, "5h10m"),
            (8 * 3600, "8h"),
            (47 * 3600, "47h"),
            (51 * 3600, "2d3h"),
            (10 * 86400, "10d"),
            (3 * 365 * 86400 + 86400, "3y1d"),
            (9 * 365 * 86400, "9y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(Duration::seconds(secs)), want, "{secs}s");
        }
    }

    #[test]
    fn typed_cells() {
        let n = now();
        assert_eq!(typed_cell("integer", &json!(2.9), n), json!(2));
        assert_eq!(typed_cell("integer", &json!("2"), n), Value::Null);
        assert_eq!(typed_cell("number", &json!(3), n), json!(3));
        assert_eq!(typed_cell("number", &json!(2.5), n), json!(2.5));
        assert_eq!(typed_cell("boolean", &json!(true), n), json!(true));
        assert_eq!(typed_cell("boolean", &json!("true"), n), Value::Null);
        assert_eq!(typed_cell("string", &json!(7), n), json!("7"));
        assert_eq!(typed_cell("string", &json!(0.5), n), json!("0.5"));
        assert_eq!(
            typed_cell("string", &json!({"b": 1, "a": [true]}), n),
            json!(r#"{"a":[true],"b":1}"#)
        );
        assert_eq!(typed_cell("string", &Value::Null, n), Value::Null);
        assert_eq!(
            typed_cell("date", &json!("2026-06-01T11:55:00Z"), n),
            json!("5m")
        );
        assert_eq!(
            typed_cell("date", &json!("yesterday"), n),
            json!("<invalid>")
        );
        assert_eq!(typed_cell("date", &json!(""), n), json!("<unknown>"));
        assert_eq!(typed_cell("date", &json!(5), n), Value::Null);
        assert_eq!(typed_cell("unknown-type", &json!("x"), n), Value::Null);
    }

    #[test]
    fn go_float_formatting() {
        assert_eq!(go_float(2.5), "2.5");
        assert_eq!(go_float(100000.0), "100000");
        assert_eq!(go_float(1234567.0), "1.234567e+06");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(-3.0), "-3");
    }
}

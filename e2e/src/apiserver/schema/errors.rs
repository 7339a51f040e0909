//! Field errors worded as k8s.io/apimachinery's `field.Error` prints them
//! (`<path>: <Type>: <value>: <detail>`), with Go's rendering of the bad value.

use serde_json::Value;

use super::FieldError;

pub(crate) const INVALID: &str = "FieldValueInvalid";
pub(crate) const REQUIRED: &str = "FieldValueRequired";
pub(crate) const NOT_SUPPORTED: &str = "FieldValueNotSupported";
pub(crate) const TYPE_INVALID: &str = "FieldValueTypeInvalid";
pub(crate) const DUPLICATE: &str = "FieldValueDuplicate";
pub(crate) const TOO_LONG: &str = "FieldValueTooLong";
pub(crate) const TOO_MANY: &str = "FieldValueTooMany";
pub(crate) const FORBIDDEN: &str = "FieldValueForbidden";

/// A bad value as `field.Error` renders it: scalars plainly (strings quoted), anything
/// else as JSON.
pub(crate) fn render(value: &Value) -> String {
    match value {
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (None, Some(u), _) => u.to_string(),
            (None, None, Some(f)) => go_float(f),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// Go's `%v` of a float64: the shortest digits, in exponent form below 1e-4 or from 1e+06.
pub(crate) fn go_float(f: f64) -> String {
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN".into()
        } else if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return "0".into();
    }
    let scientific = format!("{f:e}");
    let Some((mantissa, exponent)) = scientific.split_once('e') else {
        return f.to_string();
    };
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..6).contains(&exponent) {
        return f.to_string();
    }
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

/// The name of a node for field errors; the root has none (`<nil>` in Go).
pub(crate) fn field_name(path: &str) -> &str {
    if path.is_empty() { "<nil>" } else { path }
}

fn error(path: &str, reason: &'static str, body: String) -> FieldError {
    let field = field_name(path).to_string();
    FieldError {
        message: format!("{field}: {body}"),
        field,
        reason,
    }
}

fn with_detail(body: String, detail: &str) -> String {
    if detail.is_empty() {
        body
    } else {
        format!("{body}: {detail}")
    }
}

pub(crate) fn invalid(path: &str, value: &Value, detail: &str) -> FieldError {
    error(
        path,
        INVALID,
        with_detail(format!("Invalid value: {}", render(value)), detail),
    )
}

pub(crate) fn type_invalid(path: &str, value: &Value, detail: &str) -> FieldError {
    error(
        path,
        TYPE_INVALID,
        with_detail(format!("Invalid value: {}", render(value)), detail),
    )
}

pub(crate) fn required(path: &str, detail: &str) -> FieldError {
    error(
        path,
        REQUIRED,
        with_detail("Required value".to_string(), detail),
    )
}

pub(crate) fn forbidden(path: &str, detail: &str) -> FieldError {
    error(
        path,
        FORBIDDEN,
        with_detail("Forbidden".to_string(), detail),
    )
}

pub(crate) fn duplicate(path: &str, value: &Value) -> FieldError {
    error(
        path,
        DUPLICATE,
        format!("Duplicate value: {}", render(value)),
    )
}

pub(crate) fn not_supported(path: &str, value: &Value, allowed: &[Value]) -> FieldError {
    let quoted: Vec<String> = allowed
        .iter()
        .map(|v| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Value::String(text).to_string()
        })
        .collect();
    let detail = if quoted.is_empty() {
        String::new()
    } else {
        format!("supported values: {}", quoted.join(", "))
    };
    error(
        path,
        NOT_SUPPORTED,
        with_detail(format!("Unsupported value: {}", render(value)), &detail),
    )
}

pub(crate) fn too_long(path: &str, max: i64) -> FieldError {
    let unit = if max == 1 { "byte" } else { "bytes" };
    error(
        path,
        TOO_LONG,
        format!("Too long: may not be more than {max} {unit}"),
    )
}

pub(crate) fn too_many(path: &str, actual: usize, max: i64) -> FieldError {
    let unit = if max == 1 { "item" } else { "items" };
    error(
        path,
        TOO_MANY,
        format!("Too many: {actual}: must have at most {max} {unit}"),
    )
}

/// An error of a reason named by a CEL rule's `reason`.
pub(crate) fn for_reason(
    path: &str,
    reason: Option<&str>,
    type_name: &str,
    detail: &str,
) -> FieldError {
    let value = Value::String(type_name.to_string());
    match reason {
        Some(FORBIDDEN) => forbidden(path, detail),
        Some(REQUIRED) => required(path, detail),
        Some(DUPLICATE) => duplicate(path, &value),
        _ => invalid(path, &value, detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_render_like_go() {
        assert_eq!(render(&json!(101)), "101");
        assert_eq!(render(&json!("foo")), "\"foo\"");
        assert_eq!(render(&json!(true)), "true");
        assert_eq!(render(&json!(0.5)), "0.5");
        assert_eq!(render(&json!(100.0)), "100");
        assert_eq!(render(&Value::Null), "null");
        assert_eq!(render(&json!({"b": 1, "a": [1]})), r#"{"a":[1],"b":1}"#);
        assert_eq!(go_float(1_000_000.0), "1e+06");
        assert_eq!(go_float(123456.0), "123456");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(1234567.0), "1.234567e+06");
    }

    #[test]
    fn messages_follow_field_error() {
        assert_eq!(
            required("spec.targetRef", "").message,
            "spec.targetRef: Required value"
        );
        assert_eq!(
            not_supported(
                "spec.provider",
                &json!("foo"),
                &[json!("istio"), json!("kubernetes")]
            )
            .message,
            r#"spec.provider: Unsupported value: "foo": supported values: "istio", "kubernetes""#
        );
        assert_eq!(
            not_supported("spec.n", &json!(3), &[json!(1), json!(2)]).message,
            r#"spec.n: Unsupported value: 3: supported values: "1", "2""#
        );
        assert_eq!(
            too_long("spec.x", 4096).message,
            "spec.x: Too long: may not be more than 4096 bytes"
        );
        assert_eq!(
            too_many("spec.x", 3, 2).message,
            "spec.x: Too many: 3: must have at most 2 items"
        );
        assert_eq!(
            for_reason("", None, "object", "bad").message,
            r#"<nil>: Invalid value: "object": bad"#
        );
        assert_eq!(
            for_reason("spec", Some(FORBIDDEN), "object", "no").message,
            "spec: Forbidden: no"
        );
        assert_eq!(
            duplicate("spec.x[1]", &json!("a")).message,
            r#"spec.x[1]: Duplicate value: "a""#
        );
    }
}

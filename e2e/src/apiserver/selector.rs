//! Label selectors (`=`, `==`, `!=`, `in`, `notin`, exists, `!exists`) and field selectors
//! (`=`, `==`, `!=` on a dotted field path), parsed from their query-string forms.

use serde_json::Value;

use super::error::{ApiError, ApiResult};

#[derive(Debug, Clone, PartialEq)]
enum LabelReq {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<LabelReq>);

/// Splits on commas outside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

fn parse_set(rest: &str, whole: &str) -> ApiResult<Vec<String>> {
    let inner = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| bad_selector(whole, "expected a parenthesized set of values"))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

fn bad_selector(req: &str, why: &str) -> ApiError {
    ApiError::bad_request(format!("unable to parse requirement: {req}: {why}"))
}

fn check_key(key: &str, whole: &str) -> ApiResult<String> {
    let ok = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if ok {
        Ok(key.to_string())
    } else {
        Err(bad_selector(whole, "invalid label key"))
    }
}

fn parse_label_req(req: &str) -> ApiResult<LabelReq> {
    if let Some(key) = req.strip_prefix('!') {
        return Ok(LabelReq::NotExists(check_key(key.trim(), req)?));
    }
    for (op, negate) in [(" notin ", true), (" in ", false)] {
        if let Some(pos) = req.find(op) {
            let key = check_key(req[..pos].trim(), req)?;
            let set = parse_set(&req[pos + op.len()..], req)?;
            return Ok(if negate {
                LabelReq::NotIn(key, set)
            } else {
                LabelReq::In(key, set)
            });
        }
    }
    if let Some((k, v)) = req.split_once("!=") {
        return Ok(LabelReq::NotEq(
            check_key(k.trim(), req)?,
            v.trim().to_string(),
        ));
    }
    if let Some((k, v)) = req.split_once("==").or_else(|| req.split_once('=')) {
        return Ok(LabelReq::Eq(
            check_key(k.trim(), req)?,
            v.trim().to_string(),
        ));
    }
    Ok(LabelReq::Exists(check_key(req.trim(), req)?))
}

impl LabelSelector {
    pub fn parse(s: &str) -> ApiResult<Self> {
        split_top(s)
            .into_iter()
            .map(parse_label_req)
            .collect::<ApiResult<Vec<_>>>()
            .map(Self)
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let labels = &obj["metadata"]["labels"];
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        self.0.iter().all(|req| match req {
            LabelReq::Eq(k, v) => get(k) == Some(v.as_str()),
            LabelReq::NotEq(k, v) => get(k) != Some(v.as_str()),
            LabelReq::In(k, set) => get(k).is_some_and(|l| set.iter().any(|v| v == l)),
            LabelReq::NotIn(k, set) => get(k).is_none_or(|l| !set.iter().any(|v| v == l)),
            LabelReq::Exists(k) => get(k).is_some(),
            LabelReq::NotExists(k) => get(k).is_none(),
        })
    }
}

/// Turns a structured `LabelSelector` object (matchLabels/matchExpressions) into a selector.
pub fn from_label_selector_object(sel: &Value) -> LabelSelector {
    let mut reqs = Vec::new();
    if let Some(map) = sel["matchLabels"].as_object() {
        for (k, v) in map {
            reqs.push(LabelReq::Eq(
                k.clone(),
                v.as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    for expr in sel["matchExpressions"].as_array().into_iter().flatten() {
        let key = expr["key"].as_str().unwrap_or_default().to_string();
        let values: Vec<String> = expr["values"]
            .as_array()
            .map(|vs| {
                vs.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        match expr["operator"].as_str() {
            Some("In") => reqs.push(LabelReq::In(key, values)),
            Some("NotIn") => reqs.push(LabelReq::NotIn(key, values)),
            Some("Exists") => reqs.push(LabelReq::Exists(key)),
            Some("DoesNotExist") => reqs.push(LabelReq::NotExists(key)),
            _ => {}
        }
    }
    LabelSelector(reqs)
}

/// The string form (`a=b,c in (d)`) of a structured selector, as Scale's `status.selector`.
pub fn selector_object_to_string(sel: &Value) -> String {
    from_label_selector_object(sel)
        .0
        .iter()
        .map(|r| match r {
            LabelReq::Eq(k, v) => format!("{k}={v}"),
            LabelReq::NotEq(k, v) => format!("{k}!={v}"),
            LabelReq::In(k, vs) => format!("{k} in ({})", vs.join(",")),
            LabelReq::NotIn(k, vs) => format!("{k} notin ({})", vs.join(",")),
            LabelReq::Exists(k) => k.clone(),
            LabelReq::NotExists(k) => format!("!{k}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A parsed field selector: (path, value, negated).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(Vec<(String, String, bool)>);

impl FieldSelector {
    pub fn parse(s: &str) -> ApiResult<Self> {
        let mut reqs = Vec::new();
        for req in s.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            let (path, value, neg) = if let Some((k, v)) = req.split_once("!=") {
                (k, v, true)
            } else if let Some((k, v)) = req.split_once("==").or_else(|| req.split_once('=')) {
                (k, v, false)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{s}'; can't understand '{req}'"
                )));
            };
            reqs.push((path.trim().to_string(), value.trim().to_string(), neg));
        }
        Ok(Self(reqs))
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.matches_by(|path| Some(field_value(obj, path)))
    }

    /// Matches with a kind-specific lookup of field labels (None: not selectable).
    pub fn matches_by(&self, lookup: impl Fn(&str) -> Option<String>) -> bool {
        self.0
            .iter()
            .all(|(path, want, neg)| (lookup(path).unwrap_or_default() == *want) != *neg)
    }

    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(path, _, _)| path.as_str())
    }
}

/// The string value of a field path as field selectors compare it ("" when absent).
fn field_value(obj: &Value, path: &str) -> String {
    let mut cur = obj;
    for part in path.split('.') {
        cur = &cur[part];
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj() -> Value {
        json!({"kind": "Event", "metadata": {"name": "a", "namespace": "n", "labels": {"app": "x", "tier": "web"}},
               "involvedObject": {"kind": "Canary", "name": "c"}, "source": {"component": "serin"}})
    }

    #[test]
    fn label_selectors() {
        let o = obj();
        for (sel, want) in [
            ("app=x", true),
            ("app==x,tier=web", true),
            ("app!=x", false),
            ("app in (y, x)", true),
            ("tier notin (web)", false),
            ("app,!missing", true),
            ("missing", false),
            ("", true),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(&o),
                want,
                "{sel}"
            );
        }
        assert!(LabelSelector::parse("a in b").is_err());
    }

    #[test]
    fn field_selectors() {
        let o = obj();
        let sel = FieldSelector::parse(
            "involvedObject.kind=Canary,metadata.name==a,source.component=serin",
        )
        .unwrap();
        assert!(sel.matches(&o));
        assert!(
            !FieldSelector::parse("metadata.namespace!=n")
                .unwrap()
                .matches(&o)
        );
        assert!(FieldSelector::parse("nonsense").is_err());
    }

    #[test]
    fn structured_selector() {
        let sel = json!({"matchLabels": {"app": "x"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]});
        assert!(from_label_selector_object(&sel).matches(&obj()));
        assert_eq!(selector_object_to_string(&sel), "app=x,tier in (web)");
    }
}

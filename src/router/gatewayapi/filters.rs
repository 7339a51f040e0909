//! The spec's Istio-shaped route fields, as Flagger reads them for Gateway API: matches
//! (`service.match`, A/B matches), header modifiers (`service.headers`), URL rewrite
//! (`service.rewrite`), mirrors (`service.mirror`), CORS (`service.corsPolicy`) and the
//! timeouts (`service.timeout`, `service.backendTimeout`); and the cookie rules of session
//! affinity. What has no Gateway API equivalent is left out rather than guessed.

use serde_json::{Map, Value, json};

use crate::api::Canary;

/// One rule of the HTTPRoute with the spec's matches, filters and timeout.
pub(super) fn http_rule(canary: &Canary, backends: Vec<Value>) -> Value {
    let s = &canary.spec.service;
    let mut rule = json!({ "backendRefs": backends });
    if let Some(m) = s.match_.as_ref().and_then(http_matches) {
        rule["matches"] = m;
    }
    let mut filters = Vec::new();
    if let Some(h) = &s.headers {
        for (side, kind, field) in [
            ("request", "RequestHeaderModifier", "requestHeaderModifier"),
            (
                "response",
                "ResponseHeaderModifier",
                "responseHeaderModifier",
            ),
        ] {
            if let Some(m) = h.get(side).and_then(header_modifier) {
                filters.push(json!({ "type": kind, field: m }));
            }
        }
    }
    if let Some(r) = s.rewrite.as_ref().and_then(rewrite) {
        filters.push(json!({ "type": "URLRewrite", "urlRewrite": r }));
    }
    filters.extend(
        s.mirror
            .iter()
            .flat_map(|m| m.as_array().into_iter().flatten())
            .filter_map(|m| request_mirror(m.get("backendRef")?)),
    );
    if let Some(c) = s.cors_policy.as_ref().and_then(cors) {
        filters.push(json!({ "type": "CORS", "cors": c }));
    }
    if !filters.is_empty() {
        rule["filters"] = json!(filters);
    }
    let mut timeouts = Map::new();
    if let Some(t) = &s.timeout {
        timeouts.insert("request".into(), json!(t));
    }
    if let Some(t) = &s.backend_timeout {
        timeouts.insert("backendRequest".into(), json!(t));
    }
    if !timeouts.is_empty() {
        rule["timeouts"] = Value::Object(timeouts);
    }
    rule
}

/// A RequestMirror filter copying the rule's requests to `backend` (a Gateway API
/// BackendObjectReference: `name`, and `group`, `kind`, `namespace`, `port` when set).
/// Responses of the mirror are discarded. `None` without a name.
pub(super) fn request_mirror(backend: &Value) -> Option<Value> {
    let name = backend.get("name").and_then(Value::as_str)?;
    let mut out = Map::new();
    out.insert("name".into(), json!(name));
    for key in ["group", "kind", "namespace", "port"] {
        if let Some(v) = backend.get(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), v.clone());
        }
    }
    Some(json!({"type": "RequestMirror", "requestMirror": {"backendRef": out}}))
}

/// Istio HTTPMatchRequests (uri, headers, method, queryParams) as HTTPRouteMatches.
/// `None` when the list is empty or no entry translates.
pub(super) fn http_matches(istio: &Value) -> Option<Value> {
    let out: Vec<Value> = istio.as_array()?.iter().filter_map(http_match).collect();
    (!out.is_empty()).then(|| json!(out))
}

fn http_match(m: &Value) -> Option<Value> {
    let mut out = Map::new();
    if let Some((kind, value)) = m.get("uri").and_then(string_match) {
        let kind = match kind {
            "exact" => "Exact",
            "prefix" => "PathPrefix",
            _ => "RegularExpression",
        };
        out.insert("path".into(), json!({"type": kind, "value": value}));
    }
    for (istio_key, gw_key) in [("headers", "headers"), ("queryParams", "queryParams")] {
        let Some(map) = m.get(istio_key).and_then(Value::as_object) else {
            continue;
        };
        let list: Vec<Value> = map
            .iter()
            .filter_map(|(name, sm)| {
                let (kind, value) = string_match(sm)?;
                let kind = if kind == "regex" {
                    "RegularExpression"
                } else {
                    "Exact"
                };
                Some(json!({"type": kind, "name": name, "value": value}))
            })
            .collect();
        if !list.is_empty() {
            out.insert(gw_key.into(), json!(list));
        }
    }
    if let Some((_, method)) = m.get("method").and_then(string_match) {
        out.insert("method".into(), json!(method));
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

/// An Istio StringMatch (`{exact|prefix|regex: value}`) as (kind, value).
fn string_match(v: &Value) -> Option<(&'static str, String)> {
    ["exact", "prefix", "regex"]
        .into_iter()
        .find_map(|k| v.get(k).and_then(Value::as_str).map(|s| (k, s.to_string())))
}

/// Istio `{set, add, remove}` header operations as an HTTPHeaderFilter.
fn header_modifier(ops: &Value) -> Option<Value> {
    let mut out = Map::new();
    for key in ["set", "add"] {
        if let Some(map) = ops.get(key).and_then(Value::as_object) {
            let list: Vec<Value> = map
                .iter()
                .map(|(name, value)| json!({"name": name, "value": value.as_str().unwrap_or_default()}))
                .collect();
            if !list.is_empty() {
                out.insert(key.into(), json!(list));
            }
        }
    }
    if let Some(list) = ops.get("remove").and_then(Value::as_array)
        && !list.is_empty()
    {
        out.insert("remove".into(), json!(list));
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

/// Flagger's HTTPRewrite (`uri`, `authority`, `type`) as an HTTPURLRewriteFilter. As in
/// Flagger, `type: ReplacePrefixMatch` replaces the path prefix the match selected, and
/// anything else (or nothing) replaces the full path.
fn rewrite(r: &Value) -> Option<Value> {
    let mut out = Map::new();
    if let Some(host) = r
        .get("authority")
        .and_then(Value::as_str)
        .filter(|h| !h.is_empty())
    {
        out.insert("hostname".into(), json!(host));
    }
    if let Some(uri) = r
        .get("uri")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
    {
        let path = if r.get("type").and_then(Value::as_str) == Some("ReplacePrefixMatch") {
            json!({"type": "ReplacePrefixMatch", "replacePrefixMatch": uri})
        } else {
            json!({"type": "ReplaceFullPath", "replaceFullPath": uri})
        };
        out.insert("path".into(), path);
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

/// Istio CorsPolicy as the Gateway API CORS filter. The deprecated `allowOrigin` strings
/// are taken as they are (Flagger's mapping); Istio's origin matches (`allowOrigins`,
/// which Flagger drops) become the origins themselves: exact, and prefix as a trailing
/// wildcard; a regex has no Gateway API form and is dropped.
fn cors(c: &Value) -> Option<Value> {
    let mut out = Map::new();
    let origins: Vec<String> = ["allowOrigin", "allowOrigins"]
        .into_iter()
        .filter_map(|key| c.get(key).and_then(Value::as_array))
        .flatten()
        .filter_map(|o| match string_match(o) {
            Some(("exact", v)) => Some(v),
            Some(("prefix", v)) => Some(format!("{v}*")),
            _ => o.as_str().map(str::to_string),
        })
        .collect();
    if !origins.is_empty() {
        out.insert("allowOrigins".into(), json!(origins));
    }
    for key in ["allowMethods", "allowHeaders", "exposeHeaders"] {
        if let Some(v) = c.get(key).filter(|v| v.is_array()) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(b) = c.get("allowCredentials").and_then(Value::as_bool) {
        out.insert("allowCredentials".into(), json!(b));
    }
    if let Some(secs) = c
        .get("maxAge")
        .and_then(Value::as_str)
        .and_then(|d| crate::api::parse_duration(d).ok())
    {
        out.insert("maxAge".into(), json!(secs.as_secs()));
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

/// A backend filter adding `Set-Cookie: value` to the responses through that backend.
pub(super) fn set_cookie(value: &str) -> Value {
    json!({"type": "ResponseHeaderModifier",
           "responseHeaderModifier": {"add": [{"name": "Set-Cookie", "value": value}]}})
}

/// `matches` (the rule's, or one catch-all when it has none) each narrowed to requests
/// whose `Cookie` header holds `cookie` (`name=value`), matched as the Istio router does.
pub(super) fn with_cookie(matches: &Value, cookie: &str) -> Value {
    let mut escaped = String::with_capacity(cookie.len());
    for c in cookie.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    let header = json!({"type": "RegularExpression", "name": "Cookie",
                        "value": format!("^(.*?;)?({escaped})(;.*)?$")});
    let base: Vec<Value> = match matches.as_array() {
        Some(list) if !list.is_empty() => list.clone(),
        _ => vec![json!({})],
    };
    let out: Vec<Value> = base
        .into_iter()
        .map(|mut m| {
            let mut headers = m["headers"].as_array().cloned().unwrap_or_default();
            headers.push(header.clone());
            m["headers"] = json!(headers);
            m
        })
        .collect();
    json!(out)
}

/// The A/B matches narrowed by the Service's (as Flagger merges them): one match per pair,
/// the Service's with the A/B headers and query parameters in place of its own, so a
/// request reaches the canary only if the Service's rule would take it at all.
pub(super) fn merge_matches(ab: &Value, service: &Value) -> Value {
    let (Some(ab), Some(service)) = (ab.as_array(), service.as_array()) else {
        return ab.clone();
    };
    if service.is_empty() {
        return json!(ab);
    }
    let mut out = Vec::new();
    for a in ab {
        for s in service {
            let mut merged = s.clone();
            for key in ["headers", "queryParams"] {
                if let Some(v) = a
                    .get(key)
                    .filter(|v| v.as_array().is_some_and(|l| !l.is_empty()))
                {
                    merged[key] = v.clone();
                }
            }
            out.push(merged);
        }
    }
    json!(out)
}

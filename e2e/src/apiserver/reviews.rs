//! `authentication.k8s.io/v1` `selfsubjectreviews`: who the API server takes the caller
//! for (`kubectl auth whoami`), as a real server answers it.
//!
//! The contract (Kubernetes 1.28+, `pkg/registry/authentication/selfsubjectreview`):
//! cluster-scoped, `create` only (any other method is 405 MethodNotAllowed, a name in
//! the path is 404), nothing stored; the answer is 201 with the same kind,
//! `metadata.creationTimestamp` set and `status.userInfo` the caller's user.
//!
//! The sandbox authenticates no one: a caller is `system:anonymous` in group
//! `system:unauthenticated`, as with anonymous authentication on a real server, unless
//! it impersonates (`kubectl --as`, `--as-group`; the `Impersonate-*` headers), which the
//! sandbox allows anyone (no RBAC). Impersonation follows the real filter
//! (`k8s.io/apiserver/pkg/endpoints/filters/impersonation.go`): a service account gets
//! its `system:serviceaccounts` groups when no group is given, every user but
//! `system:anonymous` gets `system:authenticated`, and a group, uid or extra without a
//! user is a 500.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::error::ApiError;
use super::http::response::{error_response, json_response, parse_body};
use super::http::server::Req;

pub const GROUP: &str = "authentication.k8s.io";
pub const VERSION: &str = "v1";
pub const PLURAL: &str = "selfsubjectreviews";
const KIND: &str = "SelfSubjectReview";

/// The discovery entry of the resource in `authentication.k8s.io/v1`.
pub fn discovery_entry() -> Value {
    json!({"name": PLURAL, "singularName": "selfsubjectreview", "namespaced": false,
           "kind": KIND, "verbs": ["create"]})
}

/// Answers a request under `/apis/authentication.k8s.io/v1/` (`rest` is what follows).
pub fn handle(rest: &[&str], req: &Req, path: &str) -> Response {
    match rest {
        [PLURAL] if req.method == Method::POST => create(req),
        [PLURAL] => error_response(&ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )),
        _ => error_response(&ApiError::no_route(path)),
    }
}

fn create(req: &Req) -> Response {
    match review(req) {
        Ok(body) => json_response(StatusCode::CREATED, &body, &[]),
        Err(e) => error_response(&e),
    }
}

fn review(req: &Req) -> Result<Value, ApiError> {
    let content_type = req.header(axum::http::header::CONTENT_TYPE);
    let body = parse_body(content_type, &req.body)?;
    check_type(&body)?;
    let user = caller(&req.headers)?;
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    Ok(json!({
        "kind": KIND,
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "metadata": {"creationTimestamp": now},
        "status": {"userInfo": user},
    }))
}

/// A body of another kind or version is refused; missing ones default to the path's.
fn check_type(body: &Value) -> Result<(), ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request was in an unknown format",
        ));
    }
    let api_version = body["apiVersion"].as_str().unwrap_or_default();
    let kind = body["kind"].as_str().unwrap_or_default();
    let expected = format!("{GROUP}/{VERSION}");
    if !api_version.is_empty() && api_version != expected {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({expected})"
        )));
    }
    if !kind.is_empty() && kind != KIND {
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"{VERSION}\" cannot be handled as a {KIND}"
        )));
    }
    Ok(())
}

/// The user of a request: anonymous, or whom it impersonates.
fn caller(headers: &HeaderMap) -> Result<Value, ApiError> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect()
    };
    let user = values("impersonate-user").into_iter().next();
    let uid = values("impersonate-uid").into_iter().next();
    let mut groups = values("impersonate-group");
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        if let Some(key) = name.as_str().strip_prefix("impersonate-extra-") {
            let key = percent_decode(key).to_lowercase();
            if let Ok(v) = value.to_str() {
                extra.entry(key).or_default().push(v.to_string());
            }
        }
    }
    let Some(user) = user else {
        if !groups.is_empty() || uid.is_some() || !extra.is_empty() {
            return Err(ApiError::internal(
                "requested impersonation of groups, uid or extra without impersonating a user",
            ));
        }
        return Ok(json!({"username": "system:anonymous", "groups": ["system:unauthenticated"]}));
    };
    if groups.is_empty()
        && let Some(ns) = user
            .strip_prefix("system:serviceaccount:")
            .and_then(|rest| rest.split(':').next())
    {
        groups = vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{ns}"),
        ];
    }
    if user != "system:anonymous" && !groups.iter().any(|g| g == "system:authenticated") {
        groups.push("system:authenticated".into());
    }
    let mut info = json!({"username": user, "groups": groups});
    if let Some(uid) = uid {
        info["uid"] = json!(uid);
    }
    if !extra.is_empty() {
        info["extra"] = json!(extra);
    }
    Ok(info)
}

/// `%2F` -> `/` in an extra's key, as the header names carry them.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        if bytes[i] == b'%'
            && let Some(b) = hex
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn anonymous_without_impersonation() {
        assert_eq!(
            caller(&HeaderMap::new()).unwrap(),
            json!({"username": "system:anonymous", "groups": ["system:unauthenticated"]})
        );
    }

    #[test]
    fn impersonated_users_are_authenticated() {
        let h = headers(&[
            ("impersonate-user", "alice@example.com"),
            ("impersonate-group", "sre"),
            ("impersonate-extra-scopes", "view"),
            ("impersonate-extra-example.com%2fteam", "web"),
        ]);
        assert_eq!(
            caller(&h).unwrap(),
            json!({"username": "alice@example.com", "groups": ["sre", "system:authenticated"],
                   "extra": {"example.com/team": ["web"], "scopes": ["view"]}})
        );
    }

    #[test]
    fn service_accounts_get_their_groups() {
        let h = headers(&[("impersonate-user", "system:serviceaccount:shop:deployer")]);
        assert_eq!(
            caller(&h).unwrap()["groups"],
            json!([
                "system:serviceaccounts",
                "system:serviceaccounts:shop",
                "system:authenticated"
            ])
        );
    }

    #[test]
    fn a_group_without_a_user_is_refused() {
        let h = headers(&[("impersonate-group", "sre")]);
        assert_eq!(caller(&h).unwrap_err().code, 500);
    }

    #[test]
    fn other_kinds_are_refused() {
        assert!(
            check_type(&json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview"}))
                .is_err()
        );
        assert!(check_type(&json!({"apiVersion": "v1", "kind": "SelfSubjectReview"})).is_err());
        assert!(check_type(&json!({})).is_ok());
        assert!(check_type(&json!([])).is_err());
    }
}

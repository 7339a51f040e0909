//! The HTTP front: one axum fallback handler that routes by path (discovery, OpenAPI,
//! `/sandbox/` switches, resources), counts requests, injects faults and dispatches to
//! the handler of each verb.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error::ApiError;
use super::http::faults::FaultSettings;
use super::http::response::{error_response, json_response, ok};
use super::http::server::{Req, Server, Target};
use super::http::{discovery, openapi};
use super::reviews;
use super::verbs::{delete, patching, read, watch as watching, write};

pub async fn handle(
    State(srv): State<Arc<Server>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Response {
    let req = Req {
        method,
        query,
        headers,
        body,
    };
    let path = uri.path().trim_end_matches('/').to_string();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["version"] => ok(&discovery::version()),
        ["healthz" | "readyz" | "livez", ..] => (StatusCode::OK, "ok").into_response(),
        ["sandbox", "faults"] => faults_endpoint(&srv, &req),
        ["sandbox", "counters"] => counters_endpoint(&srv, &req),
        ["openapi", "v2"] => openapi::v2(&req.headers),
        ["openapi", "v3"] => ok(&openapi::root(&srv.lock().registry)),
        ["openapi", "v3", rest @ ..] => {
            match openapi::document(&srv.lock().registry, &rest.join("/")) {
                Some(doc) => ok(&doc),
                None => error_response(&ApiError::no_route(&path)),
            }
        }
        ["api"] => ok(&discovery::core_versions(srv.addr)),
        ["apis"] => ok(&discovery::groups(&srv.lock().registry)),
        ["api", "v1"] => ok(&discovery::resources(&srv.lock().registry, "", "v1")),
        ["apis", group] => match discovery::group(&srv.lock().registry, group) {
            Some(g) => ok(&g),
            None => error_response(&ApiError::no_route(&path)),
        },
        ["apis", group, version] => {
            let list = discovery::resources(&srv.lock().registry, group, version);
            if list["resources"].as_array().is_some_and(Vec::is_empty) {
                error_response(&ApiError::no_route(&path))
            } else {
                ok(&list)
            }
        }
        ["api", "v1", rest @ ..] => resource(&srv, "", "v1", rest, req, &path).await,
        ["apis", reviews::GROUP, reviews::VERSION, rest @ ..] => {
            srv.counters
                .count(verb_of(&req.method, false, false), reviews::PLURAL);
            if srv.faults.should_fail("create") {
                return error_response(&ApiError::internal(
                    "an error injected by the sandbox's fault switches",
                ));
            }
            reviews::handle(rest, &req, &path)
        }
        ["apis", group, version, rest @ ..] => {
            resource(&srv, group, version, rest, req, &path).await
        }
        _ => error_response(&ApiError::no_route(&path)),
    }
}

/// (namespace, plural, name, subresource) of a resource path.
type PathParts<'a> = (Option<&'a str>, &'a str, Option<&'a str>, Option<&'a str>);

/// Splits `namespaces/{ns}/{plural}/{name}/{sub}` or `{plural}/{name}/{sub}`.
fn split_resource_path<'a>(rest: &[&'a str]) -> Option<PathParts<'a>> {
    match rest {
        ["namespaces", ns, plural, tail @ ..]
            if !matches!(*plural, "status" | "finalize") || !tail.is_empty() =>
        {
            Some((
                Some(ns),
                plural,
                tail.first().copied(),
                tail.get(1).copied(),
            ))
        }
        [plural, tail @ ..] if tail.len() <= 2 => {
            Some((None, plural, tail.first().copied(), tail.get(1).copied()))
        }
        _ => None,
    }
}

fn verb_of(method: &Method, has_name: bool, watch: bool) -> &'static str {
    match (method.as_str(), has_name) {
        ("GET", true) => "get",
        ("GET", false) if watch => "watch",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    }
}

async fn resource(
    srv: &Arc<Server>,
    group: &str,
    version: &str,
    rest: &[&str],
    req: Req,
    path: &str,
) -> Response {
    let Some((namespace, plural, name, sub)) = split_resource_path(rest) else {
        return error_response(&ApiError::no_route(path));
    };
    let Some(def) = srv.lock().registry.lookup(group, version, plural) else {
        return error_response(&ApiError::no_route(path));
    };
    let scoped_ok = def.namespaced || namespace.is_none();
    let sub_ok = sub.is_none_or(|s| def.has_subresource(s));
    if !scoped_ok || !sub_ok || (name.is_some() && def.namespaced && namespace.is_none()) {
        return error_response(&ApiError::no_route(path));
    }
    let verb = verb_of(&req.method, name.is_some(), req.flag("watch"));
    let counted = match sub {
        Some(s) => format!("{plural}/{s}"),
        None => plural.to_string(),
    };
    srv.counters.count(verb, &counted);
    let latency = srv.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(err) = srv
        .faults
        .inject(verb, req.header(axum::http::header::USER_AGENT))
    {
        let mut resp = error_response(&err);
        if err.code == 429 {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        return resp;
    }
    let target = Target {
        def,
        version: version.to_string(),
        namespace: namespace.map(str::to_string),
        name: name.map(str::to_string),
        subresource: sub.map(str::to_string),
    };
    let response = match verb {
        "get" => read::get(srv, &target, &req),
        "list" => read::list(srv, &target, &req),
        "watch" => watching::watch(srv, &target, &req),
        "create" if target.name.is_none() => write::create(srv, &target, &req),
        "update" => write::update(srv, &target, &req),
        "patch" => patching::patch(srv, &target, &req),
        "delete" => delete::delete(srv, &target, &req),
        "deletecollection" => delete::delete_collection(srv, &target, &req),
        _ => error_response(&ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({path})"
        ))),
    };
    // 409s (a stale resourceVersion, or AlreadyExists) counted once more under the verb
    // `conflict`, so a benchmark can tell how many writes were refused.
    if response.status() == StatusCode::CONFLICT {
        srv.counters.count("conflict", &counted);
    }
    response
}

fn faults_endpoint(srv: &Server, req: &Req) -> Response {
    match req.method.as_str() {
        "GET" => ok(&serde_json::to_value(srv.faults.settings()).unwrap_or_default()),
        "PUT" | "POST" => match serde_json::from_slice::<FaultSettings>(&req.body) {
            Ok(settings) => {
                srv.faults.apply(&settings);
                ok(&serde_json::to_value(srv.faults.settings()).unwrap_or_default())
            }
            Err(e) => error_response(&ApiError::bad_request(format!(
                "invalid fault settings: {e}"
            ))),
        },
        _ => error_response(&ApiError::method_not_allowed("use GET or PUT")),
    }
}

fn counters_endpoint(srv: &Server, req: &Req) -> Response {
    match req.method.as_str() {
        "GET" => ok(&srv.counters.to_json()),
        "DELETE" => {
            srv.counters.reset();
            json_response(StatusCode::OK, &Value::Object(Default::default()), &[])
        }
        _ => error_response(&ApiError::method_not_allowed("use GET or DELETE")),
    }
}

#[cfg(test)]
mod tests {
    use super::split_resource_path;

    #[test]
    fn paths() {
        assert_eq!(
            split_resource_path(&["namespaces"]),
            Some((None, "namespaces", None, None))
        );
        assert_eq!(
            split_resource_path(&["namespaces", "a"]),
            Some((None, "namespaces", Some("a"), None))
        );
        assert_eq!(
            split_resource_path(&["namespaces", "a", "status"]),
            Some((None, "namespaces", Some("a"), Some("status")))
        );
        assert_eq!(
            split_resource_path(&["namespaces", "a", "pods"]),
            Some((Some("a"), "pods", None, None))
        );
        assert_eq!(
            split_resource_path(&["namespaces", "a", "deployments", "d", "scale"]),
            Some((Some("a"), "deployments", Some("d"), Some("scale")))
        );
        assert_eq!(
            split_resource_path(&["deployments"]),
            Some((None, "deployments", None, None))
        );
        assert_eq!(split_resource_path(&["a", "b", "c", "d"]), None);
    }
}

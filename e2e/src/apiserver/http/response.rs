//! Response building: JSON bodies, `Warning` headers, error `Status` bodies, and the
//! alternative renderings a client may ask for in `Accept` (`as=Table`,
//! `as=PartialObjectMetadata[List]`).

use std::borrow::Cow;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::apiserver::error::ApiError;
use crate::apiserver::storage::cluster::to_served;
use crate::apiserver::storage::registry::{ResourceDef, View};
use crate::apiserver::storage::store::Obj;
use crate::apiserver::table::{IncludeObject, table};

/// A JSON response with optional `Warning` headers.
pub fn json_response(code: StatusCode, body: &Value, warnings: &[String]) -> Response {
    bytes_response(
        code,
        Bytes::from(serde_json::to_vec(body).unwrap_or_default()),
        warnings,
    )
}

/// A response with an already encoded JSON body and optional `Warning` headers.
pub fn bytes_response(code: StatusCode, bytes: Bytes, warnings: &[String]) -> Response {
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = code;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for w in warnings {
        let escaped = w.replace('\\', "\\\\").replace('"', "\\\"");
        let text: String = format!("299 - \"{escaped}\"")
            .chars()
            .filter(|c| c.is_ascii() && !c.is_ascii_control())
            .collect();
        if let Ok(value) = HeaderValue::from_str(&text) {
            headers.append("Warning", value);
        }
    }
    resp
}

pub fn ok(body: &Value) -> Response {
    json_response(StatusCode::OK, body, &[])
}

pub fn error_response(err: &ApiError) -> Response {
    json_response(err.status_code(), &err.to_status(), &[])
}

/// The rendering asked for in `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum As {
    Object,
    Table,
    /// `PartialObjectMetadata`, in meta.k8s.io version v1 (true) or v1beta1.
    Metadata {
        v1: bool,
    },
}

impl As {
    /// Picks the first acceptable rendering, in the client's order of preference.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        for media in accept.split(',') {
            let params: Vec<&str> = media.split(';').map(str::trim).collect();
            let param = |k: &str| {
                params
                    .iter()
                    .find_map(|p| p.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
            };
            match param("as") {
                Some("Table") => return As::Table,
                Some("PartialObjectMetadata" | "PartialObjectMetadataList") => {
                    return As::Metadata {
                        v1: param("v") != Some("v1beta1"),
                    };
                }
                Some(_) => continue,
                None if params[0].contains("json")
                    || params[0] == "*/*"
                    || params[0].is_empty() =>
                {
                    return As::Object;
                }
                None => continue,
            }
        }
        As::Object
    }
}

fn meta_api_version(v1: bool) -> &'static str {
    if v1 {
        "meta.k8s.io/v1"
    } else {
        "meta.k8s.io/v1beta1"
    }
}

/// Renders one served object.
pub fn render_one(
    def: &ResourceDef,
    version: &str,
    obj: Value,
    how: As,
    include: IncludeObject,
) -> Value {
    match how {
        As::Object => obj,
        As::Metadata { v1 } => {
            json!({"kind": "PartialObjectMetadata", "apiVersion": meta_api_version(v1), "metadata": obj["metadata"].clone()})
        }
        As::Table => {
            let rv = obj["metadata"]["resourceVersion"].clone();
            table(
                &columns(def, version),
                &[obj],
                include,
                json!({"resourceVersion": rv}),
            )
        }
    }
}

/// Renders a list of served objects with its list metadata.
pub fn render_list(
    def: &ResourceDef,
    version: &str,
    items: Vec<Value>,
    list_meta: Value,
    how: As,
    include: IncludeObject,
) -> Value {
    match how {
        As::Object => json!({
            "kind": def.list_kind, "apiVersion": def.api_version(version), "metadata": list_meta, "items": items,
        }),
        As::Metadata { v1 } => {
            let items: Vec<Value> = items
                .into_iter()
                .map(|o| json!({"kind": "PartialObjectMetadata", "apiVersion": meta_api_version(v1), "metadata": o["metadata"].clone()}))
                .collect();
            json!({"kind": "PartialObjectMetadataList", "apiVersion": meta_api_version(v1), "metadata": list_meta, "items": items})
        }
        As::Table => table(&columns(def, version), &items, include, list_meta),
    }
}

fn columns(def: &ResourceDef, version: &str) -> Vec<crate::apiserver::table::PrinterColumn> {
    def.version(version)
        .map(|v| v.columns.clone())
        .unwrap_or_default()
}

/// Whether stored objects are served as they are (no conversion), so their cached JSON
/// encoding can be sent directly.
pub fn served_as_stored(def: &ResourceDef, version: &str, how: As) -> bool {
    how == As::Object && def.view == View::Plain && version == def.storage_version
}

/// The served form of a stored object, borrowed when no conversion is needed.
pub fn view<'a>(def: &ResourceDef, version: &str, stored: &'a Obj) -> Cow<'a, Value> {
    if def.view == View::Plain && version == def.storage_version {
        Cow::Borrowed(&**stored)
    } else {
        Cow::Owned(to_served(def, version, stored))
    }
}

/// A 200 response with an already encoded JSON body.
pub fn raw_json(body: Bytes) -> Response {
    let mut resp = Response::new(Body::from(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A list answered from the objects' cached encodings.
pub fn raw_list(
    def: &ResourceDef,
    version: &str,
    items: &[Arc<Obj>],
    list_meta: &Value,
) -> Response {
    let head = json!({"kind": def.list_kind, "apiVersion": def.api_version(version), "metadata": list_meta});
    let head = serde_json::to_vec(&head).unwrap_or_default();
    let size: usize = items.iter().map(|o| o.json().len() + 1).sum();
    let mut out = Vec::with_capacity(head.len() + size + 16);
    // `{"apiVersion":..,"kind":..,"metadata":..}` minus its closing brace, then the items.
    out.extend_from_slice(&head[..head.len().saturating_sub(1)]);
    out.extend_from_slice(b",\"items\":[");
    for (i, obj) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(obj.json());
    }
    out.extend_from_slice(b"]}");
    let mut resp = Response::new(Body::from(out));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Parses a request body: JSON, or YAML when the content type says so.
pub fn parse_body(content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    if content_type.contains("protobuf") {
        return super::protobuf::decode(body);
    }
    if content_type.contains("yaml") {
        let text = std::str::from_utf8(body)
            .map_err(|e| ApiError::bad_request(format!("invalid UTF-8 body: {e}")))?;
        return serde_saphyr::from_str::<Value>(text)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(s: &str) -> As {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(s).unwrap());
        As::from_headers(&h)
    }

    #[test]
    fn negotiation() {
        assert_eq!(
            accept("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"),
            As::Table
        );
        assert_eq!(
            accept("application/vnd.kubernetes.protobuf, */*"),
            As::Object
        );
        assert_eq!(
            accept(
                "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
            ),
            As::Metadata { v1: true }
        );
        assert_eq!(accept(""), As::Object);
    }
}

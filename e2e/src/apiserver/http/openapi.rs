//! OpenAPI v3, as much as kubectl needs: a root listing one document per group-version, and
//! documents whose write operations declare the `fieldValidation` query parameter, so that
//! kubectl leaves validation to the server (`?fieldValidation=Strict`) instead of fetching
//! the protobuf OpenAPI v2 for client-side validation. Custom resources carry their schema.
//!
//! PATCH operations do not offer strategic merge patch, so `kubectl apply` computes its
//! patches from its compiled-in types (built-ins) or as JSON merge patches (custom resources).
//! OpenAPI v2 is an empty document.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

use crate::apiserver::storage::registry::{Registry, ResourceDef};

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// An OpenAPI v2 document without definitions. kubectl fetches it (as protobuf) for the
/// kinds the v3 documents do not list yet, e.g. a custom resource applied in the same file
/// as its CRD, and skips client-side validation of kinds it does not find, as against a
/// real server. An empty body is a valid, empty protobuf `Document`.
pub fn v2(headers: &HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if accept.contains("protobuf") {
        let mut resp = Response::new(Body::empty());
        let media = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
        return resp;
    }
    let doc = json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.33.0"}, "paths": {}, "definitions": {}});
    super::response::ok(&doc)
}

pub fn root(registry: &Registry) -> Value {
    let mut paths = Map::new();
    for (group, versions) in registry.groups() {
        for version in versions {
            let path = gv_path(&group, &version);
            let url = format!("/openapi/v3/{path}?hash={:016X}", registry.generation);
            paths.insert(path, json!({"serverRelativeURL": url}));
        }
    }
    json!({"paths": paths})
}

fn param(name: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}})
}

fn ref_content(types: &[&str], schema_ref: &str) -> Value {
    let mut content = Map::new();
    for t in types {
        content.insert((*t).to_string(), json!({"schema": {"$ref": schema_ref}}));
    }
    Value::Object(content)
}

fn operation(
    def: &ResourceDef,
    version: &str,
    action: &str,
    write: bool,
    schema_ref: &str,
) -> Value {
    let mut op = json!({
        "operationId": format!("{action}{}", def.kind),
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": def.group, "version": version, "kind": def.kind},
        "responses": {"200": {"description": "OK", "content": ref_content(&["application/json"], schema_ref)}},
    });
    if write {
        op["parameters"] = json!([
            param("dryRun"),
            param("fieldManager"),
            param("fieldValidation")
        ]);
        let types: &[&str] = if action == "patch" {
            &[
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/apply-patch+yaml",
            ]
        } else {
            &["application/json"]
        };
        op["requestBody"] = json!({"content": ref_content(types, schema_ref), "required": true});
        if action == "patch"
            && let Some(params) = op["parameters"].as_array_mut()
        {
            params.push(param("force"));
        }
    }
    op
}

fn schema_name(def: &ResourceDef, version: &str) -> String {
    let reversed: Vec<&str> = def.group.split('.').rev().collect();
    let group = if def.group.is_empty() {
        "io.k8s.api.core".to_string()
    } else {
        reversed.join(".")
    };
    format!("{group}.{version}.{}", def.kind)
}

fn add_resource(
    def: &ResourceDef,
    version: &str,
    paths: &mut Map<String, Value>,
    schemas: &mut Map<String, Value>,
) {
    let name = schema_name(def, version);
    let schema_ref = format!("#/components/schemas/{name}");
    let mut schema = def
        .version(version)
        .and_then(|v| v.schema.clone())
        .unwrap_or_else(|| json!({"type": "object"}));
    schema["x-kubernetes-group-version-kind"] =
        json!([{"group": def.group, "version": version, "kind": def.kind}]);
    schemas.insert(name, schema);
    let prefix = format!("/{}", gv_path(&def.group, version));
    let base = if def.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", def.plural)
    } else {
        format!("{prefix}/{}", def.plural)
    };
    paths.insert(
        base.clone(),
        json!({"get": operation(def, version, "list", false, &schema_ref), "post": operation(def, version, "post", true, &schema_ref)}),
    );
    let item = json!({
        "get": operation(def, version, "get", false, &schema_ref),
        "put": operation(def, version, "put", true, &schema_ref),
        "patch": operation(def, version, "patch", true, &schema_ref),
        "delete": operation(def, version, "delete", false, &schema_ref),
    });
    paths.insert(format!("{base}/{{name}}"), item);
    if def.status {
        let status = json!({
            "get": operation(def, version, "get", false, &schema_ref),
            "put": operation(def, version, "put", true, &schema_ref),
            "patch": operation(def, version, "patch", true, &schema_ref),
        });
        paths.insert(format!("{base}/{{name}}/status"), status);
    }
}

/// The document of one group-version (`api/v1`, `apis/apps/v1`), if served.
pub fn document(registry: &Registry, path: &str) -> Option<Value> {
    let (group, version) = match path.split('/').collect::<Vec<_>>().as_slice() {
        ["api", v] => (String::new(), (*v).to_string()),
        ["apis", g, v] => ((*g).to_string(), (*v).to_string()),
        _ => return None,
    };
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for def in registry
        .all()
        .filter(|d| d.group == group && d.version(&version).is_some())
    {
        add_resource(def, &version, &mut paths, &mut schemas);
    }
    if paths.is_empty() {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

//! POST and PUT, and the update loop PATCH shares: read a snapshot, compute the new object
//! outside the lock (patching, admission), commit if the snapshot is still current, else
//! recompute.

use std::sync::Arc;

use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::Value;

use super::read::key;
use super::scale;
use crate::apiserver::admission::admit::{FieldValidation, WriteCtx, admit};
use crate::apiserver::error::{ApiError, ApiResult};
use crate::apiserver::http::response::{
    As, bytes_response, error_response, json_response, parse_body, served_as_stored,
};
use crate::apiserver::http::server::{Req, Server, Target};
use crate::apiserver::storage::cluster::{Commit, now_rfc3339, to_served};
use crate::apiserver::storage::registry::ResourceDef;
use crate::apiserver::storage::store::{Obj, rv_of};

/// Attempts of a write whose snapshot keeps going stale under concurrent writers.
const RETRIES: usize = 16;

/// The default field manager: the User-Agent up to its first `/`, as a real server does.
fn manager(req: &Req, apply: bool) -> ApiResult<String> {
    if let Some(m) = req.param("fieldManager").filter(|m| !m.is_empty()) {
        if m.len() > 128 {
            return Err(ApiError::bad_request(
                "fieldManager: Too long: may not be longer than 128",
            ));
        }
        return Ok(m.to_string());
    }
    if apply {
        return Err(ApiError::invalid(
            "meta.k8s.io",
            "PatchOptions",
            "",
            vec![crate::apiserver::admission::validation::required(
                "fieldManager",
                "is required for apply patch",
            )],
        ));
    }
    let ua = req.header(header::USER_AGENT);
    Ok(ua.split('/').next().unwrap_or_default().to_string())
}

pub(super) fn ctx(target: &Target, req: &Req, apply: bool) -> ApiResult<WriteCtx> {
    let default = if apply {
        FieldValidation::Strict
    } else {
        FieldValidation::Warn
    };
    let dry_run = match req.param("dryRun") {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "dryRun: Unsupported value: \"{other}\": supported values: \"All\""
            )));
        }
    };
    Ok(WriteCtx {
        version: target.version.clone(),
        subresource: target.subresource.clone(),
        manager: manager(req, apply)?,
        field_validation: FieldValidation::parse(req.param("fieldValidation"), default)?,
        dry_run,
        now: now_rfc3339(),
    })
}

/// A custom resource must name its kind: the real server decodes it without a Go type to
/// fall back on, and answers with its decoder's error, which quotes the body. Built-in
/// kinds take a missing kind (and apiVersion) from the URL, and so does a custom resource
/// without `apiVersion` (the decoder does not require it yet).
fn require_kind(def: &ResourceDef, obj: &Value, body: &[u8]) -> ApiResult<()> {
    if def.builtin || obj["kind"].as_str().is_some_and(|k| !k.is_empty()) {
        return Ok(());
    }
    Err(ApiError::bad_request(format!(
        "Object 'Kind' is missing in '{}'",
        String::from_utf8_lossy(body)
    )))
}

/// Checks and completes type meta, namespace and name against the URL.
pub fn identity(def: &ResourceDef, target: &Target, obj: &mut Value) -> ApiResult<()> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    let expected = def.api_version(&target.version);
    let expected = if def.view == crate::apiserver::storage::registry::View::CoreEvent {
        "v1".to_string()
    } else {
        expected
    };
    match obj["apiVersion"].as_str() {
        Some(v) if !v.is_empty() && v != expected => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({expected})"
            )));
        }
        _ => obj["apiVersion"] = Value::String(expected),
    }
    match obj["kind"].as_str() {
        Some(k) if !k.is_empty() && k != def.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                def.kind
            )));
        }
        _ => obj["kind"] = Value::String(def.kind.clone()),
    }
    if !obj["metadata"].is_object() {
        obj["metadata"] = serde_json::json!({});
    }
    let meta = &mut obj["metadata"];
    if def.namespaced {
        let url_ns = target.namespace.clone().unwrap_or_default();
        match meta["namespace"].as_str() {
            Some(ns) if !ns.is_empty() && ns != url_ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => meta["namespace"] = Value::String(url_ns),
        }
    } else if let Some(m) = meta.as_object_mut() {
        m.remove("namespace");
    }
    if let Some(url_name) = &target.name {
        match meta["name"].as_str() {
            Some(n) if !n.is_empty() && n != url_name => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({url_name})"
                )));
            }
            _ => meta["name"] = Value::String(url_name.clone()),
        }
    }
    Ok(())
}

/// What a write answers with: a built value, or the stored object as it is.
pub(super) enum Reply {
    Json(Value),
    Stored(Arc<Obj>),
}

/// The status code, body and warnings of a successful write.
pub(super) type Written = (StatusCode, Reply, Vec<String>);

/// The answer for a committed object: its served form (the Scale view for `/scale`),
/// or its cached encoding when it is served as stored.
fn reply(target: &Target, stored: Arc<Obj>) -> Reply {
    let (def, version) = (&target.def, &target.version);
    match target.subresource.as_deref() {
        Some("scale") => Reply::Json(scale::scale_of(def, &to_served(def, version, &stored))),
        _ if served_as_stored(def, version, As::Object) => Reply::Stored(stored),
        _ => Reply::Json(to_served(def, version, &stored)),
    }
}

pub(super) fn respond(result: ApiResult<Written>) -> Response {
    match result {
        Ok((code, Reply::Json(body), warnings)) => json_response(code, &body, &warnings),
        Ok((code, Reply::Stored(obj), warnings)) => {
            bytes_response(code, obj.json().clone(), &warnings)
        }
        Err(e) => error_response(&e),
    }
}

pub fn create(srv: &Server, target: &Target, req: &Req) -> Response {
    respond(create_inner(srv, target, req))
}

fn create_inner(srv: &Server, target: &Target, req: &Req) -> ApiResult<Written> {
    let def = &target.def;
    let ctx = ctx(target, req, false)?;
    let mut obj = parse_body(req.header(header::CONTENT_TYPE), &req.body)?;
    require_kind(def, &obj, &req.body)?;
    identity(def, target, &mut obj)?;
    let generated = obj["metadata"]["name"].as_str().is_none_or(str::is_empty);
    for _ in 0..RETRIES {
        let admitted = admit(def, &ctx, None, obj.clone(), false)?;
        match srv.lock().commit_create(def, admitted.obj, ctx.dry_run) {
            Ok(stored) => {
                return Ok((
                    StatusCode::CREATED,
                    reply(target, stored),
                    admitted.warnings,
                ));
            }
            Err(e) if generated && e.reason == "AlreadyExists" => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::internal("could not generate a unique name"))
}

pub fn update(srv: &Server, target: &Target, req: &Req) -> Response {
    respond(update_inner(srv, target, req))
}

fn update_inner(srv: &Server, target: &Target, req: &Req) -> ApiResult<Written> {
    let def = &target.def;
    let ctx = ctx(target, req, false)?;
    let body = parse_body(req.header(header::CONTENT_TYPE), &req.body)?;
    let explicit_rv = rv_of(&body);
    write_loop(srv, target, &ctx, explicit_rv, false, |_current| {
        let mut obj = body.clone();
        if ctx.subresource.as_deref() != Some("scale") {
            require_kind(def, &obj, &req.body)?;
            identity(def, target, &mut obj)?;
        }
        Ok(obj)
    })
}

/// The shared update loop: `compute` turns the current served object (the Scale view for
/// `/scale`; None when missing) into the new one; admission and commit follow. A missing
/// object is created only by server-side apply (`applied`) on the main resource.
pub(super) fn write_loop(
    srv: &Server,
    target: &Target,
    ctx: &WriteCtx,
    explicit_rv: u64,
    applied: bool,
    compute: impl Fn(Option<&Value>) -> ApiResult<Value>,
) -> ApiResult<Written> {
    let def = &target.def;
    let key = key(target);
    let stale = || ApiError::stale(&def.group, &def.plural, &key.1);
    let is_scale = ctx.subresource.as_deref() == Some("scale");
    for _ in 0..RETRIES {
        let current = srv.lock().get(def, &key);
        let Some(current) = current else {
            if !applied || ctx.subresource.is_some() {
                return Err(ApiError::not_found(&def.group, &def.plural, &key.1));
            }
            let admitted = admit(def, ctx, None, compute(None)?, true)?;
            match srv.lock().commit_create(def, admitted.obj, ctx.dry_run) {
                Ok(stored) => {
                    return Ok((
                        StatusCode::CREATED,
                        reply(target, stored),
                        admitted.warnings,
                    ));
                }
                Err(e) if e.reason == "AlreadyExists" => continue,
                Err(e) => return Err(e),
            }
        };
        let base_rv = rv_of(&current);
        if explicit_rv != 0 && explicit_rv != base_rv {
            return Err(stale());
        }
        let served = to_served(def, &target.version, &current);
        let new = if is_scale {
            compute(Some(&scale::scale_of(def, &served)))?
        } else {
            compute(Some(&served))?
        };
        if rv_of(&new) != 0 && rv_of(&new) != base_rv {
            return Err(stale());
        }
        // Through `/scale` the parent's managed fields are recorded as an update of
        // subresource scale, not merged from the Scale view.
        let mut new = if is_scale {
            scale::apply_scale(def, &served, &new)
        } else {
            new
        };
        if let Some(m) = new["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        let admitted = admit(def, ctx, Some(&served), new, applied && !is_scale)?;
        match srv
            .lock()
            .commit_update(def, admitted.obj, base_rv, ctx.dry_run)
        {
            Ok(stored) => return Ok((StatusCode::OK, reply(target, stored), admitted.warnings)),
            Err(Commit::Stale) if explicit_rv == 0 => continue,
            Err(Commit::Stale) => return Err(stale()),
            Err(Commit::Api(e)) => return Err(e),
        }
    }
    Err(stale())
}

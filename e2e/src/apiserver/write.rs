//! POST, PUT and PATCH: read a snapshot, compute the new object outside the lock
//! (patching, admission), commit if the snapshot is still current, else recompute.

use std::sync::Arc;

use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::Value;

use super::admit::{FieldValidation, WriteCtx, admit};
use super::cluster::{Commit, now_rfc3339, to_served};
use super::error::{ApiError, ApiResult};
use super::patch::{self, ApplyOptions, PatchError};
use super::read::key;
use super::registry::ResourceDef;
use super::response::{
    As, bytes_response, error_response, json_response, parse_body, served_as_stored,
};
use super::scale;
use super::server::{Req, Server, Target};
use super::store::{Obj, rv_of};

pub use super::delete::{delete, delete_collection};

/// Attempts of a write whose snapshot keeps going stale under concurrent writers.
const RETRIES: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchKind {
    fn from_content_type(ct: &str) -> Option<Self> {
        let media = ct.split(';').next().unwrap_or_default().trim();
        match media {
            "application/merge-patch+json" => Some(Self::Merge),
            "application/json-patch+json" => Some(Self::Json),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Some(Self::Apply),
            _ => None,
        }
    }
}

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
            vec![super::validation::required(
                "fieldManager",
                "is required for apply patch",
            )],
        ));
    }
    let ua = req.header(header::USER_AGENT);
    Ok(ua.split('/').next().unwrap_or_default().to_string())
}

fn ctx(target: &Target, req: &Req, apply: bool) -> ApiResult<WriteCtx> {
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

/// Checks and completes type meta, namespace and name against the URL.
pub fn identity(def: &ResourceDef, target: &Target, obj: &mut Value) -> ApiResult<()> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    let expected = def.api_version(&target.version);
    let expected = if def.view == super::registry::View::CoreEvent {
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
enum Reply {
    Json(Value),
    Stored(Arc<Obj>),
}

/// The status code, body and warnings of a successful write.
type Written = (StatusCode, Reply, Vec<String>);

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

fn respond(result: ApiResult<Written>) -> Response {
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
    write_loop(srv, target, &ctx, explicit_rv, |_current| {
        let mut obj = body.clone();
        if ctx.subresource.as_deref() != Some("scale") {
            identity(def, target, &mut obj)?;
        }
        Ok(obj)
    })
}

/// Parses a patch body and checks its type is allowed for this resource.
fn patch_body(def: &ResourceDef, req: &Req) -> ApiResult<(PatchKind, Value)> {
    let ct = req.header(header::CONTENT_TYPE);
    let kind =
        PatchKind::from_content_type(ct).ok_or_else(|| ApiError::unsupported_media_type(ct))?;
    if kind == PatchKind::Strategic && !def.builtin {
        return Err(ApiError::unsupported_media_type(ct));
    }
    let body = parse_body(
        if kind == PatchKind::Apply {
            "yaml"
        } else {
            "json"
        },
        &req.body,
    )?;
    Ok((kind, body))
}

pub fn patch(srv: &Server, target: &Target, req: &Req) -> Response {
    respond(patch_inner(srv, target, req))
}

fn patch_inner(srv: &Server, target: &Target, req: &Req) -> ApiResult<Written> {
    let def = &target.def;
    let (kind, body) = patch_body(def, req)?;
    let apply = kind == PatchKind::Apply;
    let ctx = ctx(target, req, apply)?;
    let force = req.flag("force");
    if force && !apply {
        return Err(ApiError::bad_request(
            "force: Forbidden: may not be specified for non-apply patch",
        ));
    }
    let explicit_rv = if kind == PatchKind::Json {
        0
    } else {
        rv_of(&body)
    };
    let api_version = def.api_version(&target.version);
    let strategic_kind = if target.subresource.as_deref() == Some("scale") {
        "Scale".to_string()
    } else {
        def.kind.clone()
    };
    let patch_one = |current: Option<&Value>| -> ApiResult<Value> {
        let Some(current) = current else {
            let mut applied = body.clone();
            identity(def, target, &mut applied)?;
            let opts = ApplyOptions {
                manager: &ctx.manager,
                force,
                api_version: &api_version,
                subresource: ctx.subresource.as_deref(),
                now: &ctx.now,
            };
            return patch::server_side_apply(None, &applied, &opts)
                .map_err(|e| patch_error(def, target, e));
        };
        let patched = match kind {
            PatchKind::Merge => Ok(patch::merge_patch(current, &body)),
            PatchKind::Json => patch::json_patch(current, &body),
            PatchKind::Strategic => patch::strategic_merge_patch(current, &body, &strategic_kind),
            PatchKind::Apply => {
                let mut applied = body.clone();
                if ctx.subresource.as_deref() != Some("scale") {
                    identity(def, target, &mut applied)?;
                }
                let opts = ApplyOptions {
                    manager: &ctx.manager,
                    force,
                    api_version: &api_version,
                    subresource: ctx.subresource.as_deref(),
                    now: &ctx.now,
                };
                patch::server_side_apply(Some(current), &applied, &opts)
            }
        };
        let mut patched = patched.map_err(|e| patch_error(def, target, e))?;
        if ctx.subresource.as_deref() != Some("scale") {
            identity(def, target, &mut patched)?;
        }
        Ok(patched)
    };
    if apply {
        write_loop_apply(srv, target, &ctx, explicit_rv, patch_one)
    } else {
        write_loop(srv, target, &ctx, explicit_rv, |current| {
            patch_one(Some(current))
        })
    }
}

fn patch_error(def: &ResourceDef, target: &Target, e: PatchError) -> ApiError {
    let name = target.name.clone().unwrap_or_default();
    match e {
        PatchError::Invalid(msg) => ApiError::new(422, "Invalid", msg),
        PatchError::Conflict(conflicts) => {
            let api_version = def.api_version(&target.version);
            let n = conflicts.len();
            let message = if n == 1 {
                let c = &conflicts[0];
                format!(
                    "Apply failed with 1 conflict: conflict with \"{}\" using {api_version}: {}",
                    c.manager, c.field
                )
            } else {
                let lines: Vec<String> = conflicts
                    .iter()
                    .map(|c| {
                        format!(
                            "conflict with \"{}\" using {api_version}: {}",
                            c.manager, c.field
                        )
                    })
                    .collect();
                format!("Apply failed with {n} conflicts: {}", lines.join("\n"))
            };
            let causes: Vec<Value> = conflicts
                .iter()
                .map(|c| serde_json::json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{}\" using {api_version}", c.manager), "field": c.field}))
                .collect();
            let mut err = ApiError::new(409, "Conflict", message);
            err.details = Some(
                serde_json::json!({"name": name, "group": def.group, "kind": def.plural, "causes": causes}),
            );
            err
        }
    }
}

/// The shared update loop: `compute` turns the current served object (the Scale view for
/// `/scale`) into the new one; admission and commit follow.
fn write_loop(
    srv: &Server,
    target: &Target,
    ctx: &WriteCtx,
    explicit_rv: u64,
    compute: impl Fn(&Value) -> ApiResult<Value>,
) -> ApiResult<Written> {
    let def = &target.def;
    let key = key(target);
    for _ in 0..RETRIES {
        let Some(current) = srv.lock().get(def, &key) else {
            return Err(ApiError::not_found(&def.group, &def.plural, &key.1));
        };
        let base_rv = rv_of(&current);
        if explicit_rv != 0 && explicit_rv != base_rv {
            return Err(ApiError::stale(&def.group, &def.plural, &key.1));
        }
        let served = to_served(def, &target.version, &current);
        let is_scale = ctx.subresource.as_deref() == Some("scale");
        let view = if is_scale {
            scale::scale_of(def, &served)
        } else {
            served.clone()
        };
        let new = compute(&view)?;
        if rv_of(&new) != 0 && rv_of(&new) != base_rv {
            return Err(ApiError::stale(&def.group, &def.plural, &key.1));
        }
        let mut new = if is_scale {
            scale::apply_scale(def, &served, &new)
        } else {
            new
        };
        if let Some(m) = new["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        let admitted = admit(def, ctx, Some(&served), new, false)?;
        match srv
            .lock()
            .commit_update(def, admitted.obj, base_rv, ctx.dry_run)
        {
            Ok(stored) => {
                return Ok((StatusCode::OK, reply(target, stored), admitted.warnings));
            }
            Err(Commit::Stale) if explicit_rv == 0 => continue,
            Err(Commit::Stale) => return Err(ApiError::stale(&def.group, &def.plural, &key.1)),
            Err(Commit::Api(e)) => return Err(e),
        }
    }
    Err(ApiError::stale(&def.group, &def.plural, &key.1))
}

/// Server-side apply: like [`write_loop`], but a missing object is created.
fn write_loop_apply(
    srv: &Server,
    target: &Target,
    ctx: &WriteCtx,
    explicit_rv: u64,
    compute: impl Fn(Option<&Value>) -> ApiResult<Value>,
) -> ApiResult<Written> {
    let def = &target.def;
    let key = key(target);
    let is_scale = ctx.subresource.as_deref() == Some("scale");
    for _ in 0..RETRIES {
        let current = srv.lock().get(def, &key);
        let Some(current) = current else {
            if ctx.subresource.is_some() {
                return Err(ApiError::not_found(&def.group, &def.plural, &key.1));
            }
            let new = compute(None)?;
            let admitted = admit(def, ctx, None, new, true)?;
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
        let served = to_served(def, &target.version, &current);
        let view = if is_scale {
            scale::scale_of(def, &served)
        } else {
            served.clone()
        };
        let new = compute(Some(&view))?;
        if explicit_rv != 0 && explicit_rv != base_rv {
            return Err(ApiError::stale(&def.group, &def.plural, &key.1));
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
        let admitted = admit(def, ctx, Some(&served), new, !is_scale)?;
        match srv
            .lock()
            .commit_update(def, admitted.obj, base_rv, ctx.dry_run)
        {
            Ok(stored) => {
                return Ok((StatusCode::OK, reply(target, stored), admitted.warnings));
            }
            Err(Commit::Stale) if explicit_rv == 0 => continue,
            Err(Commit::Stale) => return Err(ApiError::stale(&def.group, &def.plural, &key.1)),
            Err(Commit::Api(e)) => return Err(e),
        }
    }
    Err(ApiError::stale(&def.group, &def.plural, &key.1))
}

//! PATCH: JSON merge, JSON patch, strategic merge (built-in kinds only: custom resources
//! answer 415 as on a real server) and server-side apply, through the patch engines of
//! [`crate::apiserver::patch`], then the shared update loop of [`super::write`].

use axum::http::header;
use axum::response::Response;
use serde_json::{Value, json};

use super::write::{Written, ctx, identity, respond, write_loop};
use crate::apiserver::error::{ApiError, ApiResult};
use crate::apiserver::http::response::parse_body;
use crate::apiserver::http::server::{Req, Server, Target};
use crate::apiserver::patch::{self, ApplyOptions, PatchError};
use crate::apiserver::storage::registry::ResourceDef;
use crate::apiserver::storage::store::rv_of;

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
    write_loop(srv, target, &ctx, explicit_rv, apply, patch_one)
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
                .map(|c| json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{}\" using {api_version}", c.manager), "field": c.field}))
                .collect();
            let mut err = ApiError::new(409, "Conflict", message);
            err.details = Some(
                json!({"name": name, "group": def.group, "kind": def.plural, "causes": causes}),
            );
            err
        }
    }
}

//! DELETE of one object and of a collection: `DeleteOptions` from the body or the query.
//!
//! Like a real server, an object removed at once is answered with a `Status` of success for
//! built-in kinds and with the object for custom resources; an object that waits for
//! finalizers (or foreground deletion) is answered with its current state.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::read::{Filter, key};
use crate::apiserver::error::{ApiError, ApiResult, success_status};
use crate::apiserver::http::response::{error_response, json_response};
use crate::apiserver::http::server::{Req, Server, Target};
use crate::apiserver::storage::cluster::to_served;
use crate::apiserver::storage::lifecycle::{DeleteOptions, Propagation};
use crate::apiserver::storage::store::{key_of, uid_of};

fn options(req: &Req) -> ApiResult<DeleteOptions> {
    let body: Value = if req.body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&req.body)
            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
    };
    let policy = body["propagationPolicy"]
        .as_str()
        .or_else(|| req.param("propagationPolicy"));
    let orphan = body["orphanDependents"]
        .as_bool()
        .or_else(|| req.param("orphanDependents").map(|v| v == "true"));
    let propagation = match (policy, orphan) {
        (Some(p), _) => Some(Propagation::parse(p)?),
        (None, Some(true)) => Some(Propagation::Orphan),
        (None, Some(false)) => Some(Propagation::Background),
        (None, None) => None,
    };
    let dry_run = body["dryRun"]
        .as_array()
        .is_some_and(|d| d.iter().any(|v| v == "All"))
        || req.param("dryRun") == Some("All");
    let pre = &body["preconditions"];
    Ok(DeleteOptions {
        propagation,
        precondition_uid: pre["uid"].as_str().map(str::to_string),
        precondition_rv: pre["resourceVersion"].as_str().map(str::to_string),
        dry_run,
    })
}

pub fn delete(srv: &Server, target: &Target, req: &Req) -> Response {
    match delete_inner(srv, target, req) {
        Ok(body) => json_response(StatusCode::OK, &body, &[]),
        Err(e) => error_response(&e),
    }
}

fn delete_inner(srv: &Server, target: &Target, req: &Req) -> ApiResult<Value> {
    if target.subresource.is_some() {
        return Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        ));
    }
    let def = &target.def;
    let opts = options(req)?;
    let key = key(target);
    let (after, gone) = {
        let mut cluster = srv.lock();
        let after = cluster.delete(def, &key, &opts)?;
        let gone = !opts.dry_run
            && cluster
                .get(def, &key)
                .is_none_or(|o| uid_of(&o) != uid_of(&after));
        (after, gone)
    };
    if gone && def.builtin {
        return Ok(success_status(
            &def.group,
            &def.plural,
            &key.1,
            uid_of(&after),
        ));
    }
    Ok(to_served(def, &target.version, &after))
}

pub fn delete_collection(srv: &Server, target: &Target, req: &Req) -> Response {
    match delete_collection_inner(srv, target, req) {
        Ok(body) => json_response(StatusCode::OK, &body, &[]),
        Err(e) => error_response(&e),
    }
}

fn delete_collection_inner(srv: &Server, target: &Target, req: &Req) -> ApiResult<Value> {
    let def = &target.def;
    let opts = options(req)?;
    let filter = Filter::from_request(target, req)?;
    let mut cluster = srv.lock();
    let mut items = Vec::new();
    for stored in cluster
        .store
        .list(&def.storage, filter.namespace.as_deref(), None)
    {
        let served = to_served(def, &target.version, &stored);
        if !filter.matches(&served) {
            continue;
        }
        if let Ok(after) = cluster.delete(def, &key_of(&stored), &opts) {
            items.push(to_served(def, &target.version, &after));
        }
    }
    let rv = cluster.store.current_rv().to_string();
    Ok(
        json!({"kind": def.list_kind, "apiVersion": def.api_version(&target.version), "metadata": {"resourceVersion": rv}, "items": items}),
    )
}

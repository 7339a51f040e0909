//! GET of one object and LIST of a collection (selectors, `limit`/`continue`).
//!
//! A continued list resumes after the last key of the previous page, from the current
//! objects, and keeps reporting the first page's resourceVersion, so a watch started from
//! it replays whatever changed meanwhile.

use std::sync::Arc;

use axum::response::Response;
use serde_json::{Value, json};

use super::scale;
use crate::apiserver::error::{ApiError, ApiResult};
use crate::apiserver::events::field_value;
use crate::apiserver::http::response::{
    As, error_response, ok, raw_json, raw_list, render_list, render_one, served_as_stored, view,
};
use crate::apiserver::http::server::{Req, Server, Target};
use crate::apiserver::selector::{FieldSelector, LabelSelector};
use crate::apiserver::storage::cluster::to_served;
use crate::apiserver::storage::registry::ResourceDef;
use crate::apiserver::storage::store::{Obj, ObjKey};
use crate::apiserver::table::IncludeObject;

pub fn key(target: &Target) -> ObjKey {
    (
        target.namespace.clone().unwrap_or_default(),
        target.name.clone().unwrap_or_default(),
    )
}

pub fn get(srv: &Server, target: &Target, req: &Req) -> Response {
    let def = &target.def;
    let key = key(target);
    let Some(stored) = srv.lock().get(def, &key) else {
        return error_response(&ApiError::not_found(&def.group, &def.plural, &key.1));
    };
    let how = As::from_headers(&req.headers);
    if target.subresource.is_none() && served_as_stored(def, &target.version, how) {
        return raw_json(stored.json().clone());
    }
    let served = to_served(def, &target.version, &stored);
    if target.subresource.as_deref() == Some("scale") {
        return ok(&scale::scale_of(def, &served));
    }
    ok(&render_one(
        def,
        &target.version,
        served,
        how,
        IncludeObject::from_query(req.param("includeObject")),
    ))
}

/// Label and field selectors (and the namespace) a list or watch filters on.
pub struct Filter {
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    /// Events select on their own field labels (either view's names).
    events: bool,
}

impl Filter {
    pub fn from_request(target: &Target, req: &Req) -> ApiResult<Self> {
        let events = target.def.storage == "events.k8s.io/events";
        let fields = FieldSelector::parse(req.param("fieldSelector").unwrap_or_default())?;
        let selectable = target
            .def
            .version(&target.version)
            .map(|v| v.selectable.as_slice())
            .unwrap_or_default();
        let supported = |label: &str| {
            if events {
                return field_value(&json!({}), label).is_some();
            }
            matches!(label, "metadata.name" | "metadata.namespace")
                || selectable.iter().any(|s| s == label)
        };
        if let Some(bad) = fields.labels().find(|l| !supported(l)) {
            return Err(ApiError::bad_request(format!(
                "field label not supported: {bad}"
            )));
        }
        Ok(Self {
            namespace: target.namespace.clone(),
            labels: LabelSelector::parse(req.param("labelSelector").unwrap_or_default())?,
            fields,
            events,
        })
    }

    /// Whether a served object passes.
    pub fn matches(&self, served: &Value) -> bool {
        let ns_ok = self
            .namespace
            .as_deref()
            .is_none_or(|ns| served["metadata"]["namespace"] == ns);
        let fields_ok = if self.events {
            self.fields.matches_by(|label| field_value(served, label))
        } else {
            self.fields.matches(served)
        };
        ns_ok && self.labels.matches(served) && fields_ok
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    rv: u64,
    ns: String,
    name: String,
}

fn encode_token(t: &ContinueToken) -> String {
    let bytes = serde_json::to_vec(t).unwrap_or_default();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_token(s: &str) -> ApiResult<ContinueToken> {
    let bad = || ApiError::bad_request("continue key is not valid: invalid continue token");
    if !s.len().is_multiple_of(2) {
        return Err(bad());
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    serde_json::from_slice(&bytes.ok_or_else(bad)?).map_err(|_| bad())
}

pub fn list(srv: &Server, target: &Target, req: &Req) -> Response {
    match list_inner(srv, target, req) {
        Ok(resp) => resp,
        Err(e) => error_response(&e),
    }
}

fn list_inner(srv: &Server, target: &Target, req: &Req) -> ApiResult<Response> {
    let def: &Arc<ResourceDef> = &target.def;
    let filter = Filter::from_request(target, req)?;
    let limit = req
        .param("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let token = req
        .param("continue")
        .filter(|c| !c.is_empty())
        .map(decode_token)
        .transpose()?;
    let after = token.as_ref().map(|t| (t.ns.clone(), t.name.clone()));
    let (rv, objects) = {
        let cluster = srv.lock();
        let objects = cluster
            .store
            .list(&def.storage, filter.namespace.as_deref(), after.as_ref());
        (
            token.as_ref().map_or(cluster.store.current_rv(), |t| t.rv),
            objects,
        )
    };
    let mut items: Vec<Arc<Obj>> = Vec::new();
    let mut remaining = 0usize;
    for stored in objects {
        if !filter.labels.matches(&stored) || !filter.matches(&view(def, &target.version, &stored))
        {
            continue;
        }
        if limit.is_some_and(|l| items.len() >= l) {
            remaining += 1;
            continue;
        }
        items.push(stored);
    }
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if remaining > 0
        && let Some(last) = items.last()
    {
        let (ns, name) = crate::apiserver::storage::store::key_of(last);
        meta["continue"] = json!(encode_token(&ContinueToken { rv, ns, name }));
        meta["remainingItemCount"] = json!(remaining);
    }
    let how = As::from_headers(&req.headers);
    if served_as_stored(def, &target.version, how) {
        return Ok(raw_list(def, &target.version, &items, &meta));
    }
    let served = items
        .iter()
        .map(|o| to_served(def, &target.version, o))
        .collect();
    let include = IncludeObject::from_query(req.param("includeObject"));
    Ok(ok(&render_list(
        def,
        &target.version,
        served,
        meta,
        how,
        include,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip() {
        let t = ContinueToken {
            rv: 42,
            ns: "a".into(),
            name: "b".into(),
        };
        let back = decode_token(&encode_token(&t)).unwrap();
        assert_eq!(
            (back.rv, back.ns, back.name),
            (42, "a".to_string(), "b".to_string())
        );
        assert!(decode_token("zz").is_err());
    }
}

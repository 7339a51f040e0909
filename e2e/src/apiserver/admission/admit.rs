//! The admission pipeline every write goes through, outside the lock, on the served form:
//! decoding (unknown fields per `fieldValidation`), subresource rules (`/status` changes only
//! status, the main resource keeps the stored status), system metadata, defaulting,
//! validation (422), `generation`, and `managedFields`.

use rand::Rng;
use serde_json::{Map, Value, json};

use super::defaults;
use super::typed;
use super::validation;
use crate::apiserver::error::{ApiError, ApiResult, Cause};
use crate::apiserver::patch::record_update;
use crate::apiserver::schema;
use crate::apiserver::storage::crd;
use crate::apiserver::storage::registry::ResourceDef;

/// The `fieldValidation` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

impl FieldValidation {
    /// `default` applies when the parameter is absent (Warn for most writes, Strict for apply).
    pub fn parse(value: Option<&str>, default: Self) -> ApiResult<Self> {
        match value {
            None | Some("") => Ok(default),
            Some("Ignore") => Ok(Self::Ignore),
            Some("Warn") => Ok(Self::Warn),
            Some("Strict") => Ok(Self::Strict),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation: Unsupported value: \"{other}\": supported values: \"Ignore\", \"Strict\", \"Warn\""
            ))),
        }
    }
}

/// What every write knows besides the object.
#[derive(Debug, Clone)]
pub struct WriteCtx {
    pub version: String,
    pub subresource: Option<String>,
    pub manager: String,
    pub field_validation: FieldValidation,
    pub dry_run: bool,
    pub now: String,
}

/// An admitted object and the warnings to send with the response.
#[derive(Debug)]
pub struct Admitted {
    pub obj: Value,
    pub warnings: Vec<String>,
}

const SYSTEM_FIELDS: &[&str] = &[
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
];

/// Runs admission on `new` (served form); `old` is the current object for updates.
/// `applied` says server-side apply already recorded the managed fields.
pub fn admit(
    def: &ResourceDef,
    ctx: &WriteCtx,
    old: Option<&Value>,
    new: Value,
    applied: bool,
) -> ApiResult<Admitted> {
    let (mut obj, warnings) = decode(def, ctx, new)?;
    let sub = ctx.subresource.as_deref();
    match (sub, old) {
        (Some("status"), Some(old)) => obj = only_status(old, obj),
        (_, Some(old)) if def.status => copy_key(old, &mut obj, "status"),
        // A created object starts without status when status is a subresource.
        (_, None) if def.status && def.builtin => obj["status"] = json!({}),
        (_, None) if def.status => {
            obj.as_object_mut().map(|m| m.remove("status"));
        }
        _ => {}
    }
    system_metadata(def, old, &mut obj)?;
    defaulting(def, ctx, old, &mut obj);
    let causes = validate(def, ctx, old, &obj);
    if !causes.is_empty() {
        let name = obj["metadata"]["name"].as_str().unwrap_or_default();
        return Err(ApiError::invalid(&def.group, &def.kind, name, causes));
    }
    if let Some(old) = old {
        bump_generation(def, old, &mut obj);
    }
    if !applied {
        record_update(
            old,
            &mut obj,
            &ctx.manager,
            &def.api_version(&ctx.version),
            sub,
            &ctx.now,
        );
    }
    Ok(Admitted { obj, warnings })
}

/// Decodes the body as the server's types would: refuses wrong types, finds unknown fields.
fn decode(def: &ResourceDef, ctx: &WriteCtx, obj: Value) -> ApiResult<(Value, Vec<String>)> {
    let (decoded, unknown) = if def.builtin {
        match typed::decode(&def.group, &def.kind, &obj) {
            Some(Ok(decoded)) => {
                let unknown = typed::unknown_fields(&obj, &decoded);
                (decoded, unknown)
            }
            Some(Err(msg)) => {
                let kind = &def.kind;
                return Err(ApiError::bad_request(format!(
                    "{kind} in version \"{}\" cannot be handled as a {kind}: {msg}",
                    ctx.version
                )));
            }
            None => (obj, Vec::new()),
        }
    } else {
        decode_custom(def, ctx, obj)?
    };
    let mut warnings = Vec::new();
    match ctx.field_validation {
        FieldValidation::Strict if !unknown.is_empty() => {
            let list: Vec<String> = unknown
                .iter()
                .map(|f| format!("unknown field \"{f}\""))
                .collect();
            return Err(ApiError::bad_request(format!(
                "strict decoding error: {}",
                list.join(", ")
            )));
        }
        FieldValidation::Warn => {
            warnings.extend(unknown.iter().map(|f| format!("unknown field \"{f}\"")))
        }
        _ => {}
    }
    Ok((decoded, warnings))
}

/// The parts of a custom resource the schema governs (all but apiVersion/kind/metadata).
fn split_envelope(obj: &mut Value) -> Map<String, Value> {
    let mut envelope = Map::new();
    if let Some(map) = obj.as_object_mut() {
        for key in ["apiVersion", "kind", "metadata"] {
            if let Some(v) = map.remove(key) {
                envelope.insert(key.to_string(), v);
            }
        }
    }
    envelope
}

fn join_envelope(obj: &mut Value, envelope: Map<String, Value>) {
    if let Some(map) = obj.as_object_mut() {
        map.extend(envelope);
    }
}

fn decode_custom(
    def: &ResourceDef,
    ctx: &WriteCtx,
    mut obj: Value,
) -> ApiResult<(Value, Vec<String>)> {
    let mut unknown = Vec::new();
    if !obj["metadata"].is_null() {
        let meta = typed::decode_metadata(&obj["metadata"]).map_err(|e| {
            ApiError::bad_request(format!(
                "{} in version \"{}\" cannot be handled as a {}: {e}",
                def.kind, ctx.version, def.kind
            ))
        })?;
        unknown.extend(
            typed::unknown_fields(&obj["metadata"], &meta)
                .into_iter()
                .map(|f| format!("metadata.{f}")),
        );
        obj["metadata"] = meta;
    }
    if let Some(schema) = def.version(&ctx.version).and_then(|v| v.schema.as_ref()) {
        let envelope = split_envelope(&mut obj);
        let original = obj.clone();
        schema::prune(schema, &mut obj);
        unknown.extend(typed::unknown_fields(&original, &obj));
        join_envelope(&mut obj, envelope);
    }
    Ok((obj, unknown))
}

/// A `/status` write: the stored object with the new status (and managed fields).
fn only_status(old: &Value, new: Value) -> Value {
    let mut out = old.clone();
    copy_key(&new, &mut out, "status");
    out["metadata"]["managedFields"] = new["metadata"]["managedFields"].clone();
    if out["metadata"]["managedFields"].is_null() {
        out["metadata"]
            .as_object_mut()
            .map(|m| m.remove("managedFields"));
    }
    out
}

fn copy_key(from: &Value, to: &mut Value, key: &str) {
    let Some(map) = to.as_object_mut() else {
        return;
    };
    match from.get(key) {
        Some(v) => map.insert(key.to_string(), v.clone()),
        None => map.remove(key),
    };
}

fn generate_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    let suffix: String = (0..5)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    format!("{prefix}{suffix}")
}

fn system_metadata(def: &ResourceDef, old: Option<&Value>, obj: &mut Value) -> ApiResult<()> {
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    let meta = &mut obj["metadata"];
    meta.as_object_mut().map(|m| m.remove("selfLink"));
    match old {
        None => {
            if meta["name"].as_str().is_none_or(str::is_empty)
                && let Some(prefix) = meta["generateName"].as_str().filter(|p| !p.is_empty())
            {
                meta["name"] = json!(generate_name(prefix));
            }
            if let Some(m) = meta.as_object_mut() {
                for key in SYSTEM_FIELDS.iter().chain(&["resourceVersion"]) {
                    m.remove(*key);
                }
            }
            meta["uid"] = json!(uuid::Uuid::new_v4().to_string());
            meta["creationTimestamp"] = json!(crate::apiserver::storage::cluster::now_rfc3339());
            if def.generation {
                meta["generation"] = json!(1);
            }
        }
        Some(old) => {
            let old_meta = &old["metadata"];
            for key in SYSTEM_FIELDS {
                copy_key(old_meta, meta, key);
            }
            if !old_meta["deletionTimestamp"].is_null() {
                let had = |f: &Value| {
                    old_meta["finalizers"]
                        .as_array()
                        .is_some_and(|a| a.contains(f))
                };
                if meta["finalizers"]
                    .as_array()
                    .is_some_and(|fs| fs.iter().any(|f| !had(f)))
                {
                    let name = meta["name"].as_str().unwrap_or_default();
                    return Err(ApiError::invalid(&def.group, &def.kind, name, vec![Cause {
                        reason: "FieldValueForbidden".into(),
                        message: "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted".into(),
                        field: "metadata.finalizers".into(),
                    }]));
                }
            }
        }
    }
    Ok(())
}

fn defaulting(def: &ResourceDef, ctx: &WriteCtx, old: Option<&Value>, obj: &mut Value) {
    if def.builtin {
        defaults::apply(&def.group, &def.kind, obj);
        if def.kind == "Service"
            && let Some(old) = old
        {
            carry_allocated(old, obj);
        }
        if def.kind == "CustomResourceDefinition" {
            crd::prepare(obj, old, &ctx.now);
        }
    } else if let Some(schema) = def.version(&ctx.version).and_then(|v| v.schema.as_ref()) {
        let envelope = split_envelope(obj);
        schema::apply_defaults(schema, obj);
        join_envelope(obj, envelope);
    }
}

/// An update may omit what the server allocated (cluster IPs, node ports): keep them.
fn carry_allocated(old: &Value, obj: &mut Value) {
    for key in ["clusterIP", "clusterIPs"] {
        if obj["spec"][key].is_null() || obj["spec"][key] == "" {
            obj["spec"][key] = old["spec"][key].clone();
        }
    }
    let old_ports = old["spec"]["ports"].as_array().cloned().unwrap_or_default();
    for port in obj["spec"]["ports"].as_array_mut().into_iter().flatten() {
        if port["nodePort"].is_null()
            && let Some(p) = old_ports
                .iter()
                .find(|p| p["port"] == port["port"] && !p["nodePort"].is_null())
        {
            port["nodePort"] = p["nodePort"].clone();
        }
    }
}

fn validate(def: &ResourceDef, ctx: &WriteCtx, old: Option<&Value>, obj: &Value) -> Vec<Cause> {
    if def.builtin {
        let mut causes = validation::metadata(&def.group, &def.kind, obj);
        causes.extend(validation::metachecks::object_meta(obj));
        causes.extend(validation::builtin(&def.group, &def.kind, obj, old));
        return causes;
    }
    // Custom resources: the schema checks check metadata.name themselves.
    let mut causes = validation::labels(obj);
    causes.extend(validation::metachecks::object_meta(obj));
    if let Some(schema) = def.version(&ctx.version).and_then(|v| v.schema.as_ref()) {
        causes.extend(
            schema::validate(schema, obj, old)
                .into_iter()
                .map(|e| Cause {
                    reason: e.reason.to_string(),
                    message: e.message,
                    field: e.field,
                }),
        );
    }
    causes
}

/// `generation` counts changes outside metadata (and outside status for kinds with a
/// status subresource). A Deployment also counts changes of its annotations: its
/// controller copies them onto the ReplicaSets, so an annotation change is work to
/// observe (the apps strategy's `PrepareForUpdate`; ReplicaSets count spec only).
fn bump_generation(def: &ResourceDef, old: &Value, obj: &mut Value) {
    if !def.generation {
        return;
    }
    let counted = |key: &str| {
        !(matches!(key, "metadata" | "apiVersion" | "kind") || (def.status && key == "status"))
    };
    let empty = serde_json::Map::new();
    let (a, b) = (
        old.as_object().unwrap_or(&empty),
        obj.as_object().unwrap_or(&empty),
    );
    let changed = a
        .keys()
        .chain(b.keys())
        .filter(|k| counted(k))
        .any(|k| a.get(k) != b.get(k));
    let annotated = def.builtin
        && def.group == "apps"
        && def.kind == "Deployment"
        && annotations(old) != annotations(obj);
    if changed || annotated {
        let generation = old["metadata"]["generation"].as_i64().unwrap_or(0);
        obj["metadata"]["generation"] = json!(generation + 1);
    }
}

/// The annotations, with none and an empty map alike (the server compares semantically).
fn annotations(obj: &Value) -> Option<&Map<String, Value>> {
    obj["metadata"]["annotations"]
        .as_object()
        .filter(|m| !m.is_empty())
}

//! The primary's autoscaler: a copy of the target's HPA or ScaledObject, pointed at the
//! primary. The spec is copied as JSON, field by field, so fields serin does not know
//! (a newer `behavior`, a KEDA `fallback`, ...) are carried too; only what must differ is
//! rewritten.

use serde_json::{Map, Value, json};

use super::{PAUSED, PAUSED_REPLICAS, primary_name, resource};
use crate::api::{AutoscalerKind, AutoscalerRef, Canary};
use crate::build::{APPLIED, Desired, Names, PRIMARY_SUFFIX, meta, stamp};
use kube::api::DynamicObject;

/// Annotations of the user's autoscaler that never go to the copy: KEDA's pause (a paused
/// primary would leave production unscaled), kubectl's record of the user's manifest, and
/// serin's own.
fn carried_annotation(key: &str) -> bool {
    key != PAUSED_REPLICAS
        && key != PAUSED
        && key != APPLIED
        && key != "kubectl.kubernetes.io/last-applied-configuration"
}

/// The primary's autoscaler, from the user's (`user`, as observed).
pub fn primary_autoscaler(canary: &Canary, aref: &AutoscalerRef, user: &DynamicObject) -> Desired {
    let names = Names::of(canary);
    let name = primary_name(aref);
    let mut m = meta(canary, &name, None);
    if let Some(labels) = &user.metadata.labels {
        m.labels = Some(labels.clone());
    }
    if let (Some(ours), Some(theirs)) = (m.annotations.as_mut(), &user.metadata.annotations) {
        for (k, v) in theirs.iter().filter(|(k, _)| carried_annotation(k)) {
            ours.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let mut spec = user.data.get("spec").cloned().unwrap_or_else(|| json!({}));
    if let Some(spec) = spec.as_object_mut() {
        rewrite(spec, aref, &names.primary);
    }
    let ar = resource(aref.kind);
    let mut value = serde_json::to_value(json!({ "metadata": m })).unwrap_or(Value::Null);
    value["apiVersion"] = json!(ar.api_version);
    value["kind"] = json!(ar.kind);
    value["spec"] = spec;
    stamp(ar, &m, value)
}

/// Points a copied spec at the primary and applies the Canary's overrides.
fn rewrite(spec: &mut Map<String, Value>, aref: &AutoscalerRef, primary: &str) {
    let target = spec.entry("scaleTargetRef").or_insert_with(|| json!({}));
    if let Some(t) = target.as_object_mut() {
        t.insert("name".into(), json!(primary));
    }
    let (min, max) = match aref.kind {
        AutoscalerKind::HorizontalPodAutoscaler => ("minReplicas", "maxReplicas"),
        AutoscalerKind::ScaledObject => ("minReplicaCount", "maxReplicaCount"),
    };
    if let Some(r) = &aref.primary_scaler_replicas {
        if let Some(n) = r.min_replicas {
            spec.insert(min.into(), json!(n));
        }
        if let Some(n) = r.max_replicas {
            spec.insert(max.into(), json!(n));
        }
    }
    if aref.kind == AutoscalerKind::ScaledObject {
        keda_rewrite(spec, aref);
    }
}

/// KEDA: the primary's triggers use `primaryScalerQueries`, and a custom name of KEDA's
/// HPA is suffixed, or the two ScaledObjects would fight over one HPA.
fn keda_rewrite(spec: &mut Map<String, Value>, aref: &AutoscalerRef) {
    if let Some(triggers) = spec.get_mut("triggers").and_then(Value::as_array_mut) {
        for t in triggers {
            let name = t.get("name").and_then(Value::as_str).map(str::to_owned);
            let query = name.and_then(|n| aref.primary_scaler_queries.get(&n));
            if let (Some(q), Some(md)) =
                (query, t.get_mut("metadata").and_then(Value::as_object_mut))
            {
                md.insert("query".into(), json!(q));
            }
        }
    }
    let hpa_name = spec
        .get_mut("advanced")
        .and_then(|a| a.get_mut("horizontalPodAutoscalerConfig"))
        .and_then(|c| c.get_mut("name"));
    if let Some(name) = hpa_name
        && let Some(s) = name.as_str().map(|s| format!("{s}{PRIMARY_SUFFIX}"))
    {
        *name = json!(s);
    }
}

//! The KEDA operator's decision for one ScaledObject, pure: the HPA it
//! manages (`keda-hpa-<name>`), whether it is paused, the replicas to write
//! when paused or when activating from or idling to zero, and the status.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Annotation scaling the target to N and stopping autoscaling.
pub const PAUSED_REPLICAS: &str = "autoscaling.keda.sh/paused-replicas";
/// Annotation stopping autoscaling at the current replicas.
pub const PAUSED: &str = "autoscaling.keda.sh/paused";
/// Label KEDA puts on the HPA it manages.
pub const SCALED_OBJECT_LABEL: &str = "scaledobject.keda.sh/name";
/// KEDA's default `maxReplicaCount`.
pub const DEFAULT_MAX: i32 = 100;
/// KEDA's default `cooldownPeriod`, seconds.
pub const DEFAULT_COOLDOWN: i32 = 300;

/// The part of a ScaledObject's spec the stand-in reads.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScaledObjectSpec {
    pub scale_target_ref: TargetRef,
    pub min_replica_count: Option<i32>,
    pub max_replica_count: Option<i32>,
    pub cooldown_period: Option<i32>,
    pub idle_replica_count: Option<i32>,
    #[serde(default)]
    pub advanced: Advanced,
    #[serde(default)]
    pub triggers: Vec<Trigger>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TargetRef {
    pub name: String,
    pub kind: Option<String>,
    pub api_version: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Advanced {
    pub horizontal_pod_autoscaler_config: Option<HpaConfig>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct HpaConfig {
    pub name: Option<String>,
    pub behavior: Option<Value>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    #[serde(rename = "type")]
    pub type_: String,
    pub name: Option<String>,
    pub metric_type: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, Value>,
}

impl ScaledObjectSpec {
    pub fn min(&self) -> i32 {
        self.min_replica_count.unwrap_or(0).max(0)
    }

    pub fn max(&self) -> i32 {
        self.max_replica_count.unwrap_or(DEFAULT_MAX)
    }

    /// A reason the spec cannot be scaled by, as KEDA's checks report it.
    pub fn invalid(&self) -> Option<String> {
        if self.scale_target_ref.name.is_empty() {
            return Some("ScaledObject.spec.scaleTargetRef.name is missing".into());
        }
        if self.min() > self.max() {
            return Some(format!(
                "MinReplicaCount={} must be less than MaxReplicaCount={}",
                self.min(),
                self.max()
            ));
        }
        if self.idle_replica_count.is_some_and(|i| i >= self.min()) {
            return Some("IdleReplicaCount must be less than MinReplicaCount".into());
        }
        if self.triggers.is_empty() {
            return Some("no triggers defined in the ScaledObject/ScaledJob".into());
        }
        None
    }
}

/// How the pause annotations stand.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pause {
    None,
    /// `paused-replicas: N`: scale to N, then stop.
    At(i32),
    /// `paused: "true"`: stop where the target is.
    Here,
}

/// Reads the pause annotations; `paused-replicas` wins over `paused`. An
/// unparsable `paused-replicas` is an error, as KEDA's webhook rejects it.
pub fn pause(annotations: &BTreeMap<String, String>) -> Result<Pause, String> {
    if let Some(n) = annotations.get(PAUSED_REPLICAS) {
        return match n.trim().parse::<i32>() {
            Ok(n) if n >= 0 => Ok(Pause::At(n)),
            _ => Err(format!(
                "{PAUSED_REPLICAS} must be a non-negative integer, got {n:?}"
            )),
        };
    }
    let paused = annotations
        .get(PAUSED)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    Ok(if paused { Pause::Here } else { Pause::None })
}

/// The name of the managed HPA.
pub fn hpa_name(so_name: &str, spec: &ScaledObjectSpec) -> String {
    let custom = spec
        .advanced
        .horizontal_pod_autoscaler_config
        .as_ref()
        .and_then(|c| c.name.clone())
        .filter(|n| !n.is_empty());
    custom.unwrap_or_else(|| format!("keda-hpa-{so_name}"))
}

/// The managed HPA, for server-side apply. `owner` is the ScaledObject's
/// controller owner reference; `knobs` (the ScaledObject's load annotations)
/// are copied so the HPA stand-in reads the simulated load from its HPA.
pub fn hpa(
    so_name: &str,
    spec: &ScaledObjectSpec,
    owner: Value,
    knobs: &BTreeMap<String, String>,
) -> Value {
    let name = hpa_name(so_name, spec);
    let target = &spec.scale_target_ref;
    let mut hpa_spec = json!({
        "scaleTargetRef": {
            "apiVersion": target.api_version.as_deref().unwrap_or("apps/v1"),
            "kind": target.kind.as_deref().unwrap_or("Deployment"),
            "name": target.name,
        },
        // An HPA cannot hold zero replicas; KEDA itself scales to zero.
        "minReplicas": spec.min().max(1),
        "maxReplicas": spec.max(),
        "metrics": metrics(so_name, spec),
    });
    let behavior = spec.advanced.horizontal_pod_autoscaler_config.as_ref();
    if let Some(b) = behavior.and_then(|c| c.behavior.clone()) {
        hpa_spec["behavior"] = b;
    }
    let mut metadata = json!({
        "name": name,
        "labels": {
            "app.kubernetes.io/name": name,
            "app.kubernetes.io/part-of": so_name,
            "app.kubernetes.io/managed-by": "keda-operator",
            SCALED_OBJECT_LABEL: so_name,
        },
        "ownerReferences": [owner],
    });
    if !knobs.is_empty() {
        metadata["annotations"] = json!(knobs);
    }
    json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata,
        "spec": hpa_spec,
    })
}

/// One metric per trigger: `cpu`/`memory` triggers become Resource metrics,
/// the others External metrics named `s<index>-<type>` as KEDA names them,
/// selected by the ScaledObject label.
fn metrics(so_name: &str, spec: &ScaledObjectSpec) -> Vec<Value> {
    spec.triggers
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let value = t
                .metadata
                .get("value")
                .and_then(|v| match v {
                    Value::String(s) => s.parse::<f64>().ok(),
                    other => other.as_f64(),
                })
                .unwrap_or(1.0);
            if matches!(t.type_.as_str(), "cpu" | "memory") {
                let utilisation = t.metric_type.as_deref().unwrap_or("Utilization");
                let target = if utilisation == "Utilization" {
                    json!({"type": "Utilization", "averageUtilization": value.round() as i64})
                } else {
                    json!({"type": utilisation, utilisation_field(utilisation): quantity(value)})
                };
                json!({"type": "Resource", "resource": {"name": t.type_, "target": target}})
            } else {
                let kind = t.metric_type.as_deref().unwrap_or("AverageValue");
                json!({"type": "External", "external": {
                    "metric": {
                        "name": format!("s{i}-{}", t.type_),
                        "selector": {"matchLabels": {SCALED_OBJECT_LABEL: so_name}}
                    },
                    "target": {"type": kind, utilisation_field(kind): quantity(value)}
                }})
            }
        })
        .collect()
}

/// A number as the API server writes it back: whole numbers plain, others
/// in milli-units (`0.5` reads back as `500m`), so a re-read HPA compares equal.
fn quantity(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{}", value as i64)
    } else {
        format!("{}m", (value * 1000.0).round() as i64)
    }
}

fn utilisation_field(kind: &str) -> &'static str {
    if kind == "Value" {
        "value"
    } else {
        "averageValue"
    }
}

/// True when every field of `desired` is in `observed` with the same value
/// (objects compared key by key, arrays item by item), so that the server's
/// defaults and other managers' fields never cause a rewrite.
pub fn contains(observed: &Value, desired: &Value) -> bool {
    match (observed, desired) {
        (Value::Object(o), Value::Object(d)) => d
            .iter()
            .all(|(k, v)| o.get(k).is_some_and(|ov| contains(ov, v))),
        (Value::Array(o), Value::Array(d)) => {
            o.len() == d.len() && o.iter().zip(d).all(|(ov, dv)| contains(ov, dv))
        }
        (o, d) => o == d,
    }
}

/// Drops `apiVersion`/`kind` so only metadata and spec are compared.
pub fn comparable(hpa: &Value) -> Value {
    let mut out = Map::new();
    for key in ["metadata", "spec"] {
        if let Some(v) = hpa.get(key) {
            out.insert(key.to_owned(), v.clone());
        }
    }
    Value::Object(out)
}

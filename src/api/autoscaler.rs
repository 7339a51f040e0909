//! `spec.autoscalerRef`: the HorizontalPodAutoscaler or KEDA ScaledObject that scales the
//! target. serin gives the primary its own copy (`<name>-primary`), so production stays
//! autoscaled; field names and meanings are Flagger's.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The kinds of autoscaler serin copies for the primary.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AutoscalerKind {
    /// `autoscaling/v2` HorizontalPodAutoscaler.
    #[default]
    HorizontalPodAutoscaler,
    /// `keda.sh/v1alpha1` ScaledObject.
    ScaledObject,
}

impl AutoscalerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AutoscalerKind::HorizontalPodAutoscaler => "HorizontalPodAutoscaler",
            AutoscalerKind::ScaledObject => "ScaledObject",
        }
    }
}

/// The autoscaler of the target, copied for the primary.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AutoscalerRef {
    /// `autoscaling/v2` for an HPA, `keda.sh/v1alpha1` for a ScaledObject; informative,
    /// serin reads those versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `HorizontalPodAutoscaler` or `ScaledObject`.
    pub kind: AutoscalerKind,
    /// Name of the autoscaler, in the Canary's namespace; it scales the target (the canary).
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// ScaledObject only: trigger name to the query the primary's copy of that trigger uses
    /// (the target's queries usually name the canary's pods).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub primary_scaler_queries: BTreeMap<String, String>,
    /// Overrides of the primary autoscaler's replica bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_scaler_replicas: Option<ScalerReplicas>,
}

/// Replica bounds of the primary's autoscaler; unset ones are copied from the target's.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScalerReplicas {
    /// `minReplicas` of the HPA, `minReplicaCount` of the ScaledObject (0 allowed there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 2147483647))]
    pub min_replicas: Option<i32>,
    /// `maxReplicas` of the HPA, `maxReplicaCount` of the ScaledObject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 2147483647))]
    pub max_replicas: Option<i32>,
}

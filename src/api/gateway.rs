//! Gateway API parent references (`service.gatewayRefs`), typed and bounded as the
//! Gateway API's own `ParentReference` is, so that a Flagger manifest keeps its meaning
//! and the CEL cost of the CRD stays bounded.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// A parent of the HTTPRoute or GRPCRoute serin manages: a Gateway (north-south traffic)
/// or, with `group: ""` and `kind: Service`, a Service (GAMMA, east-west traffic).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayRef {
    /// Name of the parent.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the parent; default the Canary's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
    /// API group of the parent; default `gateway.networking.k8s.io`, `""` for a Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub group: Option<String>,
    /// Kind of the parent; default `Gateway`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub kind: Option<String>,
    /// Listener name of a Gateway parent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub section_name: Option<String>,
    /// Port of the parent the route attaches to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
}

impl GatewayRef {
    /// Whether the parent is a Service (GAMMA) rather than a Gateway.
    pub fn is_service(&self) -> bool {
        self.kind.as_deref() == Some("Service") && self.group.as_deref().unwrap_or("").is_empty()
    }
}

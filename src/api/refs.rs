//! References from one serin object to another, shared by the Canary's metrics and alerts.

use serde::{Deserialize, Serialize};

/// Reference to a MetricTemplate or AlertProvider.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
pub struct TemplateRef {
    /// Name of the object.
    pub name: String,
    /// Namespace of the object; default the Canary's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

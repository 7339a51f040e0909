//! The suite's custom resources: `Gadget` (namespaced, every schema feature
//! the server must enforce, printer columns, short name, category, status
//! subresource), `Gizmo` (cluster-scoped, no columns) and `Widget` (derived
//! with kube's `CustomResource`, reconciled by the controller test). All in
//! group `conformance.serin.dev`, applied once per test binary.

use crate::support::{WAIT, client};
use anyhow::{Context, Result};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client, CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

pub const GROUP: &str = "conformance.serin.dev";
pub const MANAGER: &str = "serin-conformance";

/// The Widget the controller test reconciles into a ConfigMap.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "conformance.serin.dev",
    version = "v1",
    kind = "Widget",
    namespaced
)]
#[kube(status = "WidgetStatus", shortname = "wdg", category = "serinconf")]
#[kube(printcolumn = r#"{"name":"Message","type":"string","jsonPath":".spec.message"}"#)]
#[kube(
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#
)]
pub struct WidgetSpec {
    /// Copied into the child ConfigMap's `message` key.
    pub message: String,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WidgetStatus {
    #[serde(default)]
    pub conditions: Vec<WidgetCondition>,
    pub observed_generation: Option<i64>,
}

#[derive(Deserialize, Serialize, Clone, Debug, JsonSchema)]
pub struct WidgetCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub reason: String,
}

/// `gadgets.conformance.serin.dev`.
pub fn gadget_crd() -> Value {
    let condition = json!({"type": "object", "required": ["type", "status"], "properties": {
        "type": {"type": "string"}, "status": {"type": "string"}, "reason": {"type": "string"}}});
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("gadgets.{GROUP}")},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "listKind": "GadgetList",
                      "shortNames": ["gdg"], "categories": ["serinconf"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                    {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                    {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
                    {"name": "Mode", "type": "string", "jsonPath": ".spec.mode", "priority": 1},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
                ],
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {
                        "type": "object",
                        "required": ["owner"],
                        "x-kubernetes-validations": [{
                            "rule": "!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas",
                            "message": "minReplicas must not exceed maxReplicas"
                        }],
                        "properties": {
                            "owner": {"type": "string"},
                            "size": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3},
                            "mode": {"type": "string", "enum": ["fast", "slow"], "default": "fast"},
                            "label": {"type": "string", "pattern": "^[a-z]+$"},
                            "note": {"type": "string", "nullable": true},
                            "ratio": {"type": "number"},
                            "enabled": {"type": "boolean"},
                            "tags": {"type": "array", "items": {"type": "string"}},
                            "count": {"type": "integer", "format": "int32"},
                            "total": {"type": "integer", "format": "int64"},
                            "minReplicas": {"type": "integer"},
                            "maxReplicas": {"type": "integer"},
                            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                        }
                    },
                    "status": {"type": "object", "properties": {
                        "phase": {"type": "string"},
                        "observedGeneration": {"type": "integer"},
                        "conditions": {"type": "array", "items": condition}
                    }}
                }}}
            }]
        }
    })
}

/// `gizmos.conformance.serin.dev`: cluster-scoped, default columns.
pub fn gizmo_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("gizmos.{GROUP}")},
        "spec": {
            "group": GROUP,
            "scope": "Cluster",
            "names": {"plural": "gizmos", "singular": "gizmo", "kind": "Gizmo", "shortNames": ["gzm"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"color": {"type": "string"}}}
                }}}
            }]
        }
    })
}

static CRDS: OnceCell<()> = OnceCell::const_new();

/// Applies the suite's CRDs (once per test binary) and waits until they are
/// Established.
pub async fn ensure_crds() -> Result<()> {
    CRDS.get_or_try_init(|| async {
        let client = client().await?;
        let widget = serde_json::to_value(Widget::crd())?;
        for crd in [gadget_crd(), gizmo_crd(), widget] {
            apply_crd(&client, &crd).await?;
        }
        anyhow::Ok(())
    })
    .await?;
    Ok(())
}

/// Server-side applies one CRD and waits for its `Established` condition.
pub async fn apply_crd(client: &Client, crd: &Value) -> Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = crd
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .context("CRD without a name")?;
    api.patch(
        name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(crd),
    )
    .await
    .with_context(|| format!("applying CRD {name}"))?;
    tokio::time::timeout(
        WAIT,
        await_condition(api, name, conditions::is_crd_established()),
    )
    .await
    .with_context(|| format!("CRD {name} not Established within {WAIT:?}"))??;
    Ok(())
}

/// The `ApiResource` of one of the suite's kinds (`Gadget`, `Gizmo`).
pub fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, "v1", kind), plural)
}

/// Gadgets of namespace `ns`.
pub fn gadgets(client: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &resource("Gadget", "gadgets"))
}

/// A Gadget with the given spec.
pub fn gadget(name: &str, spec: Value) -> Result<DynamicObject> {
    Ok(serde_json::from_value(json!({
        "apiVersion": format!("{GROUP}/v1"), "kind": "Gadget", "metadata": {"name": name}, "spec": spec
    }))?)
}

//! A minimal `ScaledObject` CRD of the sandbox's own writing: KEDA's group,
//! version, kind and names, a structural schema with the fields the
//! stand-in reads (from KEDA's published field list), open where KEDA's own
//! schema is open (`behavior`, `fallback`, `scalingModifiers`,
//! `authenticationRef`), and KEDA's printer columns.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

/// KEDA's API group and version.
pub const GROUP: &str = "keda.sh";
pub const VERSION: &str = "v1alpha1";

/// Label marking the CRDs the sandbox wrote (as the mesh stand-in does), so
/// a real KEDA's CRD is never overwritten.
const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "serin-sandbox");
const FIELD_MANAGER: &str = "serin-sandbox-keda";
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(30);

fn int() -> Value {
    json!({"type": "integer", "format": "int32"})
}

fn open() -> Value {
    json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}

fn spec_schema() -> Value {
    json!({
        "type": "object",
        "required": ["scaleTargetRef", "triggers"],
        "properties": {
            "scaleTargetRef": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "name": {"type": "string"},
                    "envSourceContainerName": {"type": "string"}
                }
            },
            "minReplicaCount": int(),
            "maxReplicaCount": int(),
            "idleReplicaCount": int(),
            "pollingInterval": int(),
            "cooldownPeriod": int(),
            "initialCooldownPeriod": int(),
            "advanced": {
                "type": "object",
                "properties": {
                    "horizontalPodAutoscalerConfig": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}, "behavior": open()}
                    },
                    "restoreToOriginalReplicaCount": {"type": "boolean"},
                    "scalingModifiers": open()
                }
            },
            "fallback": open(),
            "triggers": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["type", "metadata"],
                    "properties": {
                        "type": {"type": "string"},
                        "name": {"type": "string"},
                        "metricType": {"type": "string"},
                        "useCachedMetrics": {"type": "boolean"},
                        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                        "authenticationRef": open()
                    }
                }
            }
        }
    })
}

fn status_schema() -> Value {
    let condition = json!({"type": "object", "required": ["type", "status"], "properties": {
        "type": {"type": "string"}, "status": {"type": "string"},
        "reason": {"type": "string"}, "message": {"type": "string"}}});
    json!({
        "type": "object",
        // KEDA's status has more fields (health, external metric names, ...).
        "x-kubernetes-preserve-unknown-fields": true,
        "properties": {
            "conditions": {"type": "array", "items": condition},
            "hpaName": {"type": "string"},
            "originalReplicaCount": int(),
            "pausedReplicaCount": int(),
            "scaleTargetKind": {"type": "string"},
            "lastActiveTime": {"type": "string", "format": "date-time"}
        }
    })
}

/// The ScaledObject CRD.
pub fn scaled_object_crd() -> Option<CustomResourceDefinition> {
    let cond = |t: &str| format!(".status.conditions[?(@.type==\"{t}\")].status");
    let columns = json!([
        {"name": "ScaleTargetKind", "type": "string", "jsonPath": ".status.scaleTargetKind"},
        {"name": "ScaleTargetName", "type": "string", "jsonPath": ".spec.scaleTargetRef.name"},
        {"name": "Min", "type": "integer", "jsonPath": ".spec.minReplicaCount"},
        {"name": "Max", "type": "integer", "jsonPath": ".spec.maxReplicaCount"},
        {"name": "Ready", "type": "string", "jsonPath": cond("Ready")},
        {"name": "Active", "type": "string", "jsonPath": cond("Active")},
        {"name": "Fallback", "type": "string", "jsonPath": cond("Fallback")},
        {"name": "Paused", "type": "string", "jsonPath": cond("Paused")},
        {"name": "Triggers", "type": "string", "jsonPath": ".spec.triggers[*].type"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    ]);
    let value = json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("scaledobjects.{GROUP}"), "labels": {MANAGED_BY.0: MANAGED_BY.1}},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": "ScaledObject", "listKind": "ScaledObjectList", "plural": "scaledobjects",
                "singular": "scaledobject", "shortNames": ["so"]
            },
            "versions": [{
                "name": VERSION, "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "required": ["spec"],
                    "properties": {"spec": spec_schema(), "status": status_schema()}
                }},
                "subresources": {"status": {}},
                "additionalPrinterColumns": columns
            }]
        }
    });
    // The literal above always parses; a failure would drop the CRD, not panic.
    serde_json::from_value(value).ok()
}

/// Applies the CRD unless a CRD of that name exists that the sandbox did not
/// write (a real KEDA), and waits until it is established. Returns whether
/// the CRD is the sandbox's: only then should the KEDA stand-in run.
pub async fn install_scaled_object_crd(client: Client) -> anyhow::Result<bool> {
    let crd = scaled_object_crd().ok_or_else(|| anyhow::anyhow!("ScaledObject CRD literal"))?;
    let api: Api<CustomResourceDefinition> = Api::all(client);
    let name = crd.name_any();
    if let Some(existing) = api.get_opt(&name).await? {
        let ours = existing.labels().get(MANAGED_BY.0).map(String::as_str) == Some(MANAGED_BY.1);
        if !ours {
            tracing::info!(%name, "a ScaledObject CRD of a real KEDA exists; no KEDA stand-in");
            return Ok(false);
        }
    }
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(&name, &params, &Patch::Apply(&crd)).await?;
    let established = await_condition(api, &name, conditions::is_crd_established());
    tokio::time::timeout(ESTABLISH_TIMEOUT, established)
        .await
        .map_err(|_| anyhow::anyhow!("CRD {name} not established after {ESTABLISH_TIMEOUT:?}"))??;
    Ok(true)
}

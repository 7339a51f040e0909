//! Minimal Istio `VirtualService` and `DestinationRule` CRDs of the sandbox's
//! own writing: the group, kinds, names and versions of Istio's, with
//! schemas that keep any spec and status, so objects Flagger or serin write
//! for a real Istio are stored as they are.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

/// API group of Istio's networking kinds.
pub const GROUP: &str = "networking.istio.io";

/// Label marking the CRDs the sandbox wrote, so it never overwrites the
/// CRDs of a real Istio installation when attached to a real cluster.
pub(crate) const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "serin-sandbox");
const FIELD_MANAGER: &str = "serin-sandbox-mesh";
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(30);

/// The VirtualService and DestinationRule CRDs.
pub fn istio_crds() -> Vec<CustomResourceDefinition> {
    let vs_columns = json!([
        {"name": "Gateways", "type": "string", "jsonPath": ".spec.gateways", "description": "The names of gateways and sidecars that should apply these routes"},
        {"name": "Hosts", "type": "string", "jsonPath": ".spec.hosts", "description": "The destination hosts to which traffic is being sent"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    ]);
    let dr_columns = json!([
        {"name": "Host", "type": "string", "jsonPath": ".spec.host", "description": "The name of a service from the service registry"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    ]);
    [
        ("VirtualService", "virtualservices", "vs", vs_columns),
        ("DestinationRule", "destinationrules", "dr", dr_columns),
    ]
    .into_iter()
    .filter_map(|(kind, plural, short, columns)| crd(kind, plural, short, &columns))
    .collect()
}

fn crd(kind: &str, plural: &str, short: &str, columns: &Value) -> Option<CustomResourceDefinition> {
    let schema = json!({
        "type": "object",
        "properties": {
            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
        }
    });
    // v1 is stored; the older versions Istio still serves are the same schema.
    let versions: Vec<Value> = ["v1", "v1beta1", "v1alpha3"]
        .iter()
        .map(|v| {
            json!({
                "name": v, "served": true, "storage": *v == "v1",
                "schema": {"openAPIV3Schema": schema},
                "subresources": {"status": {}},
                "additionalPrinterColumns": columns
            })
        })
        .collect();
    let value = json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{GROUP}"), "labels": {MANAGED_BY.0: MANAGED_BY.1}},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind, "listKind": format!("{kind}List"), "plural": plural,
                "singular": kind.to_lowercase(), "shortNames": [short],
                "categories": ["istio-io", "networking-istio-io"]
            },
            "versions": versions
        }
    });
    // The literal above always parses; a failure would drop the CRD, not panic.
    serde_json::from_value(value).ok()
}

/// Applies the CRDs (server-side apply, idempotent) and waits until they are
/// established. CRDs not written by the sandbox are left alone.
pub async fn install_istio_crds(client: Client) -> anyhow::Result<()> {
    install(client, istio_crds()).await
}

/// Applies `crds` (server-side apply, idempotent) and waits until they are established.
/// CRDs not written by the sandbox are left alone.
pub async fn install(client: Client, crds: Vec<CustomResourceDefinition>) -> anyhow::Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for crd in &crds {
        let name = crd.name_any();
        if let Some(existing) = api.get_opt(&name).await? {
            let ours = existing
                .labels()
                .get(MANAGED_BY.0)
                .is_some_and(|v| v == MANAGED_BY.1);
            if !ours {
                tracing::info!(%name, "keeping the existing CRD");
                continue;
            }
        }
        api.patch(&name, &params, &Patch::Apply(crd)).await?;
    }
    for crd in &crds {
        let name = crd.name_any();
        let established = await_condition(api.clone(), &name, conditions::is_crd_established());
        tokio::time::timeout(ESTABLISH_TIMEOUT, established)
            .await
            .map_err(|_| {
                anyhow::anyhow!("CRD {name} not established after {ESTABLISH_TIMEOUT:?}")
            })??;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crds_serve_istio_versions_and_store_v1() {
        let crds = istio_crds();
        let names: Vec<String> = crds.iter().map(|c| c.name_any()).collect();
        assert_eq!(
            names,
            [
                "virtualservices.networking.istio.io",
                "destinationrules.networking.istio.io"
            ]
        );
        for crd in &crds {
            let versions: Vec<(&str, bool, bool)> = crd
                .spec
                .versions
                .iter()
                .map(|v| (v.name.as_str(), v.served, v.storage))
                .collect();
            assert_eq!(
                versions,
                [
                    ("v1", true, true),
                    ("v1beta1", true, false),
                    ("v1alpha3", true, false)
                ]
            );
            let schema = serde_json::to_value(&crd.spec.versions[0].schema).expect("schema");
            let spec = &schema["openAPIV3Schema"]["properties"]["spec"];
            assert_eq!(spec["x-kubernetes-preserve-unknown-fields"], json!(true));
        }
        assert_eq!(crds[0].spec.names.short_names, Some(vec!["vs".to_owned()]));
    }
}

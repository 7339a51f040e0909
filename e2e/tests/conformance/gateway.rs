//! Gateway API route status, as the router relies on it: `status.parents[].conditions`
//! is written only through the status subresource, leaves the spec and generation alone,
//! survives spec updates, and is validated (required condition fields, the status enum).
//! Against a real API server the standard Gateway API CRDs must be applied; against the
//! sandbox, the mesh stand-in's own CRDs are installed here.

use anyhow::{Result, ensure};
use kube::Api;
use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use serin_sandbox::mesh::{crds, gateway};

use crate::support::{TestNs, api_error, client};

async fn routes(kind: &str, ns: &TestNs) -> Result<Api<DynamicObject>> {
    crds::install(client().await?, gateway::gateway_crds()).await?;
    Ok(Api::namespaced_with(
        ns.client.clone(),
        &ns.name,
        &gateway::resource(kind),
    ))
}

fn route(kind: &str) -> Result<DynamicObject> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": kind,
        "metadata": {"name": "podinfo"},
        "spec": {
            "parentRefs": [{"name": "public"}],
            "rules": [{"backendRefs": [
                {"name": "podinfo-primary", "port": 9898, "weight": 90},
                {"name": "podinfo-canary", "port": 9898, "weight": 10}
            ]}]
        },
        "status": {"parents": []}
    }))?)
}

fn parents(status: &str, reason: &str) -> Value {
    json!({"status": {"parents": [{
        "parentRef": {"name": "public"},
        "controllerName": "example.com/gateway",
        "conditions": [{
            "type": "Accepted", "status": status, "reason": reason, "message": "",
            "observedGeneration": 1, "lastTransitionTime": "2026-01-01T00:00:00Z"
        }]
    }]}})
}

#[tokio::test]
async fn route_status_parents_go_through_the_status_subresource() -> Result<()> {
    for kind in ["HTTPRoute", "GRPCRoute"] {
        let ns = TestNs::create("conf-gw-status").await?;
        let api = routes(kind, &ns).await?;
        let created = api.create(&PostParams::default(), &route(kind)?).await?;
        ensure!(created.metadata.generation == Some(1));
        ensure!(
            created.data.pointer("/status/parents/0").is_none(),
            "{kind}: status is ignored on create"
        );

        let pp = PatchParams::default();
        let patched = api
            .patch_status(
                "podinfo",
                &pp,
                &Patch::Merge(parents("False", "NotAllowedByListeners")),
            )
            .await?;
        ensure!(
            patched.metadata.generation == Some(1),
            "{kind}: status does not bump generation"
        );
        let cond = &patched.data["status"]["parents"][0]["conditions"][0];
        ensure!(cond["reason"] == "NotAllowedByListeners", "{kind}: {cond}");
        ensure!(patched.data["spec"]["rules"][0]["backendRefs"][1]["weight"] == 10);

        // A status written through the main resource is ignored.
        let sneaky = json!({"status": {"parents": []}, "spec": {"hostnames": ["a.example.com"]}});
        let updated = api.patch("podinfo", &pp, &Patch::Merge(sneaky)).await?;
        ensure!(
            updated.metadata.generation == Some(2),
            "{kind}: spec change bumps generation"
        );
        ensure!(
            updated.data["status"]["parents"][0]["conditions"][0]["status"] == "False",
            "{kind}: status survives a spec update: {}",
            updated.data["status"]
        );

        for bad in [
            parents("Maybe", "Accepted"),
            json!({"status": {"parents": [{"parentRef": {"name": "public"}, "controllerName": "x",
                "conditions": [{"type": "Accepted", "status": "True"}]}]}}),
        ] {
            let err = api_error(api.patch_status("podinfo", &pp, &Patch::Merge(bad)).await)?;
            ensure!(err.code == 422, "{kind}: invalid status accepted: {err:?}");
        }
        ns.delete().await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_parent_ref_without_a_name_is_refused() -> Result<()> {
    let ns = TestNs::create("conf-gw-parent").await?;
    let api = routes("HTTPRoute", &ns).await?;
    let mut r = route("HTTPRoute")?;
    r.data["spec"]["parentRefs"] = json!([{"kind": "Gateway"}]);
    let err = api_error(api.create(&PostParams::default(), &r).await)?;
    ensure!(err.code == 422, "{err:?}");
    ns.delete().await
}

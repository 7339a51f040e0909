//! CustomResourceDefinitions: applying one serves its kinds (namespaced and
//! cluster-scoped), the status subresource, printer columns, short names and
//! categories in kubectl, `kubectl wait`, and deleting a CRD.

use super::fixtures::{GROUP, MANAGER, ensure_crds, gadget, gadgets, resource};
use crate::support::{TestNs, WAIT, api_error, client, eventually, kubectl, raw, suffix};
use anyhow::{Context, Result, ensure};
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

#[tokio::test]
async fn crd_kinds_are_served() -> Result<()> {
    ensure_crds().await?;
    let ns = TestNs::create("conf-crd").await?;
    let other = TestNs::create("conf-crd-other").await?;
    let api = gadgets(&ns.client, &ns.name);
    let pp = PostParams::default();
    let created = api
        .create(&pp, &gadget("g1", json!({"owner": "team-a"}))?)
        .await?;
    ensure!(created.metadata.namespace.as_deref() == Some(ns.name.as_str()));
    ensure!(created.uid().is_some() && created.creation_timestamp().is_some());
    gadgets(&ns.client, &other.name)
        .create(&pp, &gadget("g2", json!({"owner": "team-b"}))?)
        .await?;

    let here = api.list(&ListParams::default()).await?;
    ensure!(
        here.items
            .iter()
            .map(ResourceExt::name_any)
            .collect::<Vec<_>>()
            == ["g1"],
        "{:?}",
        here.items
    );
    let all: Api<DynamicObject> = Api::all_with(ns.client.clone(), &resource("Gadget", "gadgets"));
    let everywhere = all.list(&ListParams::default()).await?;
    for name in ["g1", "g2"] {
        ensure!(
            everywhere.items.iter().any(|g| g.name_any() == name),
            "{name} missing from the cluster-wide list"
        );
    }

    let gizmos: Api<DynamicObject> = Api::all_with(ns.client.clone(), &resource("Gizmo", "gizmos"));
    let name = format!("gizmo-{}", suffix());
    let gizmo: DynamicObject = serde_json::from_value(json!({
        "apiVersion": format!("{GROUP}/v1"), "kind": "Gizmo", "metadata": {"name": name}, "spec": {"color": "red"}}))?;
    let created = gizmos.create(&pp, &gizmo).await?;
    ensure!(
        created.metadata.namespace.is_none(),
        "cluster-scoped objects have no namespace"
    );
    ensure!(gizmos.get(&name).await?.data["spec"]["color"] == "red");
    gizmos.delete(&name, &DeleteParams::default()).await?;
    ensure!(api_error(gizmos.get(&name).await)?.code == 404);

    api.delete("g1", &DeleteParams::default()).await?;
    ensure!(api_error(api.get("g1").await)?.code == 404);
    other.delete().await?;
    ns.delete().await
}

#[tokio::test]
async fn status_subresource_and_generation() -> Result<()> {
    ensure_crds().await?;
    let ns = TestNs::create("conf-status").await?;
    let api = gadgets(&ns.client, &ns.name);
    let mut g = gadget("g", json!({"owner": "a", "size": 2}))?;
    g.data["status"] = json!({"phase": "Sneaky"});
    let created = api.create(&PostParams::default(), &g).await?;
    ensure!(created.metadata.generation == Some(1));
    ensure!(
        created
            .data
            .get("status")
            .is_none_or(|s| s.get("phase").is_none()),
        "status is ignored on create"
    );

    // Writing status through /status ignores spec changes and keeps generation.
    let status_patch =
        json!({"spec": {"size": 9}, "status": {"phase": "Running", "observedGeneration": 1}});
    let after = api
        .patch_status("g", &PatchParams::default(), &Patch::Merge(&status_patch))
        .await?;
    ensure!(
        after.data["status"]["phase"] == "Running" && after.data["spec"]["size"] == 2,
        "{:?}",
        after.data
    );
    ensure!(after.metadata.generation == Some(1));

    // Writing the main resource ignores status; metadata changes keep generation.
    let main_patch =
        json!({"metadata": {"labels": {"x": "y"}}, "status": {"phase": "Overwritten"}});
    let after = api
        .patch("g", &PatchParams::default(), &Patch::Merge(&main_patch))
        .await?;
    ensure!(
        after.data["status"]["phase"] == "Running" && after.metadata.generation == Some(1),
        "{:?}",
        after
    );
    let after = api
        .patch(
            "g",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 4}})),
        )
        .await?;
    ensure!(after.metadata.generation == Some(2) && after.data["spec"]["size"] == 4);

    // A full PUT of /status behaves the same way.
    let mut whole = api.get_status("g").await?;
    whole.data["status"]["phase"] = json!("Done");
    whole.data["spec"]["size"] = json!(7);
    let after = api
        .replace_status("g", &PostParams::default(), &whole)
        .await?;
    ensure!(after.data["status"]["phase"] == "Done" && after.data["spec"]["size"] == 4);
    ensure!(after.metadata.generation == Some(2));
    ns.delete().await
}

const GADGETS: &str = r#"
apiVersion: conformance.serin.dev/v1
kind: Gadget
metadata:
  name: alpha
spec:
  owner: team-a
---
apiVersion: conformance.serin.dev/v1
kind: Gadget
metadata:
  name: beta
spec:
  owner: team-b
  size: 7
  mode: slow
"#;

#[tokio::test]
async fn kubectl_custom_resources() -> Result<()> {
    ensure_crds().await?;
    let ns = TestNs::create("conf-kubectl-crd").await?;
    let n = ns.name.as_str();
    let file = kubectl::manifest("gadgets", GADGETS)?;
    let out = kubectl::ok(&["-n", n, "apply", "-f", file.to_str().context("path")?]).await?;
    ensure!(
        out.contains("gadget.conformance.serin.dev/alpha created"),
        "{out}"
    );

    // kubectl wait blocks until the status shows the condition.
    let waiter = tokio::spawn({
        let n = n.to_string();
        async move {
            kubectl::ok(&[
                "-n",
                &n,
                "wait",
                "--for=condition=Ready",
                "gadget/alpha",
                "--timeout=20s",
            ])
            .await
        }
    });
    let status = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
    gadgets(&ns.client, n)
        .patch_status("alpha", &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    let waited = waiter.await??;
    ensure!(
        waited.contains("gadget.conformance.serin.dev/alpha condition met"),
        "{waited}"
    );

    let out = kubectl::ok(&["-n", n, "get", "gadgets"]).await?;
    ensure!(
        kubectl::header(&out) == ["NAME", "PHASE", "SIZE", "READY", "AGE"],
        "{out}"
    );
    let alpha = kubectl::row(&out, "alpha").with_context(|| out.clone())?;
    ensure!(
        alpha[1..4] == ["Running", "3", "True"],
        "defaulted size, status columns: {alpha:?}"
    );
    let beta = kubectl::row(&out, "beta").with_context(|| out.clone())?;
    ensure!(
        beta[1..4] == ["", "7", ""],
        "missing values print nothing: {beta:?}"
    );
    let wide = kubectl::ok(&["-n", n, "get", "gdg", "-o", "wide"]).await?;
    ensure!(
        kubectl::header(&wide) == ["NAME", "PHASE", "SIZE", "READY", "MODE", "AGE"],
        "{wide}"
    );
    ensure!(
        kubectl::row(&wide, "beta").is_some_and(|r| r[4] == "slow"),
        "{wide}"
    );
    let category = kubectl::ok(&["-n", n, "get", "serinconf"]).await?;
    ensure!(
        category.contains("gadget.conformance.serin.dev/alpha"),
        "{category}"
    );

    let mode = kubectl::ok(&[
        "-n",
        n,
        "get",
        "gadget",
        "alpha",
        "-o",
        "jsonpath={.spec.mode}",
    ])
    .await?;
    ensure!(mode == "fast", "{mode}");
    let yaml = kubectl::ok(&["-n", n, "get", "gadget", "beta", "-o", "yaml"]).await?;
    ensure!(
        yaml.contains("kind: Gadget") && yaml.contains("owner: team-b"),
        "{yaml}"
    );
    let out = kubectl::ok(&[
        "-n",
        n,
        "patch",
        "gadget",
        "beta",
        "--type=merge",
        "-p",
        r#"{"spec":{"size":8}}"#,
    ])
    .await?;
    ensure!(
        out.contains("gadget.conformance.serin.dev/beta patched"),
        "{out}"
    );
    let describe = kubectl::ok(&["-n", n, "describe", "gadget", "beta"]).await?;
    ensure!(
        describe.contains("Owner:") && describe.contains("team-b") && describe.contains("8"),
        "{describe}"
    );

    let crds = kubectl::ok(&["get", "crd", &format!("gadgets.{GROUP}")]).await?;
    ensure!(kubectl::header(&crds) == ["NAME", "CREATED AT"], "{crds}");
    let gizmos = kubectl::ok(&["get", "gizmos"]).await?;
    ensure!(
        gizmos.trim().is_empty() || kubectl::header(&gizmos) == ["NAME", "AGE"],
        "{gizmos}"
    );

    let out = kubectl::ok(&["-n", n, "delete", "gadget", "alpha"]).await?;
    ensure!(
        out.contains("gadget.conformance.serin.dev \"alpha\" deleted"),
        "{out}"
    );
    ns.delete().await
}

fn throwaway_crd(group: &str) -> String {
    format!(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: doohickeys.{group}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: doohickeys, singular: doohickey, kind: Doohickey}}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
"#
    )
}

#[tokio::test]
async fn crd_lifecycle_with_kubectl() -> Result<()> {
    let ns = TestNs::create("conf-crd-life").await?;
    let group = format!("t{}.{GROUP}", suffix());
    let crd_name = format!("doohickeys.{group}");
    let file = kubectl::manifest("crd", &throwaway_crd(&group))?;
    kubectl::ok(&["apply", "-f", file.to_str().context("path")?]).await?;
    let out = kubectl::ok(&[
        "wait",
        "--for=condition=Established",
        &format!("crd/{crd_name}"),
        "--timeout=20s",
    ])
    .await?;
    ensure!(out.contains("condition met"), "{out}");

    let client = client().await?;
    let ar = kube::api::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk(&group, "v1", "Doohickey"),
        "doohickeys",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns.name, &ar);
    let obj: DynamicObject = serde_json::from_value(
        json!({"apiVersion": format!("{group}/v1"), "kind": "Doohickey",
        "metadata": {"name": "d"}, "spec": {"anything": {"goes": [1, 2]}}}),
    )?;
    api.patch("d", &PatchParams::apply(MANAGER), &Patch::Apply(&obj))
        .await?;
    ensure!(api.get("d").await?.data["spec"]["anything"]["goes"] == json!([1, 2]));
    let out = kubectl::ok(&["-n", &ns.name, "get", &format!("doohickeys.{group}")]).await?;
    ensure!(kubectl::row(&out, "d").is_some(), "{out}");

    // Deleting the CRD removes its objects and stops serving the resource.
    kubectl::ok(&["delete", "crd", &crd_name, "--timeout=20s"]).await?;
    let path = format!("/apis/{group}/v1/namespaces/{}/doohickeys", ns.name);
    eventually("the CRD's resource and group to be gone", WAIT, || async {
        let served = raw::get(&client, &path, None).await?.status != 404;
        let discovered = client
            .list_api_groups()
            .await?
            .groups
            .iter()
            .any(|g| g.name == group);
        Ok((!served && !discovered).then_some(()))
    })
    .await?;
    ns.delete().await
}

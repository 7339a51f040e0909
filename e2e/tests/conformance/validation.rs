//! Custom resources are validated against `openAPIV3Schema` (types,
//! required, enum, minimum/maximum, pattern, nullable,
//! `x-kubernetes-preserve-unknown-fields`) and `x-kubernetes-validations` CEL
//! rules, defaulted from the schema, pruned of unknown fields; refusals are
//! 422 `Status` objects naming the field, as kubectl shows them.

use super::fixtures::{GROUP, ensure_crds, gadget, gadgets};
use crate::support::{TestNs, api_error, kubectl};
use anyhow::{Context, Result, ensure};
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// (spec, field the refusal names, words its message contains)
fn refusals() -> Vec<(Value, &'static str, &'static str)> {
    vec![
        (json!({"owner": "a", "size": "big"}), "spec.size", "integer"),
        (json!({"size": 2}), "spec.owner", "Required value"),
        (
            json!({"owner": "a", "mode": "medium"}),
            "spec.mode",
            "Unsupported value",
        ),
        (
            json!({"owner": "a", "size": 0}),
            "spec.size",
            "greater than or equal to 1",
        ),
        (
            json!({"owner": "a", "size": 11}),
            "spec.size",
            "less than or equal to 10",
        ),
        (
            json!({"owner": "a", "label": "ABC"}),
            "spec.label",
            "^[a-z]+$",
        ),
        (
            json!({"owner": "a", "tags": ["ok", 7]}),
            "spec.tags[1]",
            "string",
        ),
        (
            json!({"owner": "a", "ratio": "half"}),
            "spec.ratio",
            "number",
        ),
        (
            json!({"owner": "a", "enabled": "yes"}),
            "spec.enabled",
            "boolean",
        ),
        (
            json!({"owner": "a", "minReplicas": 5, "maxReplicas": 2}),
            "spec",
            "minReplicas must not exceed maxReplicas",
        ),
    ]
}

#[tokio::test]
async fn invalid_objects_are_refused_with_422() -> Result<()> {
    ensure_crds().await?;
    let ns = TestNs::create("conf-invalid").await?;
    let api = gadgets(&ns.client, &ns.name);
    for (spec, field, words) in refusals() {
        let status = api_error(
            api.create(&PostParams::default(), &gadget("bad", spec.clone())?)
                .await,
        )?;
        let context = format!("spec {spec}: {status:?}");
        ensure!(
            status.code == 422 && status.reason == "Invalid",
            "{context}"
        );
        ensure!(
            status.message.contains(field) && status.message.contains(words),
            "{context}"
        );
        let details = status.details.as_ref().context("details")?;
        ensure!(
            details.kind == "Gadget" && details.group == GROUP && details.name == "bad",
            "{context}"
        );
        ensure!(
            details
                .causes
                .iter()
                .any(|c| c.field == field && c.message.contains(words)),
            "{context}"
        );
    }

    // Every violation is reported at once.
    let spec = json!({"owner": "a", "size": 0, "mode": "medium"});
    let status = api_error(
        api.create(&PostParams::default(), &gadget("bad", spec)?)
            .await,
    )?;
    let fields: Vec<&str> = status
        .details
        .iter()
        .flat_map(|d| d.causes.iter().map(|c| c.field.as_str()))
        .collect();
    ensure!(
        fields.contains(&"spec.size") && fields.contains(&"spec.mode"),
        "{status:?}"
    );

    // Updates are validated too.
    api.create(
        &PostParams::default(),
        &gadget("good", json!({"owner": "a"}))?,
    )
    .await?;
    let patch = Patch::Merge(json!({"spec": {"size": 20}}));
    let status = api_error(api.patch("good", &PatchParams::default(), &patch).await)?;
    ensure!(
        status.code == 422 && status.message.contains("spec.size"),
        "{status:?}"
    );
    ns.delete().await
}

#[tokio::test]
async fn defaults_pruning_and_nullable() -> Result<()> {
    ensure_crds().await?;
    let ns = TestNs::create("conf-defaults").await?;
    let api = gadgets(&ns.client, &ns.name);
    let created = api
        .create(
            &PostParams::default(),
            &gadget("plain", json!({"owner": "a"}))?,
        )
        .await?;
    ensure!(
        created.data["spec"]["size"] == 3 && created.data["spec"]["mode"] == "fast",
        "{:?}",
        created.data
    );

    let extra = json!({"anything": {"deep": [1, {"x": true}]}, "s": "kept"});
    let spec = json!({"owner": "a", "size": null, "note": null, "label": null, "extra": extra, "bogus": 1});
    let mut obj = gadget("nulls", spec)?;
    obj.data["unknownTopLevel"] = json!("dropped");
    api.create(&PostParams::default(), &obj).await?;
    let got = api.get("nulls").await?.data;
    let spec = got["spec"].as_object().context("spec")?;
    ensure!(
        spec.get("size") == Some(&json!(3)),
        "a null non-nullable field is pruned, then defaulted: {got}"
    );
    ensure!(
        spec.get("note") == Some(&Value::Null),
        "a nullable field keeps its null: {got}"
    );
    ensure!(
        !spec.contains_key("label"),
        "a null non-nullable field without default is pruned: {got}"
    );
    ensure!(
        spec.get("extra") == Some(&extra),
        "x-kubernetes-preserve-unknown-fields keeps everything: {got}"
    );
    ensure!(
        !spec.contains_key("bogus") && got.get("unknownTopLevel").is_none(),
        "unknown fields are pruned: {got}"
    );
    ns.delete().await
}

const BAD_GADGETS: [(&str, &str); 3] = [
    ("size: 0", "spec.size: Invalid value"),
    (
        "minReplicas: 4\n  maxReplicas: 1",
        "minReplicas must not exceed maxReplicas",
    ),
    ("bogus: 1", "unknown field \"spec.bogus\""),
];

#[tokio::test]
async fn kubectl_apply_shows_refusals() -> Result<()> {
    ensure_crds().await?;
    let ns = TestNs::create("conf-kubectl-invalid").await?;
    for (i, (fields, words)) in BAD_GADGETS.iter().enumerate() {
        let yaml = format!(
            "apiVersion: {GROUP}/v1\nkind: Gadget\nmetadata:\n  name: bad{i}\nspec:\n  owner: a\n  {fields}\n"
        );
        let file = kubectl::manifest("bad-gadget", &yaml)?;
        let err = kubectl::fails(&[
            "-n",
            &ns.name,
            "apply",
            "-f",
            file.to_str().context("path")?,
        ])
        .await?;
        ensure!(err.contains(words), "kubectl apply of {fields:?}: {err}");
    }
    let listed = kubectl::ok(&["-n", &ns.name, "get", "gadgets", "-o", "name"]).await?;
    ensure!(listed.trim().is_empty(), "nothing was created: {listed}");
    ns.delete().await
}

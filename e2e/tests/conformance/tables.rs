//! Table responses (`Accept: ...;as=Table`) built from printer columns, and
//! the PartialObjectMetadata renderings kube-rs' metadata APIs ask for.

use super::builtins::deployment;
use super::fixtures::{ensure_crds, gadget, gadgets};
use crate::support::{TestNs, raw};
use anyhow::{Context, Result, ensure};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{ListParams, PostParams};
use serde_json::{Value, json};

fn column_names(table: &Value) -> Vec<&str> {
    table["columnDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect()
}

fn column(table: &Value, name: &str) -> Result<Value> {
    let cols = table["columnDefinitions"]
        .as_array()
        .context("columnDefinitions")?;
    cols.iter()
        .find(|c| c["name"] == name)
        .cloned()
        .with_context(|| format!("no column {name}"))
}

/// The cells of the row whose object is named `name`.
fn cells<'a>(table: &'a Value, name: &str) -> Result<&'a Vec<Value>> {
    let rows = table["rows"].as_array().context("rows")?;
    let row = rows
        .iter()
        .find(|r| r["object"]["metadata"]["name"] == name)
        .with_context(|| format!("no row {name}: {table}"))?;
    row["cells"].as_array().context("cells")
}

async fn table(ns: &TestNs, path: &str) -> Result<Value> {
    let reply = raw::get(&ns.client, path, Some(raw::TABLE_ACCEPT)).await?;
    ensure!(reply.status == 200, "{path}: {reply:?}");
    let t = reply.body;
    ensure!(
        t["kind"] == "Table" && t["apiVersion"] == "meta.k8s.io/v1",
        "{t}"
    );
    Ok(t)
}

#[tokio::test]
async fn builtin_tables() -> Result<()> {
    let ns = TestNs::create("conf-tables").await?;
    ns.api::<Deployment>()
        .create(&PostParams::default(), &deployment("web", 0)?)
        .await?;
    let cm =
        serde_json::from_value(json!({"metadata": {"name": "cfg"}, "data": {"a": "1", "b": "2"}}))?;
    ns.api::<ConfigMap>()
        .create(&PostParams::default(), &cm)
        .await?;

    let base = format!("/apis/apps/v1/namespaces/{}/deployments", ns.name);
    let t = table(&ns, &base).await?;
    let want = [
        "Name",
        "Ready",
        "Up-to-date",
        "Available",
        "Age",
        "Containers",
        "Images",
        "Selector",
    ];
    ensure!(column_names(&t) == want, "{t}");
    ensure!(column(&t, "Name")?["format"] == "name" && column(&t, "Selector")?["priority"] == 1);
    ensure!(
        t["metadata"]["resourceVersion"]
            .as_str()
            .is_some_and(|rv| !rv.is_empty()),
        "{t}"
    );
    let row = cells(&t, "web")?;
    ensure!(
        row[0] == "web" && row[1] == "0/0" && row[5] == "app" && row[7] == "app=web",
        "{row:?}"
    );
    let object = &t["rows"][0]["object"];
    ensure!(
        object["kind"] == "PartialObjectMetadata" && object["apiVersion"] == "meta.k8s.io/v1",
        "{object}"
    );
    ensure!(object.get("spec").is_none(), "metadata only by default");

    let full = table(&ns, &format!("{base}?includeObject=Object")).await?;
    ensure!(
        full["rows"][0]["object"]["kind"] == "Deployment"
            && full["rows"][0]["object"]["spec"].is_object()
    );
    let none = table(&ns, &format!("{base}?includeObject=None")).await?;
    ensure!(
        none["rows"][0].get("object").is_none_or(Value::is_null),
        "{none}"
    );
    let single = table(&ns, &format!("{base}/web")).await?;
    ensure!(single["rows"].as_array().map(Vec::len) == Some(1));

    let t = table(
        &ns,
        &format!(
            "/api/v1/namespaces/{}/configmaps?fieldSelector=metadata.name%3Dcfg",
            ns.name
        ),
    )
    .await?;
    ensure!(column_names(&t) == ["Name", "Data", "Age"], "{t}");
    ensure!(cells(&t, "cfg")?[1] == 2, "{t}");
    ns.delete().await
}

#[tokio::test]
async fn custom_resource_tables() -> Result<()> {
    ensure_crds().await?;
    let ns = TestNs::create("conf-crd-tables").await?;
    gadgets(&ns.client, &ns.name)
        .create(&PostParams::default(), &gadget("g", json!({"owner": "a"}))?)
        .await?;
    let t = table(
        &ns,
        &format!(
            "/apis/conformance.serin.dev/v1/namespaces/{}/gadgets",
            ns.name
        ),
    )
    .await?;
    ensure!(
        column_names(&t) == ["Name", "Phase", "Size", "Ready", "Mode", "Age"],
        "{t}"
    );
    let types: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["type"].as_str())
        .collect();
    ensure!(
        types == ["string", "string", "integer", "string", "string", "date"],
        "{types:?}"
    );
    ensure!(column(&t, "Mode")?["priority"] == 1 && column(&t, "Name")?["format"] == "name");
    ensure!(
        column(&t, "Phase")?["description"]
            .as_str()
            .is_some_and(|d| d.contains(".status.phase"))
    );
    let row = cells(&t, "g")?;
    ensure!(
        row[..5]
            == [
                json!("g"),
                Value::Null,
                json!(3),
                Value::Null,
                json!("fast")
            ],
        "{row:?}"
    );
    ensure!(
        row[5]
            .as_str()
            .is_some_and(|age| age.ends_with('s') || age.ends_with('m')),
        "a date renders as an age: {row:?}"
    );

    let t = table(&ns, "/apis/conformance.serin.dev/v1/gizmos").await?;
    ensure!(
        column_names(&t) == ["Name", "Age"],
        "a CRD without columns gets Age: {t}"
    );
    ns.delete().await
}

#[tokio::test]
async fn partial_object_metadata() -> Result<()> {
    let ns = TestNs::create("conf-metadata").await?;
    let maps: Api<ConfigMap> = ns.api();
    let cm = serde_json::from_value(
        json!({"metadata": {"name": "cfg", "labels": {"m": "1"}}, "data": {"big": "x"}}),
    )?;
    maps.create(&PostParams::default(), &cm).await?;
    let list = maps
        .list_metadata(&ListParams::default().labels("m=1"))
        .await?;
    ensure!(list.items.len() == 1 && list.items[0].metadata.name.as_deref() == Some("cfg"));
    let one = maps.get_metadata("cfg").await?;
    ensure!(
        one.metadata
            .labels
            .and_then(|l| l.get("m").cloned())
            .as_deref()
            == Some("1")
    );
    let path = format!("/api/v1/namespaces/{}/configmaps/cfg", ns.name);
    let accept = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
    let reply = raw::get(&ns.client, &path, Some(accept)).await?;
    ensure!(
        reply.body["kind"] == "PartialObjectMetadata" && reply.body.get("data").is_none(),
        "{reply:?}"
    );
    ns.delete().await
}

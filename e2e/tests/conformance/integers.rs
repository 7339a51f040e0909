//! Integer fields refuse numbers that are not integers, each kind in its own way on a
//! real server: a built-in kind's body is decoded into Go integer fields, so `1e+30`,
//! `-0.0` or an int32 overflow fail decoding (400 BadRequest); a custom resource is
//! decoded as plain JSON and checked against its schema (422 Invalid), where a float
//! counts as an integer when it is a whole number JSON can hold exactly (below 2^53),
//! and `format: int32` sets no range.

use super::fixtures::{GROUP, ensure_crds};
use crate::support::TestNs;
use crate::support::raw::{self, Reply};
use anyhow::{Result, ensure};
use serde_json::{Value, json};

async fn create(ns: &TestNs, path: &str, body: &Value) -> Result<Reply> {
    raw::post(&ns.client, &format!("{path}?dryRun=All"), body).await
}

fn deployment(replicas: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "ints"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "ints"}},
                 "template": {"metadata": {"labels": {"app": "ints"}},
                              "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}}
    })
}

#[tokio::test]
async fn builtin_integer_fields_refuse_other_numbers() -> Result<()> {
    let ns = TestNs::create("conf-ints").await?;
    let path = format!("/apis/apps/v1/namespaces/{}/deployments", ns.name);
    for bad in [
        json!(1e30),
        json!(-0.0),
        json!(2.5),
        json!(3_000_000_000_i64),
    ] {
        let reply = create(&ns, &path, &deployment(bad.clone())).await?;
        let message = reply.body["message"].as_str().unwrap_or_default();
        ensure!(
            reply.status == 400 && reply.body["reason"] == "BadRequest",
            "replicas {bad}: {} {}",
            reply.status,
            reply.text
        );
        ensure!(
            message.starts_with("Deployment in version \"v1\" cannot be handled as a Deployment: "),
            "replicas {bad}: {message}"
        );
    }
    let reply = create(&ns, &path, &deployment(json!(2))).await?;
    ensure!(reply.status == 201, "{} {}", reply.status, reply.text);
    ns.delete().await
}

#[tokio::test]
async fn custom_integer_fields_follow_the_schema() -> Result<()> {
    ensure_crds().await?;
    let ns = TestNs::create("conf-cr-ints").await?;
    let path = format!("/apis/{GROUP}/v1/namespaces/{}/gadgets", ns.name);
    let gadget = |spec: Value| {
        json!({"apiVersion": format!("{GROUP}/v1"), "kind": "Gadget",
               "metadata": {"name": "ints"}, "spec": spec})
    };
    for field in ["count", "total", "minReplicas"] {
        let reply = create(&ns, &path, &gadget(json!({"owner": "a", field: 1e30}))).await?;
        let message = reply.body["message"].as_str().unwrap_or_default();
        ensure!(
            reply.status == 422 && reply.body["reason"] == "Invalid",
            "{field}: {} {}",
            reply.status,
            reply.text
        );
        let want = format!(
            "spec.{field}: Invalid value: \"number\": spec.{field} in body must be of type integer: \"number\""
        );
        ensure!(message.contains(&want), "{message}");
    }
    // Whole floats are integers; int32 is a name, not a range.
    let whole = gadget(json!({"owner": "a", "count": 3_000_000_000_i64, "total": 4.0}));
    let reply = create(&ns, &path, &whole).await?;
    ensure!(reply.status == 201, "{} {}", reply.status, reply.text);
    ensure!(
        reply.body["spec"]["count"] == 3_000_000_000_i64,
        "{}",
        reply.text
    );
    ns.delete().await
}

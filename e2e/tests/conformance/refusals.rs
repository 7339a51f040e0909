//! What a real API server refuses beyond schemas: a custom resource without `kind`,
//! bad ConfigMap/Secret keys, deleting the namespaces a cluster needs, bad Lease
//! durations, owner references and finalizer names. Each expectation is the real
//! server's status code, reason and message; objects that would be accepted are
//! written with `dryRun=All`, so nothing lingers on a real cluster.

use super::fixtures::{GROUP, ensure_crds};
use crate::support::raw::{self, Reply};
use crate::support::{TestNs, api_error};
use anyhow::{Result, ensure};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::DeleteParams;
use kube::{Api, Client};
use serde_json::{Value, json};

/// POSTs `body` as JSON to `path` (with `dryRun=All` when `dry`).
async fn post(client: &Client, path: &str, body: &Value, dry: bool) -> Result<Reply> {
    let path = if dry {
        format!("{path}?dryRun=All")
    } else {
        path.to_string()
    };
    raw::post(client, &path, body).await
}

/// Checks a 422 whose message contains every one of `words`.
fn invalid(reply: &Reply, words: &[&str]) -> Result<()> {
    let message = reply.body["message"].as_str().unwrap_or_default();
    ensure!(
        reply.status == 422 && reply.body["reason"] == "Invalid",
        "expected 422 Invalid: {} {}",
        reply.status,
        reply.text
    );
    for w in words {
        ensure!(message.contains(w), "{w:?} not in {message}");
    }
    Ok(())
}

fn accepted(reply: &Reply) -> Result<()> {
    ensure!(
        reply.status == 201,
        "expected 201: {} {}",
        reply.status,
        reply.text
    );
    Ok(())
}

#[tokio::test]
async fn custom_resource_without_kind_is_refused() -> Result<()> {
    ensure_crds().await?;
    let ns = TestNs::create("conf-nokind").await?;
    let path = format!("/apis/{GROUP}/v1/namespaces/{}/gadgets", ns.name);
    let spec = json!({"owner": "a"});
    for body in [
        json!({"metadata": {"name": "bare"}, "spec": spec}),
        json!({"apiVersion": format!("{GROUP}/v1"), "metadata": {"name": "bare"}, "spec": spec}),
    ] {
        let reply = post(&ns.client, &path, &body, false).await?;
        let message = reply.body["message"].as_str().unwrap_or_default();
        ensure!(
            reply.status == 400 && reply.body["reason"] == "BadRequest",
            "{} {}",
            reply.status,
            reply.text
        );
        ensure!(
            message.starts_with("Object 'Kind' is missing in '"),
            "{message}"
        );
    }
    // A built-in kind takes both from the URL.
    let path = format!("/api/v1/namespaces/{}/configmaps", ns.name);
    let bare = json!({"metadata": {"name": "bare"}, "data": {"k": "v"}});
    accepted(&post(&ns.client, &path, &bare, true).await?)?;
    ns.delete().await
}

#[tokio::test]
async fn config_map_and_secret_keys_are_checked() -> Result<()> {
    let ns = TestNs::create("conf-keys").await?;
    let maps = format!("/api/v1/namespaces/{}/configmaps", ns.name);
    let cm = |data: Value| json!({"metadata": {"name": "keys"}, "data": data});
    let reply = post(&ns.client, &maps, &cm(json!({"a b": "1"})), true).await?;
    invalid(
        &reply,
        &[
            "ConfigMap \"keys\" is invalid: data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
            "regex used for validation is '[-._a-zA-Z0-9]+'",
        ],
    )?;
    let reply = post(&ns.client, &maps, &cm(json!({"..": "1"})), true).await?;
    invalid(
        &reply,
        &["data[..]: Invalid value: \"..\": must not be '..'"],
    )?;
    let long = "k".repeat(254);
    let reply = post(&ns.client, &maps, &cm(json!({long.clone(): "1"})), true).await?;
    invalid(&reply, &["must be no more than 253 characters"])?;
    let good = cm(json!({"app.properties": "1", "KEY_name-2": "2"}));
    accepted(&post(&ns.client, &maps, &good, true).await?)?;

    let secrets = format!("/api/v1/namespaces/{}/secrets", ns.name);
    let secret = json!({"metadata": {"name": "keys"}, "data": {"a b": "MQ=="}});
    let reply = post(&ns.client, &secrets, &secret, true).await?;
    invalid(
        &reply,
        &["Secret \"keys\" is invalid: data[a b]: Invalid value: \"a b\": a valid config key"],
    )?;
    let from_strings = json!({"metadata": {"name": "keys"}, "stringData": {"a/b": "1"}});
    let reply = post(&ns.client, &secrets, &from_strings, true).await?;
    invalid(&reply, &["data[a/b]: Invalid value: \"a/b\""])?;
    ns.delete().await
}

#[tokio::test]
async fn system_namespaces_cannot_be_deleted() -> Result<()> {
    let client = crate::support::client().await?;
    let namespaces: Api<Namespace> = Api::all(client);
    // A dry run: were the refusal missing, nothing would be deleted all the same.
    let dry = DeleteParams {
        dry_run: true,
        ..DeleteParams::default()
    };
    for name in ["default", "kube-system", "kube-public"] {
        let status = api_error(namespaces.delete(name, &dry).await)?;
        ensure!(
            status.code == 403 && status.reason == "Forbidden",
            "{name}: {status:?}"
        );
        ensure!(
            status.message
                == format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted"),
            "{status:?}"
        );
    }
    ensure!(
        namespaces.delete("kube-node-lease", &dry).await.is_ok(),
        "kube-node-lease is not protected"
    );
    Ok(())
}

#[tokio::test]
async fn lease_durations_are_checked() -> Result<()> {
    let ns = TestNs::create("conf-lease").await?;
    let path = format!("/apis/coordination.k8s.io/v1/namespaces/{}/leases", ns.name);
    let lease = |spec: Value| json!({"metadata": {"name": "l"}, "spec": spec});
    let reply = post(
        &ns.client,
        &path,
        &lease(json!({"leaseDurationSeconds": 0})),
        true,
    )
    .await?;
    invalid(
        &reply,
        &[
            "Lease.coordination.k8s.io \"l\" is invalid: spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
        ],
    )?;
    let reply = post(
        &ns.client,
        &path,
        &lease(json!({"leaseTransitions": -1})),
        true,
    )
    .await?;
    invalid(
        &reply,
        &["spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0"],
    )?;
    let reply = post(
        &ns.client,
        &path,
        &lease(json!({"preferredHolder": "me"})),
        true,
    )
    .await?;
    invalid(
        &reply,
        &["spec.preferredHolder: Forbidden: may only be specified if `strategy` is defined"],
    )?;
    let good = lease(json!({"holderIdentity": "me", "leaseDurationSeconds": 15}));
    accepted(&post(&ns.client, &path, &good, true).await?)?;
    ns.delete().await
}

fn owner(kind: &str, name: &str, uid: &str, controller: bool) -> Value {
    json!({"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": uid, "controller": controller})
}

#[tokio::test]
async fn owner_references_are_checked() -> Result<()> {
    ensure_crds().await?;
    let ns = TestNs::create("conf-owners").await?;
    let maps = format!("/api/v1/namespaces/{}/configmaps", ns.name);
    let owned = |refs: Value| json!({"metadata": {"name": "owned", "ownerReferences": refs}});
    let uid = "6a4f2c1e-0000-4000-8000-000000000001";

    let reply = post(
        &ns.client,
        &maps,
        &owned(json!([owner("Deployment", "a", "", false)])),
        true,
    )
    .await?;
    invalid(
        &reply,
        &["metadata.ownerReferences.uid: Invalid value: \"\": uid must not be empty"],
    )?;
    let reply = post(
        &ns.client,
        &maps,
        &owned(json!([{"name": "a", "uid": uid}])),
        true,
    )
    .await?;
    invalid(
        &reply,
        &[
            "metadata.ownerReferences.apiVersion: Invalid value: \"\": version must not be empty",
            "metadata.ownerReferences.kind: Invalid value: \"\": kind must not be empty",
        ],
    )?;
    let two = json!([
        owner("Deployment", "a", uid, true),
        owner("Deployment", "b", uid, true)
    ]);
    let reply = post(&ns.client, &maps, &owned(two.clone()), true).await?;
    invalid(
        &reply,
        &[
            "Only one reference can have Controller set to true. Found \"true\" in references for Deployment/a and Deployment/b",
        ],
    )?;
    let one = json!([
        owner("Deployment", "a", uid, true),
        owner("Deployment", "b", uid, false)
    ]);
    accepted(&post(&ns.client, &maps, &owned(one), true).await?)?;

    // Custom resources get the same metadata checks.
    let gadgets = format!("/apis/{GROUP}/v1/namespaces/{}/gadgets", ns.name);
    let mut gadget = owned(two);
    gadget["apiVersion"] = json!(format!("{GROUP}/v1"));
    gadget["kind"] = json!("Gadget");
    gadget["spec"] = json!({"owner": "a"});
    let reply = post(&ns.client, &gadgets, &gadget, true).await?;
    invalid(
        &reply,
        &["Only one reference can have Controller set to true"],
    )?;
    ns.delete().await
}

#[tokio::test]
async fn finalizer_names_are_checked() -> Result<()> {
    let ns = TestNs::create("conf-finalizers").await?;
    let maps = format!("/api/v1/namespaces/{}/configmaps", ns.name);
    let with = |f: Value| json!({"metadata": {"name": "fin", "finalizers": f}});
    let reply = post(&ns.client, &maps, &with(json!([""])), true).await?;
    invalid(
        &reply,
        &[
            "metadata.finalizers: Invalid value: \"\": name part must be non-empty",
            "metadata.finalizers: Invalid value: \"\": name part must consist of alphanumeric characters",
        ],
    )?;
    let reply = post(&ns.client, &maps, &with(json!(["bad name"])), true).await?;
    invalid(
        &reply,
        &["metadata.finalizers: Invalid value: \"bad name\": name part must consist of"],
    )?;
    let reply = post(&ns.client, &maps, &with(json!(["/x"])), true).await?;
    invalid(
        &reply,
        &["metadata.finalizers: Invalid value: \"/x\": prefix part must be non-empty"],
    )?;
    let reply = post(
        &ns.client,
        &maps,
        &with(json!(["orphan", "foregroundDeletion"])),
        true,
    )
    .await?;
    invalid(
        &reply,
        &["finalizer orphan and foregroundDeletion cannot be both set"],
    )?;
    accepted(
        &post(
            &ns.client,
            &maps,
            &with(json!(["example.com/hold", "kubernetes"])),
            true,
        )
        .await?,
    )?;

    // A Namespace's own spec.finalizers take a prefix unless they are standard names.
    let path = "/api/v1/namespaces";
    let namespace = |f: Value| json!({"metadata": {"name": format!("{}-x", ns.name)}, "spec": {"finalizers": f}});
    let reply = post(&ns.client, path, &namespace(json!(["mine"])), true).await?;
    invalid(
        &reply,
        &[
            "spec.finalizers: Invalid value: \"mine\": name is neither a standard finalizer name nor is it fully qualified",
        ],
    )?;
    accepted(
        &post(
            &ns.client,
            path,
            &namespace(json!(["kubernetes", "example.com/mine"])),
            true,
        )
        .await?,
    )?;
    ns.delete().await
}

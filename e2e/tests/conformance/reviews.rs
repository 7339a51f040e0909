//! `selfsubjectreviews.authentication.k8s.io`: who the server takes the caller for, as
//! `kubectl auth whoami` and `kubectl serin` ask it. Create only, cluster-scoped,
//! nothing stored; the answer carries `status.userInfo`. Impersonation (`--as`) changes
//! the answer the way the real impersonation filter does.

use crate::support::raw;
use crate::support::{client, is_remote, kubectl};
use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};

const PATH: &str = "/apis/authentication.k8s.io/v1/selfsubjectreviews";

#[tokio::test]
async fn self_subject_review_answers_who_is_asking() -> Result<()> {
    let client = client().await?;
    let reply = raw::post(
        &client,
        PATH,
        &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}),
    )
    .await?;
    ensure!(reply.status == 201, "{} {}", reply.status, reply.text);
    ensure!(
        reply.body["kind"] == "SelfSubjectReview"
            && reply.body["apiVersion"] == "authentication.k8s.io/v1",
        "{}",
        reply.text
    );
    ensure!(
        reply.body["metadata"]["creationTimestamp"].is_string(),
        "{}",
        reply.text
    );
    let user = &reply.body["status"]["userInfo"];
    ensure!(
        user["username"].as_str().is_some_and(|u| !u.is_empty()),
        "{}",
        reply.text
    );
    if !is_remote() {
        // The sandbox authenticates no one: the caller is anonymous.
        ensure!(
            *user == json!({"username": "system:anonymous", "groups": ["system:unauthenticated"]}),
            "{user}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn self_subject_review_is_create_only() -> Result<()> {
    let client = client().await?;
    let get = raw::get(&client, PATH, None).await?;
    ensure!(
        get.status == 405 && get.body["reason"] == "MethodNotAllowed",
        "GET: {} {}",
        get.status,
        get.text
    );
    let named = raw::get(&client, &format!("{PATH}/me"), None).await?;
    ensure!(
        named.status == 404,
        "GET a name: {} {}",
        named.status,
        named.text
    );
    let wrong = raw::post(
        &client,
        PATH,
        &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview"}),
    )
    .await?;
    ensure!(
        wrong.status == 400,
        "another kind: {} {}",
        wrong.status,
        wrong.text
    );
    Ok(())
}

#[tokio::test]
async fn self_subject_review_in_discovery() -> Result<()> {
    let client = client().await?;
    let groups = client.list_api_groups().await?;
    ensure!(
        groups
            .groups
            .iter()
            .any(|g| g.name == "authentication.k8s.io"
                && g.versions.iter().any(|v| v.version == "v1")),
        "authentication.k8s.io/v1 not in /apis"
    );
    let list = client
        .list_api_group_resources("authentication.k8s.io/v1")
        .await?;
    let r = list
        .resources
        .iter()
        .find(|r| r.name == "selfsubjectreviews")
        .context("selfsubjectreviews not listed")?;
    ensure!(
        r.kind == "SelfSubjectReview" && !r.namespaced && r.verbs == ["create"],
        "{r:?}"
    );
    Ok(())
}

#[tokio::test]
async fn kubectl_auth_whoami_with_impersonation() -> Result<()> {
    let out = kubectl::ok(&[
        "auth",
        "whoami",
        "-o",
        "json",
        "--as",
        "alice@example.com",
        "--as-group",
        "sre",
    ])
    .await?;
    let review: Value = serde_json::from_str(&out).with_context(|| out.clone())?;
    let user = &review["status"]["userInfo"];
    ensure!(user["username"] == "alice@example.com", "{out}");
    ensure!(
        user["groups"] == json!(["sre", "system:authenticated"]),
        "{out}"
    );
    let plain = kubectl::ok(&[
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ])
    .await?;
    ensure!(!plain.trim().is_empty(), "no user name: {plain:?}");
    Ok(())
}

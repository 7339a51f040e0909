//! The chart's CanaryAction admission policy (`charts/serin/templates/action-policy.yaml`)
//! on a real API server: a CanaryAction whose `spec.requestedBy` is not the requester's
//! user name is refused, one with it is admitted. The sandbox has no admission policies,
//! so the API part runs only with SERIN_E2E_KUBECONFIG; the chart test renders and
//! validates the policy always, and so does [`rendered`] here.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::Value;

use crate::support::{TestNs, is_remote, kubectl, suffix};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The template with its Helm directives removed and the policy named `name`: the
/// template's only substitution is the name, and its labels are the chart's, which a
/// test on someone's cluster does not need.
fn rendered(name: &str) -> Result<String> {
    let path = repo().join("charts/serin/templates/action-policy.yaml");
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let mut out = Vec::new();
    let mut comment = false;
    for line in text.lines() {
        let t = line.trim();
        if comment || t.starts_with("{{- /*") || t.starts_with("{{/*") {
            comment = !t.ends_with("*/}}");
            continue;
        }
        if t.starts_with("{{") || t == "labels:" {
            continue;
        }
        out.push(line.replace("{{ $name }}", name));
    }
    let yaml = out.join("\n");
    ensure!(
        !yaml.contains("{{"),
        "a directive the test does not render:\n{yaml}"
    );
    Ok(yaml)
}

#[test]
fn the_policy_renders_to_a_policy_and_its_binding() -> Result<()> {
    let yaml = rendered("serin-canaryaction-requester")?;
    let docs: Vec<Value> = yaml
        .split("\n---\n")
        .map(serde_saphyr::from_str)
        .collect::<Result<_, _>>()?;
    let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    ensure!(
        kinds
            == [
                "ValidatingAdmissionPolicy",
                "ValidatingAdmissionPolicyBinding"
            ],
        "{kinds:?}"
    );
    ensure!(
        docs[0]["spec"]["validations"][0]["expression"]
            == "object.spec.requestedBy == request.userInfo.username"
    );
    Ok(())
}

fn action(name: &str, by: &str) -> String {
    format!(
        "apiVersion: serin.dev/v1beta1\nkind: CanaryAction\nmetadata:\n  name: {name}\nspec:\n  canary: podinfo\n  action: pause\n  requestedBy: {by:?}\n"
    )
}

async fn create(ns: &str, yaml: &str) -> Result<std::process::Output> {
    let path = kubectl::manifest("canaryaction", yaml)?;
    let path = path.to_string_lossy().into_owned();
    kubectl::run(&["create", "-n", ns, "-f", &path]).await
}

#[tokio::test]
async fn the_policy_refuses_an_action_in_someone_elses_name() -> Result<()> {
    if !is_remote() {
        return Ok(()); // no admission policies in the sandbox
    }
    let crds = repo()
        .join("crds/serin.yaml")
        .to_string_lossy()
        .into_owned();
    kubectl::ok(&["apply", "--server-side", "--force-conflicts", "-f", &crds]).await?;
    kubectl::ok(&[
        "wait",
        "--for=condition=established",
        "crd/canaryactions.serin.dev",
        "--timeout=60s",
    ])
    .await?;
    let name = format!("serin-e2e-requester-{}", suffix());
    let policy = kubectl::manifest("policy", &rendered(&name)?)?;
    let policy = policy.to_string_lossy().into_owned();
    kubectl::ok(&["apply", "-f", &policy]).await?;
    let result = check(&name).await;
    let _ = kubectl::run(&["delete", "-f", &policy, "--wait=false"]).await;
    result
}

async fn check(policy: &str) -> Result<()> {
    let ns = TestNs::create("conf-vap").await?;
    let me = kubectl::ok(&[
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ])
    .await?;
    ensure!(!me.is_empty(), "no user name from kubectl auth whoami");
    // A policy takes effect a moment after it is created: ask until it refuses.
    let mut refused = String::new();
    for i in 0..60 {
        let out = create(
            &ns.name,
            &action(&format!("mallory-{i}"), "mallory@example.com"),
        )
        .await?;
        if !out.status.success() {
            refused = String::from_utf8_lossy(&out.stderr).into_owned();
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    ensure!(
        refused.contains(policy)
            && refused.contains(&format!("must be the user name you are known by ({me})")),
        "the policy did not refuse an action in someone else's name: {refused:?}"
    );
    let out = create(&ns.name, &action("mine", &me)).await?;
    ensure!(
        out.status.success(),
        "an action in the requester's own name was refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    ns.delete().await
}

//! The static cost budget of CRD validation rules: a CRD whose `x-kubernetes-validations`
//! could cost more than kube-apiserver allows per rule is refused on create with a
//! `Forbidden` cause at the rule, and the same rule with size bounds is accepted. The CRDs
//! live in groups of their own and are deleted again, so the tests run unchanged against a
//! real cluster.

use super::fixtures::GROUP;
use crate::support::{api_error, client, suffix};
use anyhow::{Context, Result, ensure};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::{Value, json};

const BUDGET: &str = "estimated rule cost exceeds budget by factor of ";
/// serin's `stepWeights` rule.
const STEP_WEIGHTS: &str = "self.all(w, w >= 1 && w <= 100)";

/// A CRD in a fresh group whose `spec.steps` has the given schema.
fn crd(steps: Value) -> Result<(String, CustomResourceDefinition)> {
    crd_with(json!({"steps": steps}), None)
}

/// A CRD in a fresh group whose `spec` has the given properties; with `v2`, a second
/// version whose `spec` has those instead.
fn crd_with(spec: Value, v2: Option<Value>) -> Result<(String, CustomResourceDefinition)> {
    let group = format!("t{}.{GROUP}", suffix());
    let name = format!("costlies.{group}");
    let version = |name: &str, properties: &Value| {
        json!({"name": name, "served": true, "storage": name == "v1",
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "spec": {"type": "object", "properties": properties}}}}})
    };
    let mut versions = vec![version("v1", &spec)];
    if let Some(other) = &v2 {
        versions.push(version("v2", other));
    }
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {"group": group, "scope": "Namespaced",
                 "names": {"plural": "costlies", "singular": "costly", "kind": "Costly", "listKind": "CostlyList"},
                 "versions": versions}});
    Ok((name, serde_json::from_value(crd)?))
}

fn int_list(max_items: Option<u64>) -> Value {
    let mut list = json!({"type": "array", "items": {"type": "integer", "format": "int32"},
                          "x-kubernetes-validations": [{"rule": STEP_WEIGHTS}]});
    if let Some(n) = max_items {
        list["maxItems"] = json!(n);
    }
    list
}

/// Creates the CRD, expecting a refusal whose cause at `field` contains `words`.
async fn refused(steps: Value, field: &str, words: &str) -> Result<()> {
    refused_crd(crd(steps)?, field, words).await
}

async fn refused_crd(
    (name, crd): (String, CustomResourceDefinition),
    field: &str,
    words: &str,
) -> Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client().await?);
    let result = api.create(&PostParams::default(), &crd).await;
    if result.is_ok() {
        // Leave no stray CRD behind on a cluster before failing.
        let _ = api.delete(&name, &DeleteParams::default()).await;
    }
    let status = api_error(result)?;
    let context = format!("{status:?}");
    ensure!(
        status.code == 422 && status.reason == "Invalid",
        "{context}"
    );
    ensure!(status.message.contains(words), "{context}");
    let details = status.details.as_ref().context("details")?;
    ensure!(
        details.causes.iter().any(|c| c.field == field
            && c.reason == "FieldValueForbidden"
            && c.message.contains(words)),
        "{context}"
    );
    Ok(())
}

/// Creates the CRD, expecting it accepted, and deletes it again.
async fn accepted(steps: Value) -> Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client().await?);
    let (name, crd) = crd(steps)?;
    api.create(&PostParams::default(), &crd)
        .await
        .with_context(|| format!("creating {name}"))?;
    api.delete(&name, &DeleteParams::default()).await?;
    Ok(())
}

/// A list of strings, each checked against a regex, optionally bounded by
/// `(maxItems, maxLength)`.
fn strings(bounds: Option<(u64, u64)>) -> Value {
    let mut list = json!({"type": "array", "items": {"type": "string",
        "x-kubernetes-validations": [{"rule": "self.matches('^[a-z]+$')"}]}});
    if let Some((items, length)) = bounds {
        list["maxItems"] = json!(items);
        list["items"]["maxLength"] = json!(length);
    }
    list
}

const STEPS_RULE: &str = "spec.validation.openAPIV3Schema.properties[spec].properties[steps].x-kubernetes-validations[0].rule";

#[tokio::test]
async fn cel_rule_over_budget_is_refused() -> Result<()> {
    // Unbounded: 1572863 ints at 7 per item, the factor kube-apiserver prints for serin's
    // own CRD without maxItems.
    refused(int_list(None), STEPS_RULE, &format!("{BUDGET}1.101004x")).await?;
    // A few units over the budget still is over.
    refused(int_list(Some(1_428_572)), STEPS_RULE, BUDGET).await
}

#[tokio::test]
async fn cel_rule_within_budget_is_accepted() -> Result<()> {
    // 2 + 7 * 1428570: just under the 10000000 budget.
    accepted(int_list(Some(1_428_570))).await?;
    accepted(int_list(Some(100))).await
}

#[tokio::test]
async fn cel_rule_runs_once_per_list_item() -> Result<()> {
    // A regex on each string of an unbounded list of unbounded strings: the rule runs
    // about a million times, each over 3 MiB.
    let item_rule = "spec.validation.openAPIV3Schema.properties[spec].properties[steps].items.x-kubernetes-validations[0].rule";
    refused(strings(None), item_rule, BUDGET).await?;
    accepted(strings(Some((10, 64)))).await
}

#[tokio::test]
async fn cel_cost_paths_name_the_version_when_schemas_differ() -> Result<()> {
    // With one schema per version the real server reports each at its version.
    let bounded = json!({"steps": int_list(Some(10))});
    let unbounded = json!({"steps": int_list(None)});
    let field = "spec.versions[1].schema.openAPIV3Schema.properties[spec].properties[steps].x-kubernetes-validations[0].rule";
    refused_crd(crd_with(bounded, Some(unbounded))?, field, BUDGET).await
}

#[tokio::test]
async fn cel_cost_of_a_whole_schema_has_its_own_budget() -> Result<()> {
    // Eleven rules of 2 + 7 * 1428571 = 9999999 each: none over its own budget, the
    // schema's total 1.1 times over.
    let properties: serde_json::Map<String, Value> = (0..11)
        .map(|i| (format!("l{i:02}"), int_list(Some(1_428_571))))
        .collect();
    refused_crd(
        crd_with(Value::Object(properties), None)?,
        "spec.validation.openAPIV3Schema",
        "x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema exceeds budget by factor of ",
    )
    .await
}

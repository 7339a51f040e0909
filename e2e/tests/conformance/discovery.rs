//! Discovery: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/{group}/{version}`,
//! as kube-rs' `Discovery` and kubectl read them.

use super::fixtures::{GROUP, ensure_crds};
use crate::support::{client, kubectl};
use anyhow::{Context, Result, ensure};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIResource, APIResourceList};
use kube::Discovery;
use kube::api::GroupVersionKind;
use kube::discovery::Scope;

fn find<'a>(list: &'a APIResourceList, name: &str) -> Result<&'a APIResource> {
    list.resources
        .iter()
        .find(|r| r.name == name)
        .with_context(|| format!("{name} missing from {}", list.group_version))
}

fn check(list: &APIResourceList, name: &str, kind: &str, namespaced: bool) -> Result<()> {
    let r = find(list, name)?;
    ensure!(
        r.kind == kind && r.namespaced == namespaced,
        "{name}: {r:?}"
    );
    for verb in [
        "get", "list", "watch", "create", "update", "patch", "delete",
    ] {
        ensure!(
            r.verbs.iter().any(|v| v == verb),
            "{name} lacks verb {verb}: {:?}",
            r.verbs
        );
    }
    Ok(())
}

#[tokio::test]
async fn discovery_documents() -> Result<()> {
    ensure_crds().await?;
    let client = client().await?;
    let version = client.apiserver_version().await?;
    ensure!(
        !version.git_version.is_empty() && !version.major.is_empty(),
        "{version:?}"
    );

    let core = client.list_core_api_versions().await?;
    ensure!(core.versions.iter().any(|v| v == "v1"), "{core:?}");
    let v1 = client.list_core_api_resources("v1").await?;
    check(&v1, "namespaces", "Namespace", false)?;
    for (name, kind) in [
        ("configmaps", "ConfigMap"),
        ("secrets", "Secret"),
        ("services", "Service"),
        ("events", "Event"),
    ] {
        check(&v1, name, kind, true)?;
    }

    let groups = client.list_api_groups().await?;
    let names: Vec<&str> = groups.groups.iter().map(|g| g.name.as_str()).collect();
    let wanted = [
        "apps",
        "events.k8s.io",
        "coordination.k8s.io",
        "autoscaling",
        "apiextensions.k8s.io",
        GROUP,
    ];
    for group in wanted {
        ensure!(
            names.contains(&group),
            "group {group} missing from {names:?}"
        );
    }
    let apps = client.list_api_group_resources("apps/v1").await?;
    check(&apps, "deployments", "Deployment", true)?;
    ensure!(find(&apps, "deployments/scale")?.kind == "Scale");
    find(&apps, "deployments/status")?;
    check(
        &client.list_api_group_resources("events.k8s.io/v1").await?,
        "events",
        "Event",
        true,
    )?;
    check(
        &client
            .list_api_group_resources("coordination.k8s.io/v1")
            .await?,
        "leases",
        "Lease",
        true,
    )?;
    let hpa = client.list_api_group_resources("autoscaling/v2").await?;
    check(
        &hpa,
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        true,
    )?;
    let crds = client
        .list_api_group_resources("apiextensions.k8s.io/v1")
        .await?;
    check(
        &crds,
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
    )?;

    let custom = client
        .list_api_group_resources(&format!("{GROUP}/v1"))
        .await?;
    check(&custom, "gadgets", "Gadget", true)?;
    check(&custom, "gizmos", "Gizmo", false)?;
    let gadgets = find(&custom, "gadgets")?;
    ensure!(
        gadgets.short_names.as_deref() == Some(&["gdg".to_string()][..]),
        "{gadgets:?}"
    );
    ensure!(
        gadgets.categories.as_deref() == Some(&["serinconf".to_string()][..]),
        "{gadgets:?}"
    );
    ensure!(gadgets.singular_name == "gadget", "{gadgets:?}");
    find(&custom, "gadgets/status")?;
    ensure!(
        custom.resources.iter().all(|r| r.name != "gizmos/status"),
        "gizmos has no status subresource"
    );
    Ok(())
}

#[tokio::test]
async fn kube_discovery_resolves_kinds() -> Result<()> {
    ensure_crds().await?;
    let discovery = Discovery::new(client().await?).run().await?;
    let (ar, caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"))
        .context("Deployment not discovered")?;
    ensure!(ar.plural == "deployments" && caps.scope == Scope::Namespaced);
    ensure!(
        caps.subresources
            .iter()
            .any(|(sub, _)| sub.plural == "scale"),
        "{:?}",
        caps.subresources
    );
    let (ar, caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("", "v1", "Namespace"))
        .context("Namespace")?;
    ensure!(ar.plural == "namespaces" && caps.scope == Scope::Cluster);
    let (_, caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk(GROUP, "v1", "Gadget"))
        .context("Gadget")?;
    ensure!(
        caps.subresources
            .iter()
            .any(|(sub, _)| sub.plural == "status")
    );
    let (_, caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk(GROUP, "v1", "Gizmo"))
        .context("Gizmo")?;
    ensure!(caps.scope == Scope::Cluster);
    Ok(())
}

#[tokio::test]
async fn kubectl_discovery() -> Result<()> {
    ensure_crds().await?;
    let version: serde_json::Value =
        serde_json::from_str(&kubectl::ok(&["version", "-o", "json"]).await?)?;
    ensure!(
        version
            .pointer("/serverVersion/gitVersion")
            .and_then(|v| v.as_str())
            .is_some(),
        "{version}"
    );

    let versions = kubectl::ok(&["api-versions"]).await?;
    for gv in [
        "v1",
        "apps/v1",
        "events.k8s.io/v1",
        "coordination.k8s.io/v1",
        "autoscaling/v2",
        "conformance.serin.dev/v1",
    ] {
        ensure!(
            versions.lines().any(|l| l == gv),
            "{gv} missing from api-versions:\n{versions}"
        );
    }

    let resources = kubectl::ok(&["api-resources"]).await?;
    let row = |name: &str| {
        kubectl::row(&resources, name).with_context(|| format!("{name} missing:\n{resources}"))
    };
    ensure!(row("deployments")?.iter().any(|c| c == "apps/v1"));
    ensure!(row("gadgets")?.iter().any(|c| c == "gdg"));
    ensure!(
        row("gizmos")?.iter().any(|c| c == "false"),
        "gizmos are cluster-scoped"
    );
    ensure!(row("namespaces")?.iter().any(|c| c == "false"));

    let raw = kubectl::ok(&["get", "--raw", "/apis/apps/v1"]).await?;
    let list: APIResourceList = serde_json::from_str(&raw)?;
    ensure!(list.group_version == "apps/v1");
    Ok(())
}

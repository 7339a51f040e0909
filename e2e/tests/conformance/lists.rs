//! Lists: `limit`/`continue` pages, label selectors and field selectors
//! (`metadata.name`, `metadata.namespace`), through kube-rs and kubectl.

use crate::support::{TestNs, kubectl, raw};
use anyhow::{Context, Result, ensure};
use futures::future::try_join_all;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ListParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

async fn create(maps: &Api<ConfigMap>, name: &str, labels: serde_json::Value) -> Result<()> {
    let cm = serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}}))?;
    maps.create(&PostParams::default(), &cm).await?;
    Ok(())
}

async fn names(maps: &Api<ConfigMap>, lp: &ListParams) -> Result<Vec<String>> {
    let mut names: Vec<String> = maps
        .list(lp)
        .await?
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    names.sort();
    Ok(names)
}

#[tokio::test]
async fn pages_with_limit_and_continue() -> Result<()> {
    let ns = TestNs::create("conf-pages").await?;
    let maps: Api<ConfigMap> = ns.api();
    try_join_all((0..25).map(|i| {
        let maps = &maps;
        async move { create(maps, &format!("cm-{i:02}"), json!({"page": "yes"})).await }
    }))
    .await?;

    // A real cluster adds its own ConfigMap (kube-root-ca.crt) to every namespace.
    let all = names(&maps, &ListParams::default()).await?;
    ensure!(all.len() >= 25);
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let mut lp = ListParams::default().limit(10);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = maps.list(&lp).await?;
        if token.is_none() {
            let remaining = i64::try_from(all.len() - 10)?;
            ensure!(
                page.metadata.remaining_item_count == Some(remaining),
                "{:?}",
                page.metadata
            );
        }
        pages.push(page.items.len());
        seen.extend(page.items.iter().map(ResourceExt::name_any));
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
        ensure!(pages.len() < 10, "pagination does not end");
    }
    let want_pages: Vec<usize> = all.chunks(10).map(<[String]>::len).collect();
    ensure!(pages == want_pages, "{pages:?}");
    ensure!(
        seen == all,
        "pages come in name order, each item once: {seen:?}"
    );

    let page = maps
        .list(&ListParams::default().labels("page=yes").limit(20))
        .await?;
    ensure!(
        page.items.len() == 20 && page.metadata.continue_.is_some(),
        "limits apply after selectors"
    );

    let path = format!(
        "/api/v1/namespaces/{}/configmaps?limit=5&continue=garbage",
        ns.name
    );
    let reply = raw::get(&ns.client, &path, None).await?;
    ensure!(
        reply.status == 400,
        "a bad continue token is a 400: {reply:?}"
    );
    ns.delete().await
}

#[tokio::test]
async fn label_and_field_selectors() -> Result<()> {
    let ns = TestNs::create("conf-selectors").await?;
    let maps: Api<ConfigMap> = ns.api();
    // Every selector also requires `suite=sel`: a real cluster adds a ConfigMap of its own.
    create(
        &maps,
        "a1",
        json!({"suite": "sel", "app": "a", "tier": "front"}),
    )
    .await?;
    create(&maps, "a2", json!({"suite": "sel", "app": "a"})).await?;
    create(
        &maps,
        "b1",
        json!({"suite": "sel", "app": "b", "tier": "back"}),
    )
    .await?;
    create(&maps, "none", json!({"suite": "sel"})).await?;

    let by_labels = [
        ("app=a", vec!["a1", "a2"]),
        ("app==a,tier=front", vec!["a1"]),
        ("app!=a", vec!["b1", "none"]),
        ("app in (a,b)", vec!["a1", "a2", "b1"]),
        ("app notin (a)", vec!["b1", "none"]),
        ("tier", vec!["a1", "b1"]),
        ("!tier", vec!["a2", "none"]),
        ("app=a,!tier", vec!["a2"]),
    ];
    for (selector, want) in by_labels {
        let got = names(
            &maps,
            &ListParams::default().labels(&format!("suite=sel,{selector}")),
        )
        .await?;
        ensure!(got == want, "labels {selector}: {got:?}");
    }
    let by_fields = [
        ("metadata.name=a2".to_string(), vec!["a2"]),
        ("metadata.name!=a2".to_string(), vec!["a1", "b1", "none"]),
        (
            format!("metadata.namespace={}", ns.name),
            vec!["a1", "a2", "b1", "none"],
        ),
        ("metadata.namespace=elsewhere".to_string(), vec![]),
    ];
    for (selector, want) in by_fields {
        let got = names(
            &maps,
            &ListParams::default().labels("suite=sel").fields(&selector),
        )
        .await?;
        ensure!(got == want, "fields {selector}: {got:?}");
    }
    let both = names(
        &maps,
        &ListParams::default()
            .labels("app=a")
            .fields("metadata.name=a1"),
    )
    .await?;
    ensure!(both == ["a1"]);
    let bad = maps.list(&ListParams::default().fields("data.k=v")).await;
    ensure!(
        matches!(&bad, Err(kube::Error::Api(s)) if s.code == 400),
        "unknown field selectors are a 400: {bad:?}"
    );

    let n = ns.name.as_str();
    let out = kubectl::ok(&["-n", n, "get", "configmaps", "-l", "app=a", "-o", "name"]).await?;
    ensure!(
        out.lines().collect::<Vec<_>>() == ["configmap/a1", "configmap/a2"],
        "{out}"
    );
    let out = kubectl::ok(&[
        "-n",
        n,
        "get",
        "cm",
        "--field-selector",
        "metadata.name=b1",
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ])
    .await?;
    ensure!(out == "b1", "{out}");
    let out = kubectl::ok(&[
        "-n",
        n,
        "get",
        "cm",
        "-l",
        "tier",
        "-o",
        "jsonpath={range .items[*]}{.metadata.labels.tier}{\"\\n\"}{end}",
    ])
    .await?;
    ensure!(
        out.lines().collect::<Vec<_>>() == ["front", "back"],
        "{out}"
    );
    let cluster_wide = kubectl::ok(&["get", "cm", "-A", "-l", "app=b", "-o", "name"]).await?;
    ensure!(cluster_wide.contains("configmap/b1"), "{cluster_wide}");
    let out = kubectl::ok(&[
        "-n",
        n,
        "get",
        "cm",
        "a1",
        "-o",
        "jsonpath={.metadata.labels}",
    ])
    .await
    .context("jsonpath of a map")?;
    ensure!(out.contains("\"tier\":\"front\""), "{out}");
    ns.delete().await
}

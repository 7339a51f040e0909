//! Quick checks of the sandbox API server through a real kube-rs client (the full
//! conformance suite lives in `conformance*.rs`).

mod support;

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use serin_sandbox::apiserver::{ApiServer, ApiServerConfig};
use support::private_server;

/// A server of this test only, with a client for it.
async fn start() -> (ApiServer, Client) {
    private_server(ApiServerConfig::default())
        .await
        .expect("server starts")
}

fn deployment(name: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]}}},
    }))
    .expect("valid deployment")
}

#[tokio::test]
async fn crud_defaults_and_conflicts() {
    let (_server, client) = start().await;
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let created = deps
        .create(&PostParams::default(), &deployment("web"))
        .await
        .unwrap();
    let spec = created.spec.clone().unwrap();
    assert_eq!(spec.replicas, Some(1));
    assert_eq!(created.metadata.generation, Some(1));
    assert!(created.metadata.uid.is_some());
    let err = deps
        .create(&PostParams::default(), &deployment("web"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409 && s.reason == "AlreadyExists"),
        "{err:?}"
    );

    let patched = deps
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.metadata.generation, Some(2));
    let status_only = deps
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 3}, "spec": {"replicas": 9}})),
        )
        .await
        .unwrap();
    assert_eq!(
        status_only.spec.unwrap().replicas,
        Some(3),
        "spec is ignored on /status"
    );
    assert_eq!(status_only.metadata.generation, Some(2));

    let mut stale = created.clone();
    stale.spec.as_mut().unwrap().replicas = Some(5);
    let err = deps
        .replace("web", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409 && s.reason == "Conflict"),
        "{err:?}"
    );

    let scale = deps.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(3));

    let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
    let svc: Service = serde_json::from_value(
        json!({"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}),
    )
    .unwrap();
    let svc = svcs.create(&PostParams::default(), &svc).await.unwrap();
    let spec = svc.spec.unwrap();
    assert!(spec.cluster_ip.unwrap().starts_with("10.96."));
    assert_eq!(spec.ports.unwrap()[0].protocol.as_deref(), Some("TCP"));

    let deleted = deps.delete("web", &DeleteParams::default()).await.unwrap();
    assert!(
        deleted.is_right(),
        "a built-in removed at once answers a Status"
    );
    let err = deps.get("web").await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 404),
        "{err:?}"
    );
}

#[tokio::test]
async fn watcher_sees_changes_and_selectors() {
    let (_server, client) = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cfg = watcher::Config::default().labels("team=a");
    let mut stream = watcher(cms.clone(), cfg).applied_objects().boxed();
    let cm = |name: &str, team: &str| -> ConfigMap {
        serde_json::from_value(
            json!({"metadata": {"name": name, "labels": {"team": team}}, "data": {"k": "v"}}),
        )
        .unwrap()
    };
    cms.create(&PostParams::default(), &cm("b", "b"))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &cm("a", "a"))
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.metadata.name.as_deref(), Some("a"));
    // "b" starts matching: it arrives as an added object.
    cms.patch(
        "b",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"team": "a"}}})),
    )
    .await
    .unwrap();
    let second = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(second.metadata.name.as_deref(), Some("b"));
}

#[tokio::test]
async fn crd_is_served_and_gc_removes_dependents() {
    let (_server, client) = start().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]},
    }))
    .unwrap();
    let crd = crds.create(&PostParams::default(), &crd).await.unwrap();
    let established = crd.status.unwrap().conditions.unwrap();
    assert!(
        established
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );

    let gvk = GroupVersionKind::gvk("example.com", "v1", "Widget");
    let widgets: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "default", &ApiResource::from_gvk(&gvk));
    let w: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 2}}))
    .unwrap();
    let applied = widgets
        .patch(
            "w1",
            &PatchParams::apply("smoke").force(),
            &Patch::Apply(&w),
        )
        .await
        .unwrap();
    let uid = applied.metadata.uid.clone().unwrap();
    assert_eq!(applied.metadata.generation, Some(1));

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let child: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "child", "ownerReferences": [
        {"apiVersion": "example.com/v1", "kind": "Widget", "name": "w1", "uid": uid}]}}))
        .unwrap();
    cms.create(&PostParams::default(), &child).await.unwrap();
    widgets
        .delete("w1", &DeleteParams::default())
        .await
        .unwrap();
    assert!(
        cms.get_opt("child").await.unwrap().is_none(),
        "dependent collected"
    );

    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .unwrap();
    let err = widgets.list(&ListParams::default()).await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 404),
        "{err:?}"
    );
}

#[tokio::test]
async fn namespace_deletion_waits_for_finalizers() {
    let (_server, client) = start().await;
    let nss: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "tmp"}})).unwrap();
    nss.create(&PostParams::default(), &ns).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "tmp");
    let held: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "held", "finalizers": ["x/y"]}}))
            .unwrap();
    cms.create(&PostParams::default(), &held).await.unwrap();
    nss.delete("tmp", &DeleteParams::default()).await.unwrap();
    let terminating = nss.get("tmp").await.unwrap();
    assert_eq!(
        terminating.status.unwrap().phase.as_deref(),
        Some("Terminating")
    );
    assert!(
        cms.get("held")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    );
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(
        nss.get_opt("tmp").await.unwrap().is_none(),
        "namespace goes with its last object"
    );
}

#[tokio::test]
async fn recorder_events_show_in_core_view() {
    use k8s_openapi::api::core::v1::Event as CoreEvent;
    use kube::Resource;
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};
    let (_server, client) = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "subject"}})).unwrap();
    let cm = cms.create(&PostParams::default(), &cm).await.unwrap();
    let reporter = Reporter {
        controller: "smoke".into(),
        instance: None,
    };
    let recorder = Recorder::new(client.clone(), reporter);
    let event = Event {
        type_: EventType::Normal,
        reason: "Tested".into(),
        note: Some("hello".into()),
        action: "Test".into(),
        secondary: None,
    };
    let reference = cm.object_ref(&());
    recorder.publish(&event, &reference).await.unwrap();
    recorder.publish(&event, &reference).await.unwrap();
    let core: Api<CoreEvent> = Api::namespaced(client.clone(), "default");
    let selector = "involvedObject.kind=ConfigMap,involvedObject.name=subject";
    let list = core
        .list(&ListParams::default().fields(selector))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1, "a repeat is merged into one event");
    assert_eq!(list.items[0].message.as_deref(), Some("hello"));
    assert_eq!(list.items[0].reason.as_deref(), Some("Tested"));
}

#[tokio::test]
async fn watch_resume_gone_and_streaming_lists() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = ApiServer::start(ApiServerConfig {
        watch_history: 3,
        ..Default::default()
    })
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/namespaces/default/configmaps", server.url());
    for i in 0..6 {
        let body = json!({"metadata": {"name": format!("c{i}")}});
        let resp = http.post(&url).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 201);
    }
    // History keeps 3 changes: a watch from rv 2 is too old.
    let text = http
        .get(format!("{url}?watch=true&resourceVersion=2"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let event: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(event["type"], "ERROR");
    assert_eq!(event["object"]["code"], 410);
    assert!(
        event["object"]["message"]
            .as_str()
            .unwrap()
            .starts_with("too old resource version: 2 (")
    );

    let streaming = format!(
        "{url}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1"
    );
    let text = http
        .get(streaming)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.iter().filter(|e| e["type"] == "ADDED").count(), 6);
    let end = events.iter().find(|e| e["type"] == "BOOKMARK").unwrap();
    assert_eq!(
        end["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );

    let table = http
        .get(&url)
        .header(
            "Accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(table["kind"], "Table");
    assert_eq!(table["rows"].as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn server_side_apply_conflicts_and_dry_run() {
    let (_server, client) = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let applied = |v: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"k": v}});
    cms.patch(
        "ssa",
        &PatchParams::apply("one"),
        &Patch::Apply(applied("1")),
    )
    .await
    .unwrap();
    let err = cms
        .patch(
            "ssa",
            &PatchParams::apply("two"),
            &Patch::Apply(applied("2")),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409 && s.reason == "Conflict"),
        "{err:?}"
    );
    let forced = cms
        .patch(
            "ssa",
            &PatchParams::apply("two").force(),
            &Patch::Apply(applied("2")),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.unwrap()["k"], "2");
    let managers: Vec<String> = forced
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(managers.contains(&"two".to_string()), "{managers:?}");

    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "dry"}})).unwrap();
    cms.create(&dry, &cm).await.unwrap();
    assert!(
        cms.get_opt("dry").await.unwrap().is_none(),
        "dry run persists nothing"
    );
}

#[tokio::test]
async fn foreground_and_orphan_propagation() {
    use kube::api::PropagationPolicy;
    let (_server, client) = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let make = |name: &str, owner: Option<&ConfigMap>| -> ConfigMap {
        let refs: Vec<serde_json::Value> = owner
            .map(|o| vec![json!({"apiVersion": "v1", "kind": "ConfigMap", "name": o.metadata.name, "uid": o.metadata.uid})])
            .unwrap_or_default();
        serde_json::from_value(json!({"metadata": {"name": name, "ownerReferences": refs}}))
            .unwrap()
    };
    let owner = cms
        .create(&PostParams::default(), &make("owner", None))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &make("dep", Some(&owner)))
        .await
        .unwrap();
    let orphan = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Orphan),
        ..Default::default()
    };
    cms.delete("owner", &orphan).await.unwrap();
    let dep = cms.get("dep").await.unwrap();
    assert!(
        dep.metadata.owner_references.is_none_or(|r| r.is_empty()),
        "orphaned dependent loses its reference"
    );

    let owner = cms
        .create(&PostParams::default(), &make("owner2", None))
        .await
        .unwrap();
    let mut held = make("held", Some(&owner));
    held.metadata.finalizers = Some(vec!["x/y".into()]);
    cms.create(&PostParams::default(), &held).await.unwrap();
    let foreground = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Foreground),
        ..Default::default()
    };
    let answer = cms.delete("owner2", &foreground).await.unwrap();
    let waiting = answer.left().expect("owner waits for its dependents");
    assert!(
        waiting
            .metadata
            .finalizers
            .unwrap()
            .contains(&"foregroundDeletion".to_string())
    );
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(cms.get_opt("held").await.unwrap().is_none());
    assert!(
        cms.get_opt("owner2").await.unwrap().is_none(),
        "owner goes with its last dependent"
    );
}

#[tokio::test]
async fn faults_counters_and_field_validation() {
    let (server, client) = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    server.faults().set_error_rate("list", 1.0);
    let err = cms.list(&ListParams::default()).await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 500),
        "{err:?}"
    );
    server.faults().clear();
    cms.list(&ListParams::default()).await.unwrap();
    let counts = server.counters().snapshot();
    assert_eq!(counts[&("list".to_string(), "configmaps".to_string())], 2);

    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/namespaces/default/configmaps", server.url());
    let body = json!({"metadata": {"name": "x"}, "data": {"a": "b"}, "bogus": 1});
    let strict = http
        .post(format!("{url}?fieldValidation=Strict"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(strict.status(), 400);
    let warn = http
        .post(format!("{url}?fieldValidation=Warn"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(warn.status(), 201);
    let warning = warn
        .headers()
        .get("warning")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(warning, r#"299 - "unknown field \"bogus\"""#);
    let counters: serde_json::Value = http
        .get(format!("{}/sandbox/counters", server.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counters["create"]["configmaps"], 2);
}

#[tokio::test]
async fn controller_reconciles_with_server_side_apply() {
    use kube::runtime::controller::{Action, Controller};
    use kube::runtime::wait::await_condition;
    use std::sync::Arc;
    let (_server, client) = start().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "metadata": {"name": "gadgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer", "default": 1}}},
                    "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}}}}}]},
    }))
    .unwrap();
    crds.create(&PostParams::default(), &crd).await.unwrap();
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk("example.com", "v1", "Gadget"));
    let gadgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

    let ctx = Arc::new((client.clone(), ar.clone()));
    let reconcile = |obj: Arc<DynamicObject>, ctx: Arc<(Client, ApiResource)>| async move {
        let (client, ar) = &*ctx;
        let name = obj.metadata.name.clone().unwrap_or_default();
        let owner = json!({"apiVersion": "example.com/v1", "kind": "Gadget", "name": name, "uid": obj.metadata.uid, "controller": true});
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("{name}-cfg"), "ownerReferences": [owner]},
            "data": {"size": obj.data["spec"]["size"].to_string()}});
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        cms.patch(
            &format!("{name}-cfg"),
            &PatchParams::apply("gadget-ctl").force(),
            &Patch::Apply(cm),
        )
        .await?;
        let status =
            json!({"apiVersion": "example.com/v1", "kind": "Gadget", "status": {"ready": true}});
        let gadgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", ar);
        gadgets
            .patch_status(
                &name,
                &PatchParams::apply("gadget-ctl").force(),
                &Patch::Apply(status),
            )
            .await?;
        Ok::<_, kube::Error>(Action::await_change())
    };
    let controller = Controller::new_with(gadgets.clone(), watcher::Config::default(), ar.clone())
        .owns(cms.clone(), watcher::Config::default())
        .run(
            reconcile,
            |_, _: &kube::Error, _| Action::await_change(),
            ctx,
        )
        .for_each(|_| async {});
    let handle = tokio::spawn(controller);

    let g: DynamicObject = serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g1"}, "spec": {}})).unwrap();
    let g = gadgets.create(&PostParams::default(), &g).await.unwrap();
    assert_eq!(g.data["spec"]["size"], 1, "schema default applied");
    let ready = await_condition(gadgets.clone(), "g1", |o: Option<&DynamicObject>| {
        o.is_some_and(|o| o.data["status"]["ready"] == true)
    });
    tokio::time::timeout(Duration::from_secs(10), ready)
        .await
        .unwrap()
        .unwrap();
    let cm = cms.get("g1-cfg").await.unwrap();
    assert_eq!(cm.data.unwrap()["size"], "1");
    handle.abort();
}

#[tokio::test]
async fn no_op_writes_dangling_owners_and_field_labels() {
    let (_server, client) = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "a"}, "data": {"k": "w"}})).unwrap();
    let created = cms.create(&PostParams::default(), &cm).await.unwrap();
    let same = cms
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "w"}})),
        )
        .await
        .unwrap();
    assert_eq!(
        same.metadata.resource_version,
        created.metadata.resource_version
    );

    let orphan: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "orphan", "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "gone", "uid": "00000000-0000-0000-0000-000000000000"}]}}))
    .unwrap();
    cms.create(&PostParams::default(), &orphan).await.unwrap();
    assert!(
        cms.get_opt("orphan").await.unwrap().is_none(),
        "an object with no live owner is collected"
    );

    let err = cms
        .list(&ListParams::default().fields("data.k=w"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 400),
        "{err:?}"
    );
    let by_name = cms
        .list(&ListParams::default().fields("metadata.name=a"))
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 1);
}

#[tokio::test]
async fn bookmarks_dropped_watches_and_shutdown() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = ApiServer::start(ApiServerConfig::default()).await.unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/namespaces/default/configmaps", server.url());
    let list: serde_json::Value = http.get(&url).send().await.unwrap().json().await.unwrap();
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let watch =
        format!("{url}?watch=true&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=2");
    let text = http.get(&watch).send().await.unwrap().text().await.unwrap();
    assert!(
        text.lines().any(|l| l.contains("\"BOOKMARK\"")),
        "bookmarks while idle: {text}"
    );

    let endless = http.get(format!("{url}?watch=true")).send().await.unwrap();
    server.faults().drop_watches();
    let ended = tokio::time::timeout(Duration::from_secs(5), endless.text()).await;
    assert!(ended.is_ok(), "a dropped watch ends its response");

    let _open = http.get(format!("{url}?watch=true")).send().await.unwrap();
    let started = std::time::Instant::now();
    server.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "shutdown does not wait on open watches"
    );
}

#[tokio::test]
async fn streaming_list_watcher_and_metadata_watcher() {
    use kube::core::PartialObjectMeta;
    let (_server, client) = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "s1"}})).unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let mut stream = watcher(cms.clone(), watcher::Config::default().streaming_lists())
        .applied_objects()
        .boxed();
    let first = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.metadata.name.as_deref(), Some("s1"));

    let metas_api: Api<PartialObjectMeta<ConfigMap>> = Api::namespaced(client.clone(), "default");
    let mut metas = watcher(metas_api, watcher::Config::default())
        .applied_objects()
        .boxed();
    let meta: PartialObjectMeta<ConfigMap> =
        tokio::time::timeout(Duration::from_secs(5), metas.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    assert_eq!(meta.metadata.name.as_deref(), Some("s1"));
}

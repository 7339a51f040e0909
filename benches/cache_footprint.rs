//! What one Canary costs in serin's watch caches: the bytes a reflector store holds per
//! cached object of each kind, counted by a counting allocator, for the objects one
//! Canary of the rollout benchmark brings (its Deployment and primary, three Services,
//! a VirtualService, two DestinationRules and the Canary itself), in the form the API
//! server returns them (defaulted, with status, without managedFields), whole and as
//! serin's caches keep them (`controller::trim`).
//!
//! `cargo bench --bench cache_footprint` prints a table; the README's Benchmark section
//! quotes it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::core::DeserializeGuard;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher::Event;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use serin::api::Canary;
use serin::controller::trim;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const N: usize = 2_000;

fn meta(name: &str, i: usize) -> Value {
    json!({
        "name": name, "namespace": "bench", "uid": format!("0b5c3d6e-1f2a-4b3c-8d4e-{i:012}"),
        "resourceVersion": format!("{}", 100_000 + i), "generation": 2,
        "creationTimestamp": "2026-12-01T17:21:26Z",
        "labels": {"app": name},
    })
}

/// The metadata of an object serin made for Canary `app`: owned by it, with the hash.
fn made(mut object: Value, app: &str, i: usize) -> Value {
    let meta = &mut object["metadata"];
    meta["ownerReferences"] = json!([{
        "apiVersion": "serin.dev/v1beta1", "kind": "Canary", "name": app,
        "uid": format!("7a1b2c3d-4e5f-4a6b-9c7d-{i:012}"), "controller": true, "blockOwnerDeletion": true
    }]);
    meta["annotations"] = json!({
        "serin.dev/applied": "5f1c9a7e3b2d4c6a",
        "helm.toolkit.fluxcd.io/driftDetection": "disabled",
        "kustomize.toolkit.fluxcd.io/reconcile": "disabled"
    });
    object
}

fn deployment(i: usize, name: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(name, i),
        "spec": {
            "progressDeadlineSeconds": 600, "replicas": 1, "revisionHistoryLimit": 10,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}, "type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [{
                        "image": "registry.example/app:2", "imagePullPolicy": "IfNotPresent", "name": "app",
                        "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
                        "resources": {}, "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File"
                    }],
                    "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "schedulerName": "default-scheduler",
                    "securityContext": {}, "terminationGracePeriodSeconds": 30
                }
            }
        },
        "status": {
            "availableReplicas": 1, "readyReplicas": 1, "replicas": 1, "updatedReplicas": 1,
            "observedGeneration": 2,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                 "message": "Deployment has minimum availability.",
                 "lastTransitionTime": "2026-12-01T17:21:26Z", "lastUpdateTime": "2026-12-01T17:21:26Z"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                 "message": format!("ReplicaSet \"{name}-5d4f8c7b9\" has successfully progressed."),
                 "lastTransitionTime": "2026-12-01T17:21:26Z", "lastUpdateTime": "2026-12-01T17:21:26Z"}
            ]
        }
    })
}

fn service(i: usize, name: &str, app: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service", "metadata": meta(name, i),
        "spec": {
            "clusterIP": "10.96.12.34", "clusterIPs": ["10.96.12.34"], "internalTrafficPolicy": "Cluster",
            "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}],
            "selector": {"app": app}, "sessionAffinity": "None", "type": "ClusterIP"
        },
        "status": {"loadBalancer": {}}
    })
}

fn virtual_service(i: usize, app: &str) -> Value {
    let host = |n: &str| format!("{n}.bench.svc.cluster.local");
    json!({
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": meta(app, i),
        "spec": {
            "hosts": [app], "gateways": ["mesh"],
            "http": [{"route": [
                {"destination": {"host": host(&format!("{app}-primary")), "port": {"number": 80}}, "weight": 75},
                {"destination": {"host": host(&format!("{app}-canary")), "port": {"number": 80}}, "weight": 25}
            ]}]
        }
    })
}

fn destination_rule(i: usize, name: &str) -> Value {
    json!({
        "apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": meta(name, i),
        "spec": {"host": name}
    })
}

fn canary(i: usize, app: &str) -> Value {
    json!({
        "apiVersion": "serin.dev/v1beta1", "kind": "Canary", "metadata": meta(app, i),
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": app},
            "service": {"port": 80},
            "analysis": {"interval": "10s", "threshold": 5, "stepWeight": 25, "maxWeight": 50}
        },
        "status": {
            "phase": "Progressing", "canaryWeight": 25, "failedChecks": 0, "iterations": 0,
            "lastAppliedSpec": "5d4f8c7b9", "lastPromotedSpec": "7c9d6b5f4",
            "lastTransitionTime": "2026-12-01T17:21:26Z", "observedGeneration": 1,
            "stepStartedAt": "2026-12-01T17:21:36Z",
            "conditions": [{"type": "Promoted", "status": "Unknown", "reason": "Progressing",
                            "message": "New revision detected, progressing canary analysis.",
                            "lastTransitionTime": "2026-12-01T17:21:26Z", "lastUpdateTime": "2026-12-01T17:21:26Z"}]
        }
    })
}

/// Bytes a store holds per object once `N` objects made by `make`, passed through
/// `trim`, are in it.
fn per_object<K>(
    writer: impl Fn() -> Writer<K>,
    make: impl Fn(usize) -> Value,
    trim: fn(&mut K),
) -> isize
where
    K: kube::Resource + DeserializeOwned + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    let mut writer = writer();
    let objects: Vec<K> = (0..N)
        .map(|i| {
            let mut object = serde_json::from_value(make(i)).expect("object");
            trim(&mut object);
            object
        })
        .collect();
    let before = LIVE.load(Ordering::Relaxed);
    for object in &objects {
        writer.apply_watcher_event(&Event::Apply(object.clone()));
    }
    let after = LIVE.load(Ordering::Relaxed);
    drop(objects);
    (after - before) / N as isize
}

/// [`per_object`] whole and trimmed.
fn both<K>(
    writer: impl Fn() -> Writer<K>,
    make: impl Fn(usize) -> Value,
    trim: fn(&mut K),
) -> (isize, isize)
where
    K: kube::Resource + DeserializeOwned + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    (
        per_object(&writer, &make, |_| {}),
        per_object(&writer, &make, trim),
    )
}

fn dynamic(group: &str, version: &str, kind: &str, plural: &str) -> Writer<DynamicObject> {
    let gvk = GroupVersionKind::gvk(group, version, kind);
    Writer::new(ApiResource::from_gvk_with_plural(&gvk, plural))
}

fn main() {
    let vs = || {
        dynamic(
            "networking.istio.io",
            "v1",
            "VirtualService",
            "virtualservices",
        )
    };
    let dr = || {
        dynamic(
            "networking.istio.io",
            "v1",
            "DestinationRule",
            "destinationrules",
        )
    };
    let app = |i: usize| format!("app-{i}");
    let rows: Vec<(&str, usize, (isize, isize))> = vec![
        (
            "Deployment, target",
            1,
            both(
                Writer::<Deployment>::default,
                |i| deployment(i, &app(i)),
                trim::deployment,
            ),
        ),
        (
            "Deployment, primary",
            1,
            both(
                Writer::<Deployment>::default,
                |i| made(deployment(i, &format!("app-{i}-primary")), &app(i), i),
                trim::deployment,
            ),
        ),
        (
            "Service (apex, canary, primary)",
            3,
            both(
                Writer::<Service>::default,
                |i| made(service(i, &format!("app-{i}-canary"), &app(i)), &app(i), i),
                trim::service,
            ),
        ),
        (
            "VirtualService",
            1,
            both(
                vs,
                |i| made(virtual_service(i, &app(i)), &app(i), i),
                trim::dynamic,
            ),
        ),
        (
            "DestinationRule (canary, primary)",
            2,
            both(
                dr,
                |i| made(destination_rule(i, &format!("app-{i}-canary")), &app(i), i),
                trim::dynamic,
            ),
        ),
        (
            "Canary",
            1,
            both(
                Writer::<DeserializeGuard<Canary>>::default,
                |i| canary(i, &app(i)),
                trim::metadata,
            ),
        ),
    ];
    println!(
        "| cached object | per Canary | bytes each, whole | bytes each, as cached | bytes per Canary, as cached |"
    );
    println!("|---|---|---|---|---|");
    let (mut whole, mut cached) = (0, 0);
    for (kind, count, (full, trimmed)) in rows {
        let count = count as isize;
        whole += full * count;
        cached += trimmed * count;
        println!(
            "| {kind} | {count} | {full} | {trimmed} | {} |",
            trimmed * count
        );
    }
    let kib = |b: isize| b as f64 / 1024.0;
    println!(
        "| **all caches** | | {whole} ({:.1} KiB) | | **{cached} ({:.1} KiB)** |",
        kib(whole),
        kib(cached)
    );
    println!(
        "\nsize_of: Deployment {} B, Service {} B, DynamicObject {} B, Canary {} B",
        std::mem::size_of::<Deployment>(),
        std::mem::size_of::<Service>(),
        std::mem::size_of::<DynamicObject>(),
        std::mem::size_of::<Canary>(),
    );
}

//! Converge: carries out the decision's [`Plan`]. It judges nothing: which objects exist
//! and how they look was decided; this builds them ([`crate::build`] for the primary and
//! the Services, the router for the routing objects) and applies what differs.
//!
//! An object is applied (server-side apply, one field manager, forced) only when its
//! [`crate::build::APPLIED`] hash differs from the snapshot's, so a reconcile with nothing
//! to do writes nothing. While initialising, a missing apex Service or routing object is
//! not created ([`Plan::create_routing`]): each is created once, on the primary, when
//! initialisation ends. Because the status is recorded before this runs, a crash here is
//! repaired by the next reconcile; the decision that ends initialisation is the one
//! that runs this first, so its objects exist before the status says `Initialized`.
//!
//! Each group of objects (the primary, the Services, the routing objects) is built only
//! when what it is built from changed or one of its objects lost its hash
//! ([`super::memo`]): most reconciles build nothing.

use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt;
use kube::api::{Api, DynamicObject, ObjectMeta, Patch, PatchParams};
use serde_json::json;

use super::memo::{self, Place};
use super::snapshot::Snapshot;
use super::{Ctx, Error};
use crate::api::Canary;
use crate::build::{self, Desired, FIELD_MANAGER, Names};
use crate::decide::Plan;
use crate::router::Router;

/// The key of an object's writes in [`super::pending`].
fn pending_key(kind: &str, namespace: &str, name: &str) -> String {
    format!("{kind}/{namespace}/{name}")
}

/// Applies `desired` unless the snapshot's object already carries its hash.
pub(super) async fn apply(
    ctx: &Ctx,
    desired: &Desired,
    cached: Option<&ObjectMeta>,
) -> Result<bool, Error> {
    let hash = desired.hash.as_str();
    if cached.is_some() && cached.and_then(build::applied_hash) == Some(hash) {
        return Ok(false);
    }
    let key = pending_key(&desired.resource.kind, &desired.namespace, &desired.name);
    let rv = cached.and_then(|m| m.resource_version.as_deref());
    if !ctx.pending.needed(&key, hash, rv) {
        return Ok(false);
    }
    let api: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &desired.namespace, &desired.resource);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(&desired.name, &params, &Patch::Apply(&desired.object))
        .await
        .map_err(Error::Kube)?;
    ctx.pending.wrote(&key, hash, rv);
    Ok(true)
}

pub(super) async fn converge(
    canary: &Canary,
    ctx: &Ctx,
    plan: &Plan,
    router: &dyn Router,
    snap: &Snapshot,
) -> Result<(), Error> {
    let Some(target) = snap.target.as_deref() else {
        // The target is gone: only the routing can (and must) still follow the plan.
        return route(ctx, canary, plan, router, snap).await;
    };
    let names = Names::of(canary);
    let plan = &super::autoscaling::adjust(canary, plan, snap);
    if let Some(replicas) = plan.copy_to_primary {
        let key = memo::Key::primary(canary, target, replicas);
        group(ctx, canary, plan, snap, key, || {
            let desired = build::primary(canary, target, &snap.target_revision, replicas);
            vec![(Place::Primary, desired, false)]
        })
        .await?;
    }
    super::autoscaling::converge(canary, ctx, plan, snap).await?;

    let apex = snap.service(&names.apex).map(|s| &s.metadata);
    let key = memo::Key::services(canary, target, apex, plan.apex_on_primary);
    group(ctx, canary, plan, snap, key, || {
        let apex_original = build::original(
            apex,
            || {
                let spec = snap.service(&names.apex).and_then(|s| s.spec.as_ref());
                spec.and_then(|s| serde_json::to_value(s).ok())
            },
            canary,
        );
        let services = build::services(
            canary,
            target,
            apex_original.as_deref(),
            plan.apex_on_primary,
        );
        services
            .into_iter()
            .map(|svc| {
                // The apex is created only when initialisation ends.
                let is_apex = svc.name == names.apex;
                (Place::Service, svc, is_apex)
            })
            .collect()
    })
    .await?;

    route(ctx, canary, plan, router, snap).await?;

    if let Some(replicas) = plan.canary_replicas {
        let ns = canary.namespace().unwrap_or_default();
        let key = format!("scale/{ns}/{}", names.target);
        let rv = target.metadata.resource_version.as_deref();
        if ctx.pending.needed(&key, &replicas.to_string(), rv) {
            let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
            scale(&deployments, &names.target, replicas).await?;
            ctx.pending.wrote(&key, &replicas.to_string(), rv);
        }
    }
    Ok(())
}

/// Applies the routing objects of the plan's traffic split.
async fn route(
    ctx: &Ctx,
    canary: &Canary,
    plan: &Plan,
    router: &dyn Router,
    snap: &Snapshot,
) -> Result<(), Error> {
    let key = memo::Key::routing(canary, &plan.split, &snap.routing);
    group(ctx, canary, plan, snap, key, || {
        let desired = router.desired(canary, &plan.split, &snap.routing);
        desired
            .into_iter()
            .map(|o| (Place::Routing, o, true))
            .collect()
    })
    .await
}

/// Builds one group of objects and applies each that differs, unless the memo says the
/// group's inputs (`key`) are unchanged and every object still stands (see `memo`).
/// `build` gives each object with where it is cached and whether it is created only with
/// [`Plan::create_routing`].
async fn group(
    ctx: &Ctx,
    canary: &Canary,
    plan: &Plan,
    snap: &Snapshot,
    key: Option<memo::Key>,
    build: impl FnOnce() -> Vec<(Place, Desired, bool)>,
) -> Result<(), Error> {
    let uid = canary.uid().unwrap_or_default();
    let ns = canary.namespace().unwrap_or_default();
    let fresh = key.as_ref().is_some_and(|k| {
        ctx.memo
            .unchanged(&uid, k, |b| in_place(ctx, &ns, b, plan, snap))
    });
    if fresh {
        return Ok(());
    }
    let mut built = Vec::new();
    for (place, desired, needs_create_routing) in build() {
        let b = memo::Built::of(place, &desired, needs_create_routing);
        let cached = cached(&b, snap);
        built.push(b);
        if cached.is_none() && needs_create_routing && !plan.create_routing {
            continue;
        }
        apply(ctx, &desired, cached).await?;
    }
    if let Some(key) = key {
        ctx.memo.remember(&uid, key, built);
    }
    Ok(())
}

/// The snapshot's copy of an object converge builds.
fn cached<'a>(built: &memo::Built, snap: &'a Snapshot) -> Option<&'a ObjectMeta> {
    match built.place {
        Place::Primary => snap.primary.as_deref().map(|p| &p.metadata),
        Place::Service => snap.service(&built.name).map(|s| &s.metadata),
        Place::Routing => snap
            .routing
            .get(&built.kind, &built.name)
            .map(|o| &o.metadata),
    }
}

/// Whether an object converge built last time still stands: the cached one carries its
/// hash, or it is missing and would not be created now, or its write is on its way and
/// the cache has not caught up ([`super::pending`]): in each case `apply` would write
/// nothing.
fn in_place(ctx: &Ctx, ns: &str, built: &memo::Built, plan: &Plan, snap: &Snapshot) -> bool {
    let cached = cached(built, snap);
    match cached {
        Some(meta) if build::applied_hash(meta) == Some(built.hash.as_str()) => true,
        None if built.needs_create_routing && !plan.create_routing => true,
        _ => {
            let key = pending_key(&built.kind, ns, &built.name);
            let rv = cached.and_then(|m| m.resource_version.as_deref());
            !ctx.pending.needed(&key, &built.hash, rv)
        }
    }
}

/// Sets a Deployment's replicas through its scale subresource, as `kubectl scale` does.
pub(super) async fn scale(api: &Api<Deployment>, name: &str, replicas: i32) -> Result<(), Error> {
    let patch = json!({ "spec": { "replicas": replicas } });
    api.patch_scale(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(Error::Kube)?;
    Ok(())
}

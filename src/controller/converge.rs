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

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DynamicObject, ObjectMeta, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::memo::{self, Place};
use super::snapshot::Snapshot;
use super::{Ctx, Error};
use crate::api::Canary;
use crate::build::{self, Desired, FIELD_MANAGER, Names};
use crate::decide::Plan;
use crate::router::{Router, RoutingObjects};

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
    let key = format!(
        "{}/{}/{}",
        desired.resource.kind, desired.namespace, desired.name
    );
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
        return route(ctx, canary, plan, router, snap, &mut Vec::new()).await;
    };
    let names = Names::of(canary);
    let plan = &super::autoscaling::adjust(canary, plan, snap);
    let uid = canary.uid().unwrap_or_default();
    let apex = snap.service(&names.apex);
    let key = memo::Key::of(
        canary.metadata.generation,
        target,
        plan,
        apex.and_then(|s| s.metadata.resource_version.as_deref()),
        snap.routing.versions(),
    );
    // Nothing changed since the last converge built these objects, and they all still
    // stand: there is nothing to build, hash or write (see `memo`).
    let fresh = key
        .as_ref()
        .is_some_and(|k| ctx.memo.unchanged(&uid, k, |b| in_place(b, plan, snap)));
    let mut built = Vec::new();
    if !fresh && let Some(replicas) = plan.copy_to_primary {
        let desired = build::primary(canary, target, &snap.target_revision, replicas);
        built.push(memo::Built::of(Place::Primary, &desired, false));
        apply(ctx, &desired, snap.primary.as_deref().map(|p| p.meta())).await?;
    }
    super::autoscaling::converge(canary, ctx, plan, snap).await?;

    if !fresh {
        let apex_original = build::original(
            apex.map(|s| &s.metadata),
            || apex.and_then(|s| serde_json::to_value(&s.spec).ok()),
            canary,
        );
        for svc in build::services(
            canary,
            target,
            apex_original.as_deref(),
            plan.apex_on_primary,
        ) {
            let is_apex = svc.name == names.apex;
            built.push(memo::Built::of(Place::Service, &svc, is_apex));
            let cached = snap.service(&svc.name).map(|s| &s.metadata);
            if cached.is_none() && is_apex && !plan.create_routing {
                continue;
            }
            apply(ctx, &svc, cached).await?;
        }
        route(ctx, canary, plan, router, snap, &mut built).await?;
    }

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
    if !fresh && let Some(key) = key {
        ctx.memo.remember(&uid, key, built);
    }
    Ok(())
}

/// Whether an object converge built last time still stands: the cached one carries its
/// hash, or it is missing and would not be created now.
fn in_place(built: &memo::Built, plan: &Plan, snap: &Snapshot) -> bool {
    let cached = match built.place {
        Place::Primary => snap.primary.as_deref().map(|p| &p.metadata),
        Place::Service => snap.service(&built.name).map(|s| &s.metadata),
        Place::Routing => snap
            .routing
            .get(&built.kind, &built.name)
            .map(|o| &o.metadata),
    };
    match cached {
        Some(meta) => build::applied_hash(meta) == Some(built.hash.as_str()),
        None => built.needs_create_routing && !plan.create_routing,
    }
}

/// Applies the routing objects of the plan's traffic split, adding each to `built`.
async fn route(
    ctx: &Ctx,
    canary: &Canary,
    plan: &Plan,
    router: &dyn Router,
    snap: &Snapshot,
    built: &mut Vec<memo::Built>,
) -> Result<(), Error> {
    for obj in router.desired(canary, &plan.split, &snap.routing) {
        built.push(memo::Built::of(Place::Routing, &obj, true));
        let cached = cached_routing(&snap.routing, &obj);
        if cached.is_none() && !plan.create_routing {
            continue;
        }
        apply(ctx, &obj, cached).await?;
    }
    Ok(())
}

fn cached_routing<'a>(observed: &'a RoutingObjects, desired: &Desired) -> Option<&'a ObjectMeta> {
    observed
        .get(&desired.resource.kind, &desired.name)
        .map(|o| &o.metadata)
}

/// Sets a Deployment's replicas through its scale subresource, as `kubectl scale` does.
pub(super) async fn scale(api: &Api<Deployment>, name: &str, replicas: i32) -> Result<(), Error> {
    let patch = json!({ "spec": { "replicas": replicas } });
    api.patch_scale(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(Error::Kube)?;
    Ok(())
}

//! Autoscalers, the IO side: what the caches hold of the target's autoscaler and of the
//! primary's copy, and carrying out the plan for them: apply the copy (only when the
//! user's changed, by its hash), pause a target's ScaledObject between runs, size the
//! canary and the primary so an autoscaler's choice is never overwritten, and at revert
//! give the user's autoscaler back its target alone. The rules are in
//! [`crate::autoscaling`].

use std::sync::Arc;

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};

use super::converge::apply;
use super::snapshot::Snapshot;
use super::{Ctx, Error, observe};
use crate::api::{AutoscalerKind, AutoscalerRef, Canary};
use crate::autoscaling::{self, primary_name, resource};
use crate::decide::Plan;

/// The autoscalers of one Canary, as the caches held them.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The target's autoscaler, named by `autoscalerRef`.
    pub user: Option<Arc<DynamicObject>>,
    /// The primary's copy.
    pub primary: Option<Arc<DynamicObject>>,
    /// Why `autoscalerRef` cannot be used, for the Valid condition.
    pub problem: Option<String>,
}

fn store(ctx: &Ctx, kind: AutoscalerKind) -> &Store<DynamicObject> {
    match kind {
        AutoscalerKind::HorizontalPodAutoscaler => &ctx.hpas,
        AutoscalerKind::ScaledObject => &ctx.scaled_objects,
    }
}

/// Reads the caches for `canary` (nothing without an `autoscalerRef`).
pub(super) fn observe(canary: &Canary, ctx: &Ctx) -> Observed {
    let Some(aref) = &canary.spec.autoscaler_ref else {
        return Observed::default();
    };
    let ns = canary.namespace().unwrap_or_default();
    let ar = resource(aref.kind);
    let get =
        |name: &str| store(ctx, aref.kind).get(&ObjectRef::new_with(name, ar.clone()).within(&ns));
    let user = get(&aref.name);
    let problem = user.is_none().then(|| missing(aref, &ns));
    Observed {
        primary: get(&primary_name(aref)),
        user,
        problem,
    }
}

fn missing(aref: &AutoscalerRef, ns: &str) -> String {
    let hint = match aref.kind {
        AutoscalerKind::HorizontalPodAutoscaler => "",
        AutoscalerKind::ScaledObject => " (is KEDA installed?)",
    };
    format!(
        "autoscalerRef: {} {}.{ns} not found{hint}; the primary runs with fixed replicas until it exists",
        aref.kind.as_str(),
        aref.name
    )
}

/// The plan with the replica counts an autoscaler decides: the primary keeps what its
/// autoscaler chose when a template is copied, and a canary starts a run at its
/// autoscaler's minimum.
pub(super) fn adjust(canary: &Canary, plan: &Plan, snap: &Snapshot) -> Plan {
    let (Some(aref), Some(user)) = (&canary.spec.autoscaler_ref, &snap.autoscalers.user) else {
        return plan.clone();
    };
    let mut plan = plan.clone();
    let primary_now = snap.primary.as_deref().map(observe::replicas);
    plan.copy_to_primary = plan
        .copy_to_primary
        .map(|n| autoscaling::primary_replicas(n, true, primary_now));
    let current = snap.target.as_deref().map(observe::replicas).unwrap_or(0);
    plan.canary_replicas = autoscaling::canary_replicas(
        plan.canary_replicas,
        current,
        Some(autoscaling::min_replicas(aref.kind, user)),
    );
    plan
}

/// Applies the primary's autoscaler once the primary exists, and pauses or unpauses the
/// target's ScaledObject as the plan's `canary_in_use` says.
pub(super) async fn converge(
    canary: &Canary,
    ctx: &Ctx,
    plan: &Plan,
    snap: &Snapshot,
) -> Result<(), Error> {
    let (Some(aref), Some(user)) = (&canary.spec.autoscaler_ref, &snap.autoscalers.user) else {
        return Ok(());
    };
    if snap.primary.is_some() {
        let desired = autoscaling::primary_autoscaler(canary, aref, user);
        let cached = snap.autoscalers.primary.as_deref().map(|o| o.meta());
        apply(ctx, &desired, cached).await?;
    }
    if aref.kind == AutoscalerKind::ScaledObject
        && let Some(patch) = autoscaling::pause_patch(user, !plan.canary_in_use)
    {
        patch_user(canary, ctx, aref, &patch).await?;
    }
    Ok(())
}

async fn patch_user(
    canary: &Canary,
    ctx: &Ctx,
    aref: &AutoscalerRef,
    patch: &serde_json::Value,
) -> Result<(), Error> {
    let ns = canary.namespace().unwrap_or_default();
    let api: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &ns, &resource(aref.kind));
    api.patch(&aref.name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map_err(Error::Kube)?;
    Ok(())
}

/// At a revert: the primary's autoscaler goes (its primary goes too), and a paused
/// ScaledObject of the target is unpaused, so the user's autoscaler scales the restored
/// target.
pub(super) async fn revert(canary: &Canary, ctx: &Ctx, snap: &Snapshot) -> Result<(), Error> {
    let Some(aref) = &canary.spec.autoscaler_ref else {
        return Ok(());
    };
    if snap.autoscalers.primary.is_some() {
        let ns = canary.namespace().unwrap_or_default();
        let api: Api<DynamicObject> =
            Api::namespaced_with(ctx.client.clone(), &ns, &resource(aref.kind));
        match api
            .delete(&primary_name(aref), &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(Error::Kube(e)),
        }
    }
    if let (AutoscalerKind::ScaledObject, Some(user)) = (aref.kind, &snap.autoscalers.user)
        && let Some(patch) = autoscaling::pause_patch(user, false)
    {
        patch_user(canary, ctx, aref, &patch).await?;
    }
    Ok(())
}

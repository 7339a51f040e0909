//! Deletion: with `revertOnDeletion`, a finalizer holds the Canary until the target's
//! replicas and any Service or routing object serin took over are restored. Without it,
//! garbage collection removes every owned object and nothing is left behind.

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

use super::converge::scale;
use super::notices::Notice;
use super::snapshot::Snapshot;
use super::{Ctx, Error, observe};
use crate::api::{Canary, reasons};
use crate::build::{Names, release, saved_spec, selector_labels};
use crate::decide::Rollout;
use crate::router::Router;

/// Finalizer serin puts on Canaries with `revertOnDeletion`.
pub(super) const FINALIZER: &str = "finalizer.serin.dev";

/// Adds or removes the finalizer as the spec asks, and reverts a deleted Canary.
/// Returns Some(action) when the reconcile ends here.
pub(super) async fn handle(
    canary: &Canary,
    ctx: &Ctx,
    snap: &Snapshot,
    router: Option<&dyn Router>,
    now: DateTime<Utc>,
) -> Result<Option<Action>, Error> {
    let has = canary.finalizers().iter().any(|f| f == FINALIZER);
    let deleting = canary.meta().deletion_timestamp.is_some();
    let api: Api<Canary> =
        Api::namespaced(ctx.client.clone(), &canary.namespace().unwrap_or_default());
    match (deleting, has, canary.spec.revert_on_deletion) {
        (true, true, _) => {
            if revert(canary, ctx, snap, router, now).await? {
                set_finalizers(&api, canary, false).await?;
                Ok(Some(Action::await_change()))
            } else {
                // The target is still starting: keep the primary (and the finalizer) until
                // it serves, so the deletion never leaves the app without ready pods.
                Ok(Some(Action::requeue(std::time::Duration::from_secs(1))))
            }
        }
        (true, false, _) => Ok(Some(Action::await_change())),
        // The patch changed the object: the next reconcile starts from the fresh one
        // instead of writing a status against a stale resourceVersion.
        (false, false, true) => {
            set_finalizers(&api, canary, true).await?;
            Ok(Some(Action::requeue(std::time::Duration::ZERO)))
        }
        (false, true, false) => {
            set_finalizers(&api, canary, false).await?;
            Ok(Some(Action::requeue(std::time::Duration::ZERO)))
        }
        _ => Ok(None),
    }
}

async fn set_finalizers(api: &Api<Canary>, canary: &Canary, add: bool) -> Result<(), Error> {
    let mut list: Vec<String> = canary
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    if add {
        list.push(FINALIZER.to_string());
    }
    // The resourceVersion makes this a compare-and-swap of the whole list.
    let patch =
        json!({ "metadata": { "finalizers": list, "resourceVersion": canary.resource_version() } });
    api.patch(
        &canary.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(Error::Kube)?;
    Ok(())
}

async fn event(ctx: &Ctx, canary: &Canary, reason: &str, note: String) {
    let notice = Notice {
        warning: false,
        reason,
        action: reason,
        note,
    };
    let _ = ctx.notices.publish(&canary.object_ref(&()), notice).await;
}

/// Whether the deletion has waited longer than `progressDeadlineSeconds` for the target;
/// past that the revert goes ahead rather than hold the Canary forever.
fn deadline_passed(canary: &Canary, now: DateTime<Utc>) -> bool {
    let deadline = i64::from(
        canary
            .spec
            .progress_deadline_seconds
            .unwrap_or(crate::api::DEFAULT_PROGRESS_DEADLINE_SECONDS),
    );
    canary
        .meta()
        .deletion_timestamp
        .as_ref()
        .is_some_and(|t| now.timestamp() - t.0.as_second() > deadline)
}

/// Puts things back as they were before the Canary: the target runs the primary's
/// replicas, a taken-over Service or routing object gets its saved spec back, and an apex
/// Service serin created keeps serving, now selecting the target.
/// Returns Ok(false) while it must wait for the target to serve again.
async fn revert(
    canary: &Canary,
    ctx: &Ctx,
    snap: &Snapshot,
    router: Option<&dyn Router>,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let ns = canary.namespace().unwrap_or_default();
    let names = Names::of(canary);
    let who = format!("{}.{}", canary.name_any(), ns);
    event(
        ctx,
        canary,
        reasons::TERMINATING,
        format!("Terminating canary {who}"),
    )
    .await;

    let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
    let target = snap.target.as_deref();
    // Without a primary there is nothing to take the replica count from: a revert that
    // runs again after garbage collection took the primary must leave the target alone.
    if let (Some(target), Some(primary)) = (target, snap.primary.as_deref()) {
        let replicas = observe::replicas(primary).max(1);
        if observe::replicas(target) != replicas {
            scale(&deployments, &names.target, replicas).await?;
            return Ok(false);
        }
        if observe::rollout(target) != Rollout::Complete && !deadline_passed(canary, now) {
            return Ok(false);
        }
    }

    let uid = canary.meta().uid.clone().unwrap_or_default();
    if let Some(apex) = snap.service(&names.apex) {
        restore_apex(ctx, &ns, &names.apex, apex, target, &uid).await?;
    }
    for r in router
        .map(|r| r.restore(canary, &snap.routing))
        .unwrap_or_default()
    {
        let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &ns, &r.resource);
        api.patch(&r.name, &PatchParams::default(), &Patch::Merge(&r.patch))
            .await
            .map_err(Error::Kube)?;
    }
    super::autoscaling::revert(canary, ctx, snap).await?;
    event(
        ctx,
        canary,
        reasons::TERMINATED,
        format!("Terminated canary {who}"),
    )
    .await;
    Ok(true)
}

/// Gives the apex Service its saved spec back, or points one serin created at the target.
async fn restore_apex(
    ctx: &Ctx,
    ns: &str,
    name: &str,
    apex: &Service,
    target: Option<&Deployment>,
    uid: &str,
) -> Result<(), Error> {
    let spec = match (saved_spec(apex.annotations()), target) {
        (Some(spec), _) => spec,
        (None, Some(t)) => json!({ "selector": selector_labels(t) }),
        (None, None) => return Ok(()),
    };
    let mut spec = spec;
    // A merge patch merges maps: selector keys serin added and the saved spec lacks must
    // be removed explicitly, or the Service selects nothing.
    if let (Some(current), Some(saved)) = (
        apex.spec.as_ref().and_then(|s| s.selector.as_ref()),
        spec.get_mut("selector").and_then(Value::as_object_mut),
    ) {
        for key in current.keys() {
            saved.entry(key.clone()).or_insert(Value::Null);
        }
    }
    let patch = release(apex.owner_references(), uid, spec);
    let services: Api<Service> = Api::namespaced(ctx.client.clone(), ns);
    services
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(Error::Kube)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deletion_deadline_uses_the_clock_it_is_given() {
        let mut c = Canary::new("a", Default::default());
        c.spec.progress_deadline_seconds = Some(60);
        let deleted = Utc::now();
        c.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            jiff::Timestamp::from_second(deleted.timestamp()).unwrap(),
        ));
        assert!(!deadline_passed(
            &c,
            deleted + chrono::Duration::seconds(60)
        ));
        assert!(deadline_passed(&c, deleted + chrono::Duration::seconds(61)));
    }
}

//! Deletion: with `revertOnDeletion`, a finalizer holds the Canary until the target's
//! replicas and any Service or VirtualService serin took over are restored. Without it,
//! garbage collection removes every owned object and nothing is left behind.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

use super::converge::scale;
use super::{Ctx, Error, observe};
use crate::api::Canary;
use crate::build::{APPLIED, GITOPS_ANNOTATIONS, Names, ORIGINAL, selector_labels};
use crate::decide::Rollout;

/// Finalizer serin puts on Canaries with `revertOnDeletion`.
pub const FINALIZER: &str = "finalizer.serin.dev";

/// Adds or removes the finalizer as the spec asks, and reverts a deleted Canary.
/// Returns Some(action) when the reconcile ends here.
pub async fn handle(canary: &Canary, ctx: &Ctx) -> Result<Option<Action>, Error> {
    let has = canary.finalizers().iter().any(|f| f == FINALIZER);
    let deleting = canary.meta().deletion_timestamp.is_some();
    let api: Api<Canary> =
        Api::namespaced(ctx.client.clone(), &canary.namespace().unwrap_or_default());
    match (deleting, has, canary.spec.revert_on_deletion) {
        (true, true, _) => {
            if revert(canary, ctx).await? {
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
    let ev = Event {
        type_: EventType::Normal,
        reason: reason.into(),
        note: Some(note),
        action: reason.into(),
        secondary: None,
    };
    let _ = ctx.recorder.publish(&ev, &canary.object_ref(&())).await;
}

/// Puts things back as they were before the Canary: the target runs the primary's
/// replicas, a taken-over Service or VirtualService gets its saved spec back, and an apex
/// Service serin created keeps serving, now selecting the target.
/// Whether the deletion has waited longer than `progressDeadlineSeconds` for the target;
/// past that the revert goes ahead rather than hold the Canary forever.
fn deadline_passed(canary: &Canary) -> bool {
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
        .is_some_and(|t| chrono::Utc::now().timestamp() - t.0.as_second() > deadline)
}

/// Returns Ok(false) while it must wait for the target to serve again.
async fn revert(canary: &Canary, ctx: &Ctx) -> Result<bool, Error> {
    let ns = canary.namespace().unwrap_or_default();
    let names = Names::of(canary);
    let who = format!("{}.{}", canary.name_any(), ns);
    event(
        ctx,
        canary,
        "Terminating",
        format!("Terminating canary {who}"),
    )
    .await;

    let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
    let target = ctx
        .deployments
        .get(&ObjectRef::new(&names.target).within(&ns));
    let primary = ctx
        .deployments
        .get(&ObjectRef::new(&names.primary).within(&ns));
    // Without a primary there is nothing to take the replica count from: a revert that
    // runs again after garbage collection took the primary must leave the target alone.
    if let (Some(target), Some(primary)) = (target.as_deref(), primary.as_deref()) {
        let replicas = observe::replicas(primary).max(1);
        if observe::replicas(target) != replicas {
            scale(&deployments, &names.target, replicas).await?;
            return Ok(false);
        }
        if observe::rollout(target) != Rollout::Complete && !deadline_passed(canary) {
            return Ok(false);
        }
    }

    let uid = canary.meta().uid.clone().unwrap_or_default();
    let services: Api<Service> = Api::namespaced(ctx.client.clone(), &ns);
    if let Some(apex) = ctx.services.get(&ObjectRef::new(&names.apex).within(&ns)) {
        let saved = saved_spec(apex.annotations());
        let spec = match (saved, target.as_deref()) {
            (Some(spec), _) => spec,
            (None, Some(t)) => json!({ "selector": selector_labels(t) }),
            (None, None) => Value::Null,
        };
        if !spec.is_null() {
            let mut spec = spec;
            // A merge patch merges maps: selector keys serin added and the saved spec
            // lacks must be removed explicitly, or the Service selects nothing.
            if let (Some(current), Some(saved)) = (
                apex.spec.as_ref().and_then(|s| s.selector.as_ref()),
                spec.get_mut("selector").and_then(Value::as_object_mut),
            ) {
                for key in current.keys() {
                    saved.entry(key.clone()).or_insert(Value::Null);
                }
            }
            let patch = release(apex.owner_references(), &uid, spec);
            services
                .patch(&names.apex, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(Error::Kube)?;
        }
    }
    let vs_api: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &ns, &ctx.virtual_service);
    let cached_vs = ctx
        .virtual_services
        .get(&ObjectRef::new_with(&names.apex, ctx.virtual_service.clone()).within(&ns));
    if let Some(vs) = cached_vs
        && let Some(spec) = saved_spec(vs.annotations())
    {
        // A merge patch replaces lists whole, so the saved routes replace serin's.
        let patch = release(vs.owner_references(), &uid, spec);
        vs_api
            .patch(&names.apex, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(Error::Kube)?;
    }
    event(
        ctx,
        canary,
        "Terminated",
        format!("Terminated canary {who}"),
    )
    .await;
    Ok(true)
}

fn saved_spec(annotations: &std::collections::BTreeMap<String, String>) -> Option<Value> {
    annotations
        .get(ORIGINAL)
        .and_then(|s| serde_json::from_str(s).ok())
}

/// A merge patch that drops serin's owner reference and annotations (so garbage
/// collection keeps the object) and sets `spec` when given.
fn release(
    owners: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference],
    uid: &str,
    spec: Value,
) -> Value {
    let kept: Vec<_> = owners.iter().filter(|o| o.uid != uid).collect();
    let mut annotations = serde_json::Map::new();
    for key in [ORIGINAL, APPLIED]
        .into_iter()
        .chain(GITOPS_ANNOTATIONS.iter().map(|(k, _)| *k))
    {
        annotations.insert(key.to_string(), Value::Null);
    }
    let mut patch = json!({
        "metadata": {
            "ownerReferences": kept,
            "annotations": annotations
        }
    });
    if !spec.is_null() {
        patch["spec"] = spec;
    }
    patch
}

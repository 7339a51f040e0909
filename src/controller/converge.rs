//! Converge: makes the managed objects match the recorded status.
//!
//! Desired objects come from [`crate::build`]; an object is applied (server-side apply,
//! one field manager, forced) only when its [`crate::build::APPLIED`] hash differs from
//! the cached one, so a reconcile with nothing to do writes nothing. Because the status
//! is recorded before this runs, a crash here is repaired by the next reconcile.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

use super::{Ctx, Error, observe};
use crate::api::{Canary, CanaryStatus, Phase};
use crate::build::{self, FIELD_MANAGER, Names, ORIGINAL};

/// Applies `desired` unless the cached object already carries its hash.
async fn apply<K>(
    ctx: &Ctx,
    api: &Api<K>,
    desired: &Value,
    cached: Option<&kube::api::ObjectMeta>,
) -> Result<bool, Error>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let hash = build::desired_hash(desired).unwrap_or_default();
    if cached.is_some() && cached.and_then(build::applied_hash) == Some(hash) {
        return Ok(false);
    }
    let name = desired["metadata"]["name"].as_str().unwrap_or_default();
    let key = format!(
        "{}/{}/{name}",
        desired["kind"].as_str().unwrap_or_default(),
        desired["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
    );
    let rv = cached.and_then(|m| m.resource_version.as_deref());
    if !ctx.pending.needed(&key, hash, rv) {
        return Ok(false);
    }
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(name, &params, &Patch::Apply(desired))
        .await
        .map_err(Error::Kube)?;
    ctx.pending.wrote(&key, hash, rv);
    Ok(true)
}

/// The saved spec of an object serin took over: kept if already saved, taken from the
/// object when it exists and is not serin's, none otherwise.
fn original(
    meta: Option<&kube::api::ObjectMeta>,
    spec: Option<Value>,
    canary: &Canary,
) -> Option<String> {
    let meta = meta?;
    if let Some(saved) = meta.annotations.as_ref().and_then(|a| a.get(ORIGINAL)) {
        return Some(saved.clone());
    }
    let uid = canary.meta().uid.as_deref();
    let ours = meta
        .owner_references
        .iter()
        .flatten()
        .any(|o| Some(o.uid.as_str()) == uid);
    if ours {
        return None;
    }
    spec.map(|s| s.to_string())
}

/// The canary weight actually routed: the recorded one, except that a workload with no
/// available replica never gets traffic.
pub fn routed_weight(
    status: &CanaryStatus,
    target: &Deployment,
    primary: Option<&Deployment>,
) -> i32 {
    let canary_up = observe::serving(target);
    let primary_up = primary.is_some_and(observe::serving);
    match (canary_up, primary_up) {
        (false, _) => 0,
        (true, false) => 100,
        (true, true) => status.canary_weight,
    }
}

/// The replicas the target (the canary) should run, or None to leave it alone.
pub fn canary_replicas(
    status: &CanaryStatus,
    target: &Deployment,
    primary: Option<&Deployment>,
) -> Option<i32> {
    let current = observe::replicas(target);
    match status.phase() {
        Phase::Progressing | Phase::WaitingPromotion | Phase::Promoting if current == 0 => Some(
            primary
                .map(observe::replicas)
                .filter(|r| *r > 0)
                .unwrap_or(1),
        ),
        // Never scale down a canary that still gets traffic (a failed promotion keeps it).
        Phase::Initialized | Phase::Finalising | Phase::Succeeded | Phase::Failed
            if current != 0 && status.canary_weight == 0 =>
        {
            Some(0)
        }
        _ => None,
    }
}

/// Whether the target's template goes to the primary now: to create it during
/// initialisation (again when the target changes before it is ready), to promote, or to
/// recreate a deleted primary from the target only when the target holds the promoted
/// template (never an unanalysed revision).
pub fn copy_to_primary(
    status: &CanaryStatus,
    target_rev: &str,
    primary: Option<&Deployment>,
) -> bool {
    let applied = status.last_applied_spec.as_deref();
    let promoted = status.last_promoted_spec.as_deref();
    match (
        status.phase(),
        primary.map(|p| observe::primary(p).revision),
    ) {
        (Phase::Initializing, None) => true,
        (Phase::Initializing, Some(rev)) => rev != target_rev,
        (Phase::Promoting, Some(rev)) => {
            Some(rev.as_str()) != applied && Some(target_rev) == applied
        }
        (_, None) => Some(target_rev) == promoted,
        _ => false,
    }
}

/// Whether the apex Service selects the primary: not before the primary is initialised,
/// and not after a failed promotion that left all traffic on the canary.
pub fn apex_on_primary(status: &CanaryStatus) -> bool {
    match status.phase() {
        Phase::Initializing => false,
        Phase::Failed => status.canary_weight < 100,
        _ => true,
    }
}

pub async fn converge(
    canary: &Canary,
    ctx: &Ctx,
    status: &CanaryStatus,
    target: &Deployment,
) -> Result<(), Error> {
    let ns = canary.namespace().unwrap_or_default();
    let names = Names::of(canary);
    let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
    let primary = ctx
        .deployments
        .get(&ObjectRef::new(&names.primary).within(&ns));
    let target_rev = observe::target_revision(target);

    let copy = copy_to_primary(status, &target_rev, primary.as_deref());
    if copy {
        let replicas = Some(observe::replicas(target))
            .filter(|r| *r > 0)
            .or(primary.as_deref().map(observe::replicas))
            .unwrap_or(1);
        let desired = build::primary(canary, target, &target_rev, replicas);
        apply(
            ctx,
            &deployments,
            &desired,
            primary.as_deref().map(|p| &p.metadata),
        )
        .await?;
    }

    let services: Api<Service> = Api::namespaced(ctx.client.clone(), &ns);
    let cached_svc = |name: &str| ctx.services.get(&ObjectRef::new(name).within(&ns));
    let apex = cached_svc(&names.apex);
    let apex_original = original(
        apex.as_deref().map(|s| &s.metadata),
        apex.as_deref()
            .and_then(|s| serde_json::to_value(&s.spec).ok()),
        canary,
    );
    for svc in build::services(
        canary,
        target,
        apex_original.as_deref(),
        apex_on_primary(status),
    ) {
        let name = svc["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        apply(
            ctx,
            &services,
            &svc,
            cached_svc(&name).as_deref().map(|s| &s.metadata),
        )
        .await?;
    }

    let dr_api: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &ns, &ctx.destination_rule);
    for dr in build::destination_rules(canary) {
        let name = dr["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let cached = ctx
            .destination_rules
            .get(&ObjectRef::new_with(&name, ctx.destination_rule.clone()).within(&ns));
        apply(ctx, &dr_api, &dr, cached.as_deref().map(|o| &o.metadata)).await?;
    }

    let vs_api: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &ns, &ctx.virtual_service);
    let cached_vs = ctx
        .virtual_services
        .get(&ObjectRef::new_with(&names.apex, ctx.virtual_service.clone()).within(&ns));
    let vs_original = original(
        cached_vs.as_deref().map(|o| &o.metadata),
        cached_vs
            .as_deref()
            .and_then(|o| o.data.get("spec").cloned()),
        canary,
    );
    let weight = routed_weight(status, target, primary.as_deref());
    let vs = build::virtual_service(canary, weight, vs_original.as_deref());
    apply(ctx, &vs_api, &vs, cached_vs.as_deref().map(|o| &o.metadata)).await?;

    if let Some(replicas) = canary_replicas(status, target, primary.as_deref()) {
        let key = format!("scale/{ns}/{}", names.target);
        let rv = target.metadata.resource_version.as_deref();
        if ctx.pending.needed(&key, &replicas.to_string(), rv) {
            scale(&deployments, &names.target, replicas).await?;
            ctx.pending.wrote(&key, &replicas.to_string(), rv);
        }
    }
    Ok(())
}

/// Sets a Deployment's replicas through its scale subresource, as `kubectl scale` does.
pub async fn scale(api: &Api<Deployment>, name: &str, replicas: i32) -> Result<(), Error> {
    let patch = json!({ "spec": { "replicas": replicas } });
    api.patch_scale(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(Error::Kube)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::CanaryStatus;
    use serde_json::json;

    fn status(phase: Phase, weight: i32) -> CanaryStatus {
        CanaryStatus {
            phase: Some(phase),
            canary_weight: weight,
            last_applied_spec: Some("v2".into()),
            last_promoted_spec: Some("v1".into()),
            ..Default::default()
        }
    }

    fn primary_on(rev: &str) -> Deployment {
        serde_json::from_value(json!({"metadata": {"annotations": {crate::build::REVISION: rev}}}))
            .unwrap()
    }

    #[test]
    fn the_primary_is_copied_only_when_it_must_be() {
        // Initialisation creates it, and follows the target until it is ready.
        assert!(copy_to_primary(&status(Phase::Initializing, 0), "v1", None));
        assert!(copy_to_primary(
            &status(Phase::Initializing, 0),
            "v2",
            Some(&primary_on("v1"))
        ));
        assert!(!copy_to_primary(
            &status(Phase::Initializing, 0),
            "v1",
            Some(&primary_on("v1"))
        ));
        // Promotion copies the analysed revision, and only that one.
        assert!(copy_to_primary(
            &status(Phase::Promoting, 50),
            "v2",
            Some(&primary_on("v1"))
        ));
        assert!(!copy_to_primary(
            &status(Phase::Promoting, 50),
            "v3",
            Some(&primary_on("v1"))
        ));
        // A deleted primary comes back only from the promoted template.
        assert!(!copy_to_primary(&status(Phase::Failed, 0), "v2", None));
        assert!(copy_to_primary(&status(Phase::Failed, 0), "v1", None));
        assert!(!copy_to_primary(
            &status(Phase::Progressing, 10),
            "v2",
            Some(&primary_on("v1"))
        ));
    }

    #[test]
    fn the_apex_follows_the_serving_workload() {
        assert!(!apex_on_primary(&status(Phase::Initializing, 0)));
        assert!(apex_on_primary(&status(Phase::Progressing, 30)));
        assert!(apex_on_primary(&status(Phase::Failed, 0)));
        assert!(
            !apex_on_primary(&status(Phase::Failed, 100)),
            "a failed promotion keeps the canary"
        );
    }
}

//! The KEDA stand-in's IO for one ScaledObject: read its target, ask the
//! pure decision ([`keda_plan`]), apply or delete the managed HPA, write the
//! target's scale and the ScaledObject's status (only when it changed).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef, Store};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::act::{KedaMemo, Passes, params, ratio, replaced};
use super::keda::{self, ScaledObjectSpec};
use super::keda_plan::{self, KedaPlan};
use super::load::RPS_PER_REPLICA_ANNOTATION;
use super::{UTILIZATION_ANNOTATION, scaled_object_resource};

const KEDA_MANAGER: &str = "serin-sandbox-keda";
/// KEDA's message for a target it cannot scale.
const TARGET_ERROR: &str = "ScaledObject doesn't have correct scaleTargetRef specification";

impl Passes {
    /// One pass over every ScaledObject.
    pub async fn keda(
        &mut self,
        objects: &[Arc<DynamicObject>],
        deployments: &Store<Deployment>,
        hpas: &Store<HorizontalPodAutoscaler>,
    ) {
        let live: HashSet<String> = objects.iter().filter_map(|o| o.uid()).collect();
        self.keda.retain(|uid, _| live.contains(uid));
        let now = Instant::now();
        for object in objects {
            self.scaled_object(object, deployments, hpas, now).await;
        }
    }

    async fn scaled_object(
        &mut self,
        object: &DynamicObject,
        deployments: &Store<Deployment>,
        hpas: &Store<HorizontalPodAutoscaler>,
        now: Instant,
    ) {
        let (Some(ns), Some(uid)) = (object.namespace(), object.uid()) else {
            return;
        };
        let name = object.name_any();
        let previous = object.data.get("status").cloned().unwrap_or(Value::Null);
        let memo = self.keda.entry(uid.clone()).or_insert(KedaMemo {
            last_active: now,
            written: None,
            status_from: None,
        });
        let version = object.metadata.resource_version.as_ref();
        if memo.status_from.is_some() && memo.status_from.as_ref() == version {
            return;
        }
        let spec = object.data.get("spec").cloned().unwrap_or(Value::Null);
        let checked = serde_json::from_value::<ScaledObjectSpec>(spec)
            .map_err(|e| format!("ScaledObject spec: {e}"))
            .and_then(|s| s.invalid().map_or(Ok(s), Err))
            .and_then(|s| keda::pause(object.annotations()).map(|p| (s, p)));
        let target = checked.as_ref().ok().and_then(|(spec, _)| {
            let kind = spec
                .scale_target_ref
                .kind
                .as_deref()
                .unwrap_or("Deployment");
            let key = ObjectRef::new(&spec.scale_target_ref.name).within(&ns);
            (kind == "Deployment")
                .then(|| deployments.get(&key))
                .flatten()
        });
        let (spec, pause, target) = match (checked, target) {
            (Ok((spec, pause)), Some(target)) => (spec, pause, target),
            (Ok(_), None) => {
                let status =
                    keda_plan::status(&previous, &idle_plan(), Some(TARGET_ERROR), "", None);
                return self.write_so_status(object, &uid, &previous, status).await;
            }
            (Err(error), _) => {
                let status = keda_plan::status(&previous, &idle_plan(), Some(&error), "", None);
                return self.write_so_status(object, &uid, &previous, status).await;
            }
        };
        let knobs: BTreeMap<String, String> = object
            .annotations()
            .iter()
            .filter(|(k, _)| {
                [UTILIZATION_ANNOTATION, RPS_PER_REPLICA_ANNOTATION].contains(&k.as_str())
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let ratio = ratio(object.annotations()).or_else(|| ratio(target.annotations()));
        let active = ratio.is_none_or(|r| r > 0.0);
        if active {
            memo.last_active = now;
        }
        let idle_for = now.duration_since(memo.last_active);
        let replicas = target.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let plan = keda_plan::decide(&spec, pause, Some(replicas), active, idle_for);
        let hpa_name = keda::hpa_name(&name, &spec);
        let observed = hpas.get(&ObjectRef::new(&hpa_name).within(&ns));
        if plan.keep_hpa {
            let owner = json!({
                "apiVersion": format!("{}/{}", super::crd::GROUP, super::crd::VERSION),
                "kind": "ScaledObject", "name": name, "uid": uid,
                "controller": true, "blockOwnerDeletion": true
            });
            let desired = keda::hpa(&name, &spec, owner, &knobs);
            self.apply_hpa(&ns, &hpa_name, observed.as_deref(), &desired)
                .await;
        } else if observed.is_some_and(|h| h.owner_references().iter().any(|o| o.uid == uid)) {
            let api: Api<HorizontalPodAutoscaler> = Api::namespaced(self.client.clone(), &ns);
            if let Err(error) = api.delete(&hpa_name, &DeleteParams::default()).await {
                tracing::warn!(%error, namespace = %ns, name = %hpa_name, "deleting a paused ScaledObject's HPA failed");
            }
        }
        if let Some(n) = plan.scale_to {
            let target_name = &spec.scale_target_ref.name;
            if let Err(error) = self.scale(&ns, target_name, n, KEDA_MANAGER).await {
                tracing::warn!(%error, namespace = %ns, name = %target_name, "KEDA scale write failed");
            }
        }
        let status = keda_plan::status(&previous, &plan, None, &hpa_name, Some(replicas));
        self.write_so_status(object, &uid, &previous, status).await;
    }

    async fn apply_hpa(
        &self,
        ns: &str,
        name: &str,
        observed: Option<&HorizontalPodAutoscaler>,
        desired: &Value,
    ) {
        let observed = observed.and_then(|h| serde_json::to_value(h).ok());
        if observed.is_some_and(|o| keda::contains(&o, &keda::comparable(desired))) {
            return;
        }
        let api: Api<HorizontalPodAutoscaler> = Api::namespaced(self.client.clone(), ns);
        let params = PatchParams::apply(KEDA_MANAGER).force();
        if let Err(error) = api.patch(name, &params, &Patch::Apply(desired)).await {
            tracing::warn!(%error, namespace = %ns, %name, "applying a ScaledObject's HPA failed");
        }
    }

    async fn write_so_status(
        &mut self,
        object: &DynamicObject,
        uid: &str,
        previous: &Value,
        status: Value,
    ) {
        let (Some(ns), name) = (object.namespace(), object.name_any()) else {
            return;
        };
        let (ns, name) = (ns.as_str(), name.as_str());
        let memo = self.keda.get(uid).and_then(|m| m.written.as_ref());
        if *previous == status || memo == Some(&status) {
            return;
        }
        let resource = scaled_object_resource();
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), ns, &resource);
        let mut body = status.clone();
        if body.get("pausedReplicaCount").is_none() {
            body["pausedReplicaCount"] = Value::Null;
        }
        let patch = json!({"status": body});
        match api
            .patch_status(name, &params(KEDA_MANAGER), &Patch::Merge(&patch))
            .await
        {
            Ok(written) => {
                if let Some(memo) = self.keda.get_mut(uid) {
                    let before = object.metadata.resource_version.as_ref();
                    memo.status_from = replaced(before, written.metadata.resource_version);
                    memo.written = Some(status);
                }
            }
            Err(error) => {
                tracing::warn!(%error, namespace = %ns, %name, "ScaledObject status write failed")
            }
        }
    }
}

/// The plan of a pass that could not evaluate the ScaledObject.
fn idle_plan() -> KedaPlan {
    KedaPlan {
        keep_hpa: true,
        scale_to: None,
        paused_replicas: None,
        active: None,
    }
}

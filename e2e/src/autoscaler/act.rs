//! The IO of each pass: read the stores, ask the pure decisions, write the
//! target's scale, the managed HPA and the statuses. A status is written
//! only when it differs from the observed one and from the last one written
//! (the store may not have caught up yet).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::{HorizontalPodAutoscaler, HorizontalPodAutoscalerStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::keda::{self, ScaledObjectSpec};
use super::keda_plan::{self, KedaPlan};
use super::load::{self, LoadMeter, RPS_PER_REPLICA_ANNOTATION};
use super::{AutoscalerConfig, UTILIZATION_ANNOTATION, hpa, hpa_status, scaled_object_resource};

const HPA_MANAGER: &str = "serin-sandbox-hpa-controller";
const KEDA_MANAGER: &str = "serin-sandbox-keda";
/// KEDA's message for a target it cannot scale.
const TARGET_ERROR: &str = "ScaledObject doesn't have correct scaleTargetRef specification";

/// State kept between passes, per object uid.
pub struct Passes {
    client: Client,
    cfg: AutoscalerConfig,
    recommendations: HashMap<String, hpa::Recommendations>,
    hpa_written: HashMap<String, HorizontalPodAutoscalerStatus>,
    /// Per HPA, the target's resourceVersion just before the last scale
    /// write: while the store still shows it, the pass would decide from
    /// stale replicas and scale (and stamp `lastScaleTime`) twice.
    scaled_from: HashMap<String, String>,
    keda: HashMap<String, KedaMemo>,
    load: LoadMeter,
    http: reqwest::Client,
}

struct KedaMemo {
    last_active: Instant,
    written: Option<Value>,
}

/// The simulated utilisation over target, from the knob's percent.
pub fn ratio(annotations: &BTreeMap<String, String>) -> Option<f64> {
    let percent: f64 = annotations
        .get(UTILIZATION_ANNOTATION)?
        .trim()
        .parse()
        .ok()?;
    (percent.is_finite() && percent >= 0.0).then_some(percent / 100.0)
}

/// Now, to the second: the API server keeps times to the second, so a
/// finer time would make every written status look changed when read back.
fn stamp() -> Time {
    let now = Timestamp::now();
    Time(Timestamp::from_second(now.as_second()).unwrap_or(now))
}

fn params(manager: &str) -> PatchParams {
    PatchParams {
        field_manager: Some(manager.into()),
        ..PatchParams::default()
    }
}

impl Passes {
    pub fn new(client: Client, cfg: AutoscalerConfig) -> Self {
        Self {
            client,
            cfg,
            recommendations: HashMap::new(),
            hpa_written: HashMap::new(),
            scaled_from: HashMap::new(),
            keda: HashMap::new(),
            load: LoadMeter::default(),
            http: reqwest::Client::new(),
        }
    }

    /// Reads the mesh's request counters, when a mesh is configured.
    pub async fn measure_load(&mut self) {
        let Some(url) = &self.cfg.mesh_metrics_url else {
            return;
        };
        let text = match self.http.get(url).send().await {
            Ok(response) => response.text().await,
            Err(error) => Err(error),
        };
        match text {
            Ok(text) => self
                .load
                .update(load::parse_requests(&text), Instant::now()),
            Err(error) => tracing::debug!(%error, %url, "reading the mesh's metrics failed"),
        }
    }

    /// The utilisation knob of the first source that has one, else the
    /// load-derived one of the first source naming a rate per replica.
    fn utilisation(
        &self,
        ns: &str,
        sources: &[&BTreeMap<String, String>],
        workload: &str,
        replicas: i32,
    ) -> Option<f64> {
        if let Some(r) = sources.iter().find_map(|a| ratio(a)) {
            return Some(r);
        }
        let per_replica = sources.iter().find_map(|a| {
            let text = a.get(RPS_PER_REPLICA_ANNOTATION)?;
            text.trim().parse::<f64>().ok()
        })?;
        self.load.ratio(ns, workload, replicas, per_replica)
    }

    /// One pass over every HPA.
    pub async fn hpas(
        &mut self,
        hpas: &[Arc<HorizontalPodAutoscaler>],
        deployments: &Store<Deployment>,
    ) {
        if !self.cfg.hpa_controller {
            return;
        }
        let live: HashSet<String> = hpas.iter().filter_map(|h| h.uid()).collect();
        self.recommendations.retain(|uid, _| live.contains(uid));
        self.hpa_written.retain(|uid, _| live.contains(uid));
        self.scaled_from.retain(|uid, _| live.contains(uid));
        let now = Instant::now();
        for hpa in hpas {
            self.hpa(hpa, deployments, now).await;
        }
    }

    async fn hpa(
        &mut self,
        object: &HorizontalPodAutoscaler,
        deployments: &Store<Deployment>,
        now: Instant,
    ) {
        let (Some(ns), Some(uid), Some(spec)) =
            (object.namespace(), object.uid(), object.spec.as_ref())
        else {
            return;
        };
        let previous = object.status.as_ref();
        let at = stamp();
        let target = &spec.scale_target_ref;
        let group = target.api_version.as_deref().unwrap_or_default();
        let group = group.split_once('/').map_or("", |(g, _)| g);
        let found = (target.kind == "Deployment" && group == "apps")
            .then(|| deployments.get(&ObjectRef::new(&target.name).within(&ns)))
            .flatten();
        let status = match found {
            None if target.kind != "Deployment" || group != "apps" => {
                let error = format!(
                    "the sandbox scales only apps Deployments, not {group}/{}",
                    target.kind
                );
                hpa_status::failed_get_scale(previous, &error, &at)
            }
            None => {
                let error = format!("deployments.apps \"{}\" not found", target.name);
                hpa_status::failed_get_scale(previous, &error, &at)
            }
            Some(deployment)
                if self.scaled_from.get(&uid) == deployment.metadata.resource_version.as_ref() =>
            {
                return;
            }
            Some(deployment) => {
                let current = deployment
                    .spec
                    .as_ref()
                    .and_then(|s| s.replicas)
                    .unwrap_or(1);
                let sources = [object.annotations(), deployment.annotations()];
                let ratio = self
                    .utilisation(&ns, &sources, &target.name, current)
                    .unwrap_or(1.0);
                let windows = hpa::windows(spec, self.cfg.downscale_stabilization);
                let recommendations = self.recommendations.entry(uid.clone()).or_default();
                let plan = hpa::decide(spec, current, ratio, windows, recommendations, now);
                let rescale = match plan.scale_to {
                    Some(n) => Some(self.scale(&ns, &target.name, n, HPA_MANAGER).await),
                    None => None,
                };
                if let (Some(Ok(())), Some(rv)) = (&rescale, &deployment.metadata.resource_version)
                {
                    self.scaled_from.insert(uid.clone(), rv.clone());
                }
                hpa_status::build(spec, previous, &plan, &rescale, ratio, &at)
            }
        };
        if previous == Some(&status) || self.hpa_written.get(&uid) == Some(&status) {
            return;
        }
        let mut body = serde_json::to_value(&status).unwrap_or(Value::Null);
        // A merge patch keeps what it does not name: clear what went away.
        for key in ["currentMetrics", "lastScaleTime"] {
            if body.get(key).is_none() {
                body[key] = Value::Null;
            }
        }
        let api: Api<HorizontalPodAutoscaler> = Api::namespaced(self.client.clone(), &ns);
        let patch = json!({"status": body});
        let name = object.name_any();
        match api
            .patch_status(&name, &params(HPA_MANAGER), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {
                self.hpa_written.insert(uid, status);
            }
            Err(error) => tracing::warn!(%error, namespace = %ns, %name, "HPA status write failed"),
        }
    }

    /// Writes a Deployment's replicas through its scale subresource.
    async fn scale(
        &self,
        ns: &str,
        name: &str,
        replicas: i32,
        manager: &str,
    ) -> Result<(), String> {
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), ns);
        let patch = json!({"spec": {"replicas": replicas}});
        match api
            .patch_scale(name, &params(manager), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) => Err(status.message.clone()),
            Err(error) => Err(error.to_string()),
        }
    }

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
        });
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
                return self
                    .write_so_status(&ns, &name, &uid, &previous, status)
                    .await;
            }
            (Err(error), _) => {
                let status = keda_plan::status(&previous, &idle_plan(), Some(&error), "", None);
                return self
                    .write_so_status(&ns, &name, &uid, &previous, status)
                    .await;
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
        self.write_so_status(&ns, &name, &uid, &previous, status)
            .await;
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
        ns: &str,
        name: &str,
        uid: &str,
        previous: &Value,
        status: Value,
    ) {
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
            Ok(_) => {
                if let Some(memo) = self.keda.get_mut(uid) {
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

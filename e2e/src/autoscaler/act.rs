//! The IO of each pass, HPAs here and ScaledObjects in [`super::keda_act`]:
//! read the stores, ask the pure decisions, write the target's scale, the
//! managed HPA and the statuses. A status is written
//! only when it differs from the observed one and from the last one written.
//!
//! The stores lag the writes. An object whose store copy is still the one a
//! write of ours replaced is left alone until the watch catches up
//! ([`Replaced`]): a pass on it would decide from stale replicas (and scale
//! twice) or rebuild its status from one without the last write (and drop
//! `lastScaleTime`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::{HorizontalPodAutoscaler, HorizontalPodAutoscalerStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::load::{self, LoadMeter, RPS_PER_REPLICA_ANNOTATION};
use super::{AutoscalerConfig, UTILIZATION_ANNOTATION, hpa, hpa_status};

const HPA_MANAGER: &str = "serin-sandbox-hpa-controller";

/// State kept between passes, per object uid.
pub struct Passes {
    pub(super) client: Client,
    cfg: AutoscalerConfig,
    recommendations: HashMap<String, hpa::Recommendations>,
    hpa_written: HashMap<String, HorizontalPodAutoscalerStatus>,
    /// Per HPA, the target's version the last scale write replaced.
    scaled_from: HashMap<String, String>,
    /// Per HPA, its own version the last status write replaced.
    hpa_status_from: HashMap<String, String>,
    pub(super) keda: HashMap<String, KedaMemo>,
    load: LoadMeter,
    http: reqwest::Client,
}

pub(super) struct KedaMemo {
    pub(super) last_active: Instant,
    pub(super) written: Option<Value>,
    /// The ScaledObject's version the last status write replaced.
    pub(super) status_from: Option<String>,
}

/// The version a successful write replaced, when it changed the object: a
/// write that changed nothing leaves the version as it was, and waiting for
/// the store to move past it would wait forever.
pub(super) fn replaced(before: Option<&String>, after: Option<String>) -> Option<String> {
    let before = before?;
    (after.as_ref() != Some(before)).then(|| before.clone())
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

pub(super) fn params(manager: &str) -> PatchParams {
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
            hpa_status_from: HashMap::new(),
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
    pub(super) fn utilisation(
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
        self.hpa_status_from.retain(|uid, _| live.contains(uid));
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
        if self.hpa_status_from.get(&uid) == object.metadata.resource_version.as_ref() {
            return;
        }
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
                let rescale = rescale.map(|written| {
                    written.map(|after| {
                        let before = deployment.metadata.resource_version.as_ref();
                        if let Some(rv) = replaced(before, after) {
                            self.scaled_from.insert(uid.clone(), rv);
                        }
                    })
                });
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
            Ok(written) => {
                let before = object.metadata.resource_version.as_ref();
                if let Some(rv) = replaced(before, written.metadata.resource_version) {
                    self.hpa_status_from.insert(uid.clone(), rv);
                }
                self.hpa_written.insert(uid, status);
            }
            Err(error) => tracing::warn!(%error, namespace = %ns, %name, "HPA status write failed"),
        }
    }

    /// Writes a Deployment's replicas through its scale subresource; returns
    /// the Deployment's new resourceVersion.
    pub(super) async fn scale(
        &self,
        ns: &str,
        name: &str,
        replicas: i32,
        manager: &str,
    ) -> Result<Option<String>, String> {
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), ns);
        let patch = json!({"spec": {"replicas": replicas}});
        match api
            .patch_scale(name, &params(manager), &Patch::Merge(&patch))
            .await
        {
            Ok(scale) => Ok(scale.metadata.resource_version),
            Err(kube::Error::Api(status)) => Err(status.message.clone()),
            Err(error) => Err(error.to_string()),
        }
    }
}

//! Routing: where the requests an http route takes go, as Istio's proxies
//! would send them. Pure: it reads a snapshot of Services and Deployments
//! and returns [`Flow`]s with their traffic shares; which route takes a
//! request is [`matching`](super::matching)'s business.
//!
//! Supported: `route[].weight`, `mirror`/`mirrorPercentage`/`mirrors`,
//! `Set-Cookie` in the response header operations of a destination or a
//! route, destination hosts written as a short name, `name.namespace`,
//! `name.namespace.svc` or the FQDN. `subset`, `gateways`, retries, timeouts,
//! rewrites and fault injection are ignored.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::behaviour::Behaviour;
use super::matching::{CompiledVs, Request};
use super::spec::{HttpRoute, RouteDestination};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;

/// A Service, named as Istio's metrics name it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceRef {
    pub name: String,
    pub namespace: String,
}

impl ServiceRef {
    pub fn fqdn(&self) -> String {
        format!("{}.{}.svc.cluster.local", self.name, self.namespace)
    }
}

/// A Deployment that serves requests, with what its metrics labels need.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    pub name: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub service_account: String,
    pub behaviour: Behaviour,
}

/// Where a share of a host's traffic ends.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// Served by a ready workload behind the Service.
    Workload {
        service: ServiceRef,
        workload: Workload,
    },
    /// The Service exists but no pod behind it is ready: 503, flag `UH`.
    NoHealthyUpstream { service: ServiceRef },
    /// No Service answers to the destination host: 503, flag `NC`.
    NoCluster { host: String },
}

impl Target {
    /// A stable name for the target, used to key traffic accumulators.
    pub fn key(&self) -> String {
        match self {
            Target::Workload { service, workload } => {
                format!("{}/{}>{}", service.namespace, service.name, workload.name)
            }
            Target::NoHealthyUpstream { service } => {
                format!("{}/{}>", service.namespace, service.name)
            }
            Target::NoCluster { host } => format!("?{host}"),
        }
    }
}

/// A share (0..=1) of the requests one http route takes.
#[derive(Clone, Debug, PartialEq)]
pub struct Flow {
    pub share: f64,
    pub target: Target,
    /// `Set-Cookie` values the response carries back to the client.
    pub set_cookies: Vec<String>,
}

/// Where the requests of one http route go: the flows answering the user,
/// and the mirrored copies whose answers nobody reads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Routed {
    pub flows: Vec<Flow>,
    /// Shares here are fractions of the route's requests copied to each
    /// backend: they need not add up to one.
    pub mirrors: Vec<Flow>,
}

/// Services and Deployments, indexed for routing: a Service by namespace and name, the
/// Deployments by each label of their pod template, so that finding the backends of a
/// Service costs what it finds, not the number of Deployments.
#[derive(Debug, Default)]
pub struct ClusterObjects {
    services: HashMap<(String, String), Arc<Service>>,
    /// Deployments by a hash of (namespace, template label key, value); a hit is checked
    /// against the whole selector, so a collision only costs a comparison.
    by_label: HashMap<u64, Vec<Arc<Deployment>>>,
}

impl ClusterObjects {
    pub fn new(
        services: impl IntoIterator<Item = Arc<Service>>,
        deployments: impl IntoIterator<Item = Arc<Deployment>>,
    ) -> Self {
        let mut objects = ClusterObjects::default();
        for s in services {
            let key = (
                s.metadata.namespace.clone().unwrap_or_default(),
                s.metadata.name.clone().unwrap_or_default(),
            );
            objects.services.insert(key, s);
        }
        for d in deployments {
            let namespace = d.metadata.namespace.as_deref().unwrap_or_default();
            let labels = d
                .spec
                .as_ref()
                .and_then(|s| s.template.metadata.as_ref())
                .and_then(|m| m.labels.as_ref());
            for (k, v) in labels.into_iter().flatten() {
                let slot = objects.by_label.entry(label_hash(namespace, k, v));
                slot.or_default().push(d.clone());
            }
        }
        objects
    }
}

#[cfg(test)]
impl Cluster<'_> {
    /// The Services, for tests building a variant of a cluster.
    pub fn objects_services(&self) -> Vec<Arc<Service>> {
        self.objects.services.values().cloned().collect()
    }

    /// The Deployments (each once), for tests building a variant of a cluster.
    pub fn objects_deployments(&self) -> Vec<Arc<Deployment>> {
        let mut seen = std::collections::HashSet::new();
        let all = self.objects.by_label.values().flatten();
        all.filter(|d| seen.insert(Arc::as_ptr(d)))
            .cloned()
            .collect()
    }
}

fn label_hash(namespace: &str, key: &str, value: &str) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    // DefaultHasher::new has fixed keys: equal inputs, equal hashes.
    let mut h = DefaultHasher::new();
    (namespace, key, value).hash(&mut h);
    h.finish()
}

/// The cluster as routing sees it: its objects, what the Deployments' ready pods run, and
/// the version of both (see [`Cluster::epoch`]).
pub struct Cluster<'a> {
    pub objects: Arc<ClusterObjects>,
    pub serving: &'a ServingRevisions,
    /// Changes whenever anything routing reads changes (routes, Services, Deployments):
    /// flows computed under one epoch hold until the next. None: nothing may be kept.
    pub epoch: Option<u64>,
}

impl<'a> Cluster<'a> {
    pub fn new(
        services: impl IntoIterator<Item = Arc<Service>>,
        deployments: impl IntoIterator<Item = Arc<Deployment>>,
        serving: &'a ServingRevisions,
    ) -> Self {
        Cluster {
            objects: Arc::new(ClusterObjects::new(services, deployments)),
            serving,
            epoch: None,
        }
    }
}

/// Where `request`, sent to a VirtualService in `namespace`, goes. None when
/// no route takes it (Istio answers 404).
pub fn route_request(
    vs: &CompiledVs,
    namespace: &str,
    request: &Request,
    cluster: &Cluster<'_>,
) -> Option<Routed> {
    let route = vs.route_of(request)?;
    Some(route_flows(&vs.spec.http[route], namespace, cluster))
}

/// The flows and mirrors of the requests `route` takes.
pub fn route_flows(route: &HttpRoute, namespace: &str, cluster: &Cluster<'_>) -> Routed {
    let weights = destination_weights(&route.route);
    let total: f64 = weights.iter().sum();
    let flows = route
        .route
        .iter()
        .zip(weights)
        .filter(|(_, w)| *w > 0.0)
        .flat_map(|(dest, w)| {
            let cookies = route.set_cookies(dest);
            resolve(&dest.destination.host, namespace, cluster)
                .into_iter()
                .map(move |flow| Flow {
                    share: flow.share * w / total,
                    target: flow.target,
                    set_cookies: cookies.clone(),
                })
        })
        .collect();
    let mirrors = route
        .mirror_fractions()
        .into_iter()
        .flat_map(|(host, fraction)| {
            resolve(host, namespace, cluster)
                .into_iter()
                .map(move |flow| Flow {
                    share: flow.share * fraction,
                    ..flow
                })
        })
        .collect();
    Routed { flows, mirrors }
}

/// Istio sends everything to a lone destination without a weight; several
/// destinations without any weight share equally.
fn destination_weights(route: &[RouteDestination]) -> Vec<f64> {
    let weights: Vec<f64> = route
        .iter()
        .map(|d| d.weight.unwrap_or(0).max(0) as f64)
        .collect();
    if weights.iter().sum::<f64>() > 0.0 {
        weights
    } else {
        vec![1.0; route.len()]
    }
}

/// The flows for one destination host: split over the ready Deployments
/// behind its Service, in proportion to their ready replicas.
fn resolve(host: &str, namespace: &str, cluster: &Cluster<'_>) -> Vec<Flow> {
    let Some(service) = service_of(host, namespace, cluster) else {
        return vec![Flow {
            share: 1.0,
            target: Target::NoCluster {
                host: host.to_owned(),
            },
            set_cookies: Vec::new(),
        }];
    };
    let service_ref = ServiceRef {
        name: service.metadata.name.clone().unwrap_or_default(),
        namespace: service.metadata.namespace.clone().unwrap_or_default(),
    };
    let ready: Vec<(&Deployment, i32)> = backends(service, cluster)
        .into_iter()
        .filter_map(|d| {
            d.status
                .as_ref()
                .and_then(|s| s.ready_replicas)
                .filter(|r| *r > 0)
                .map(|r| (d, r))
        })
        .collect();
    let total: i32 = ready.iter().map(|(_, r)| r).sum();
    if total == 0 {
        return vec![Flow {
            share: 1.0,
            target: Target::NoHealthyUpstream {
                service: service_ref,
            },
            set_cookies: Vec::new(),
        }];
    }
    ready
        .into_iter()
        .map(|(d, r)| Flow {
            share: f64::from(r) / f64::from(total),
            target: Target::Workload {
                service: service_ref.clone(),
                workload: cluster.serving.serving(d),
            },
            set_cookies: Vec::new(),
        })
        .collect()
}

fn service_of<'c>(host: &str, namespace: &str, cluster: &'c Cluster<'_>) -> Option<&'c Service> {
    let host = host
        .strip_suffix(".svc.cluster.local")
        .or_else(|| host.strip_suffix(".svc"))
        .unwrap_or(host);
    let (name, ns) = host.split_once('.').unwrap_or((host, namespace));
    cluster
        .objects
        .services
        .get(&(ns.to_owned(), name.to_owned()))
        .map(Arc::as_ref)
}

/// Deployments whose pod template carries all of the Service's selector.
fn backends<'c>(service: &Service, cluster: &'c Cluster<'_>) -> Vec<&'c Deployment> {
    let Some(selector) = service
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .filter(|s| !s.is_empty())
    else {
        return Vec::new();
    };
    let namespace = service.metadata.namespace.as_deref().unwrap_or_default();
    // Every backend carries the selector's first label: look only at those.
    let Some((k, v)) = selector.iter().next() else {
        return Vec::new();
    };
    let candidates = cluster
        .objects
        .by_label
        .get(&label_hash(namespace, k, v))
        .map(Vec::as_slice)
        .unwrap_or_default();
    candidates
        .iter()
        .map(Arc::as_ref)
        .filter(|d| d.metadata.namespace.as_deref().unwrap_or_default() == namespace)
        .filter(|d| {
            let labels = d
                .spec
                .as_ref()
                .and_then(|s| s.template.metadata.as_ref())
                .and_then(|m| m.labels.as_ref());
            labels.is_some_and(|l| selector.iter().all(|(k, v)| l.get(k) == Some(v)))
        })
        .collect()
}

/// What each Deployment's ready pods run: the template of its last complete
/// rollout. During a rollout the ready pods are the previous revision's (the
/// kubelet stand-in, like a rolling update, keeps them until the new pods are
/// ready), so they answer as the previous template says.
#[derive(Debug, Default)]
pub struct ServingRevisions {
    workloads: HashMap<(String, String), Remembered>,
}

/// The template of a Deployment's last complete rollout, and the revision of the object
/// it was read from.
#[derive(Debug)]
struct Remembered {
    uid: String,
    resource_version: String,
    workload: Workload,
}

impl ServingRevisions {
    /// Remembers the template of every Deployment whose rollout is complete, and forgets
    /// Deployments that are gone. A Deployment whose resourceVersion is the one already
    /// read costs a lookup.
    pub fn update(&mut self, deployments: &[Arc<Deployment>]) {
        let mut present = std::collections::HashSet::with_capacity(deployments.len());
        for d in deployments {
            let key = key_of(d);
            let uid = d.metadata.uid.as_deref().unwrap_or_default();
            let rv = d.metadata.resource_version.as_deref().unwrap_or_default();
            let known = self
                .workloads
                .get(&key)
                .is_some_and(|r| !rv.is_empty() && r.resource_version == rv && r.uid == uid);
            if !known && rollout_complete(d) {
                let remembered = Remembered {
                    uid: uid.to_owned(),
                    resource_version: rv.to_owned(),
                    workload: workload_of(d),
                };
                self.workloads.insert(key.clone(), remembered);
            }
            present.insert(key);
        }
        self.workloads.retain(|key, _| present.contains(key));
    }

    /// The workload the Deployment's ready pods run.
    pub fn serving(&self, d: &Deployment) -> Workload {
        let uid = d.metadata.uid.as_deref().unwrap_or_default();
        let rv = d.metadata.resource_version.as_deref().unwrap_or_default();
        match self.workloads.get(&key_of(d)) {
            Some(r)
                if r.uid == uid
                    && (!rollout_complete(d) || (!rv.is_empty() && r.resource_version == rv)) =>
            {
                r.workload.clone()
            }
            _ => workload_of(d),
        }
    }
}

fn key_of(d: &Deployment) -> (String, String) {
    (
        d.metadata.namespace.clone().unwrap_or_default(),
        d.metadata.name.clone().unwrap_or_default(),
    )
}

/// The deployment controller's notion of a complete rollout.
fn rollout_complete(d: &Deployment) -> bool {
    let (Some(spec), Some(status)) = (d.spec.as_ref(), d.status.as_ref()) else {
        return false;
    };
    let want = spec.replicas.unwrap_or(1);
    let observed = status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0);
    let counts = [
        status.updated_replicas,
        status.replicas,
        status.available_replicas,
    ];
    observed && counts.iter().all(|n| n.unwrap_or(0) == want)
}

fn workload_of(d: &Deployment) -> Workload {
    let pod = d.spec.as_ref().map(|s| &s.template);
    Workload {
        name: d.metadata.name.clone().unwrap_or_default(),
        namespace: d.metadata.namespace.clone().unwrap_or_default(),
        labels: pod
            .and_then(|t| t.metadata.as_ref())
            .and_then(|m| m.labels.clone())
            .unwrap_or_default(),
        service_account: pod
            .and_then(|t| t.spec.as_ref())
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_else(|| "default".to_owned()),
        behaviour: pod.map(Behaviour::of).unwrap_or_default(),
    }
}

#[cfg(test)]
#[path = "routing_tests.rs"]
mod tests;

//! Extra load: requests a load generator (the loadtester stand-in running `hey` or
//! `curl`) sends to one host for a while, on top of the steady per-host traffic, so
//! that the metrics see it as they would see a real load test.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::catalog::Served;
use super::matching::CompiledVs;
use super::spec::VirtualServiceSpec;

/// Requests to send: `rps` per second to `host` for `duration`.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadRequest {
    /// Host as written in the URL, without port: `podinfo-canary`,
    /// `podinfo-canary.test`, `podinfo.test.svc.cluster.local` or a VirtualService host.
    pub host: String,
    /// Namespace a short host name is relative to (the caller's).
    pub namespace: String,
    pub rps: f64,
    pub duration: Duration,
}

/// A handle to add extra load to a running mesh; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct MeshLoad {
    entries: Arc<Mutex<Vec<(LoadRequest, Instant)>>>,
}

impl MeshLoad {
    /// Sends `request`'s traffic from now on, until its duration has passed.
    pub fn add(&self, request: LoadRequest) {
        if !(request.rps.is_finite() && request.rps > 0.0) {
            return;
        }
        let until = Instant::now() + request.duration;
        if let Ok(mut entries) = self.entries.lock() {
            entries.push((request, until));
        }
    }

    /// The requests still running at `now`; forgets the finished ones.
    pub fn active(&self, now: Instant) -> Vec<LoadRequest> {
        let Ok(mut entries) = self.entries.lock() else {
            return Vec::new();
        };
        entries.retain(|(_, until)| *until > now);
        entries.iter().map(|(r, _)| r.clone()).collect()
    }
}

/// The routes extra load to `request.host` takes, and the namespace they are in: those
/// of a VirtualService serving that host, else straight to the Service the host names
/// (as a request to `podinfo-canary.test:9898` reaches the canary Service directly).
pub(super) fn routes_for(request: &LoadRequest, served: &[Arc<Served>]) -> Option<Arc<Served>> {
    let host = request.host.to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    let (name, namespace) = match labels.as_slice() {
        [name] => (*name, request.namespace.as_str()),
        [name, namespace] | [name, namespace, "svc", ..] => (*name, *namespace),
        _ => (host.as_str(), request.namespace.as_str()),
    };
    let names = [
        host.clone(),
        name.to_owned(),
        format!("{name}.{namespace}"),
        format!("{name}.{namespace}.svc.cluster.local"),
    ];
    let found = served.iter().find(|s| {
        let hosts = &s.vs.spec.hosts;
        let here = s.namespace == namespace || hosts.contains(&host);
        here && hosts.iter().any(|h| names.contains(h))
    });
    if let Some(s) = found {
        return Some(Arc::clone(s));
    }
    let direct = serde_json::json!({"http": [{"route": [{"destination": {"host": name}}]}]});
    let spec: VirtualServiceSpec = serde_json::from_value(direct).ok()?;
    // A route without matches always compiles.
    let vs = CompiledVs::compile(spec).ok()?;
    Some(Arc::new(Served {
        namespace: namespace.to_owned(),
        vs,
        hosts: Vec::new(),
        rps: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(host: &str) -> LoadRequest {
        LoadRequest {
            host: host.into(),
            namespace: "test".into(),
            rps: 10.0,
            duration: Duration::from_secs(1),
        }
    }

    fn vs(hosts: &[&str]) -> Arc<Served> {
        let spec = serde_json::json!({"hosts": hosts, "http": [{"route": [
            {"destination": {"host": "podinfo-primary"}, "weight": 90},
            {"destination": {"host": "podinfo-canary"}, "weight": 10}]}]});
        let spec = serde_json::from_value(spec).unwrap();
        Arc::new(Served {
            namespace: "test".into(),
            vs: CompiledVs::compile(spec).unwrap(),
            hosts: Vec::new(),
            rps: Some(20.0),
        })
    }

    #[test]
    fn a_service_host_is_reached_directly_and_a_virtual_service_host_through_its_routes() {
        let list = [vs(&["podinfo"])];
        let routes = routes_for(&request("podinfo-canary.test"), &list).unwrap();
        assert_eq!(routes.namespace, "test");
        let spec = &routes.vs.spec;
        assert_eq!(spec.http[0].route[0].destination.host, "podinfo-canary");
        assert_eq!(spec.http[0].route.len(), 1);
        let routes = routes_for(&request("podinfo"), &list).unwrap();
        assert_eq!(routes.vs.spec.http[0].route.len(), 2);
        let routes = routes_for(&request("podinfo-canary.other.svc.cluster.local"), &list).unwrap();
        assert_eq!(routes.namespace, "other");
    }

    #[tokio::test]
    async fn load_ends_after_its_duration() {
        let load = MeshLoad::default();
        load.add(request("podinfo-canary"));
        load.add(LoadRequest {
            rps: f64::NAN,
            ..request("x")
        });
        assert_eq!(load.active(Instant::now()).len(), 1);
        let later = Instant::now() + Duration::from_secs(2);
        assert!(load.active(later).is_empty());
    }
}

//! The traffic generator: on each tick, turns request rates into whole
//! requests and records their outcomes in the metrics [`Registry`].
//!
//! Counts are deterministic: every split (host to destination, destination
//! to outcome) keeps a fractional accumulator and emits the whole part, so a
//! 30% error rate yields exactly 30% of errors, up to one request, over any
//! window, and a 20% weight exactly 20% of the requests.

use std::collections::{BTreeMap, HashMap};

use super::metrics::{self, Registry, Reporter};
use super::routing::{self, Cluster, Target, VirtualServiceSpec};

/// Requests of one VirtualService host per second.
pub struct HostTraffic<'a> {
    /// Stable name of the host, e.g. `namespace/virtualservice/host`.
    pub key: String,
    pub namespace: &'a str,
    pub spec: &'a VirtualServiceSpec,
    pub rps: f64,
}

/// A share of every host's traffic carrying the same request headers.
#[derive(Clone, Debug, PartialEq)]
pub struct TrafficClass {
    pub headers: BTreeMap<String, String>,
    pub share: f64,
}

/// Ticks a remainder is kept without use. A workload may get a request only
/// every few ticks, so its remainder must outlive idle ticks; a removed
/// route's remainders go after a while.
const KEEP_TICKS: u64 = 1000;

/// Fractional remainders, keyed by the split they belong to.
#[derive(Debug, Default)]
struct Accumulators {
    values: HashMap<String, (f64, u64)>,
    tick: u64,
}

impl Accumulators {
    /// Adds `amount` to the key's remainder and takes out its whole part.
    fn take(&mut self, key: &str, amount: f64) -> u64 {
        let tick = self.tick;
        let entry = match self.values.get_mut(key) {
            Some(e) => e,
            None => self.values.entry(key.to_owned()).or_insert((0.0, tick)),
        };
        entry.0 += amount.max(0.0);
        entry.1 = tick;
        // The epsilon absorbs rounding: 0.1 * 10 must make one request.
        let whole = (entry.0 + 1e-9).floor();
        entry.0 = (entry.0 - whole).max(0.0);
        whole as u64
    }

    fn end_tick(&mut self) {
        let tick = self.tick;
        self.values.retain(|_, (_, seen)| tick - *seen < KEEP_TICKS);
        self.tick += 1;
    }
}

/// State that carries over from tick to tick.
#[derive(Debug, Default)]
pub struct Generator {
    requests: Accumulators,
    errors: Accumulators,
    /// Requests served per workload: the index into its latency sequence.
    served: HashMap<String, u64>,
}

impl Generator {
    /// Generates `seconds` worth of traffic for every host.
    pub fn tick(
        &mut self,
        hosts: &[HostTraffic<'_>],
        classes: &[TrafficClass],
        cluster: &Cluster<'_>,
        seconds: f64,
        registry: &mut Registry,
    ) {
        for host in hosts {
            for (i, class) in classes.iter().enumerate() {
                let expected = host.rps * seconds * class.share;
                for flow in routing::flows(host.spec, host.namespace, &class.headers, cluster) {
                    let key = format!("{}#{i}>{}", host.key, flow.target.key());
                    let n = self.requests.take(&key, expected * flow.share);
                    if n > 0 {
                        self.deliver(&flow.target, host.namespace, n, registry);
                    }
                }
            }
        }
        self.requests.end_tick();
        self.errors.end_tick();
    }

    /// Records the outcome of `n` requests sent to `target`.
    fn deliver(
        &mut self,
        target: &Target,
        source_namespace: &str,
        n: u64,
        registry: &mut Registry,
    ) {
        let Target::Workload { workload, .. } = target else {
            // The client's proxy answers 503 itself: only it reports.
            let labels = metrics::labels(Reporter::Source, source_namespace, target, 503);
            (0..n).for_each(|_| registry.record(&labels, 0.0));
            return;
        };
        let key = format!("{}/{}", workload.namespace, workload.name);
        let behaviour = workload.behaviour;
        let errors = self
            .errors
            .take(&key, n as f64 * behaviour.error_rate)
            .min(n);
        let served = self.served.entry(key).or_default();
        for (code, count) in [(500, errors), (200, n - errors)] {
            if count == 0 {
                continue;
            }
            let destination =
                metrics::labels(Reporter::Destination, source_namespace, target, code);
            let source = metrics::labels(Reporter::Source, source_namespace, target, code);
            for _ in 0..count {
                let latency = behaviour.latency_of(*served);
                *served += 1;
                registry.record(&destination, latency);
                registry.record(&source, latency);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Service;

    use crate::mesh::routing::ServingRevisions;

    fn object<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> std::sync::Arc<T> {
        std::sync::Arc::new(serde_json::from_value(value).expect("object"))
    }

    fn pair(serving: &ServingRevisions) -> Cluster<'_> {
        let svc = |name: &str| {
            object::<Service>(serde_json::json!({
                "metadata": {"name": name, "namespace": "ns"}, "spec": {"selector": {"app": name}}
            }))
        };
        let dep = |name: &str, error_rate: &str| {
            object::<Deployment>(serde_json::json!({
                "metadata": {"name": name, "namespace": "ns"},
                "spec": {"selector": {}, "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [
                    {"name": "c", "env": [{"name": "SANDBOX_ERROR_RATE", "value": error_rate}]}]}}},
                "status": {"readyReplicas": 1}
            }))
        };
        Cluster::new(
            [svc("primary"), svc("canary")],
            [dep("primary", "0"), dep("canary", "0.3")],
            serving,
        )
    }

    fn count(text: &str, workload: &str, code: &str) -> u64 {
        text.lines()
            .filter(|l| l.starts_with("istio_requests_total{reporter=\"destination\""))
            .filter(|l| l.contains(&format!("destination_workload=\"{workload}\"")))
            .filter(|l| l.contains(&format!("response_code=\"{code}\"")))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }

    #[test]
    fn weights_and_error_rates_are_exact() {
        let spec: VirtualServiceSpec = serde_saphyr::from_str(
            "http: [{route: [{destination: {host: primary}, weight: 80}, {destination: {host: canary}, weight: 20}]}]",
        )
        .expect("spec");
        let hosts = [HostTraffic {
            key: "ns/app/app".into(),
            namespace: "ns",
            spec: &spec,
            rps: 20.0,
        }];
        let classes = [TrafficClass {
            headers: BTreeMap::new(),
            share: 1.0,
        }];
        let serving = ServingRevisions::default();
        let (mut generator, mut registry, cluster) =
            (Generator::default(), Registry::default(), pair(&serving));
        // 100 s of 100 ms ticks: 2000 requests.
        for _ in 0..1000 {
            generator.tick(&hosts, &classes, &cluster, 0.1, &mut registry);
        }
        let text = registry.render();
        assert_eq!(count(&text, "primary", "200"), 1600);
        assert_eq!(count(&text, "primary", "500"), 0);
        assert_eq!(count(&text, "canary", "500"), 120);
        assert_eq!(count(&text, "canary", "200"), 280);
        assert!(text.contains("reporter=\"source\""));
    }

    #[test]
    fn accumulators_keep_remainders_over_idle_ticks_then_forget() {
        let mut acc = Accumulators::default();
        assert_eq!(acc.take("a", 0.6), 0);
        acc.end_tick();
        acc.end_tick();
        assert_eq!(acc.take("a", 0.6), 1);
        for _ in 0..=KEEP_TICKS {
            acc.end_tick();
        }
        assert!(acc.values.is_empty());
    }
}

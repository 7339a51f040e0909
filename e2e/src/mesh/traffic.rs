//! The traffic generator: on each tick, turns request rates into whole
//! requests, routes them through the VirtualService's http routes and
//! records their outcomes in the metrics [`Registry`].
//!
//! Without simulated clients, counts are deterministic: every split (class,
//! destination, mirror, outcome) keeps a fractional accumulator and emits
//! the whole part, so a 30% error rate yields exactly 30% of errors, up to
//! one request, over any window, and a 20% weight exactly 20% of the
//! requests. With clients ([`Population`]), each request is one client's,
//! carries its cookies and picks its destination by weight from a seeded
//! random sequence, as Envoy picks at random; mirrors and errors stay exact.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::classes::{ClassSet, append_cookie};
use super::clients::{Outcome, Population, SimClient};
use super::matching::CompiledVs;
use super::metrics::{LabelCache, Registry, Reporter, Shadow, Source};
use super::routing::{self, Cluster, Routed, Target};

/// Seed of the destination picks of simulated clients.
pub const DEFAULT_SEED: u64 = 0x5e71;

/// Requests of one VirtualService host per second.
pub struct HostTraffic<'a> {
    /// Stable name of the host, `namespace/virtualservice/host`.
    pub key: String,
    /// The host as clients address it (mirrored copies report it `-shadow`).
    pub host: &'a str,
    pub namespace: &'a str,
    pub vs: &'a CompiledVs,
    pub rps: f64,
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
#[derive(Debug)]
pub struct Generator {
    requests: Accumulators,
    errors: Accumulators,
    mirrors: Accumulators,
    /// Requests served per workload: the index into its latency sequence.
    served: HashMap<String, u64>,
    labels: LabelCache,
    /// The flows of each host's routes, computed once per cluster epoch
    /// ([`Cluster::epoch`]): with nothing changing, a tick routes nothing again.
    flows: HashMap<String, HashMap<usize, Routed>>,
    flows_epoch: Option<u64>,
    /// Seconds of traffic sent so far: the clients' clock for `Max-Age`.
    clock: f64,
    rng: StdRng,
}

impl Default for Generator {
    fn default() -> Self {
        Self::seeded(DEFAULT_SEED)
    }
}

/// What one tick reads besides the hosts.
pub struct TickInput<'a, 'c> {
    pub classes: &'a ClassSet,
    pub cluster: &'a Cluster<'c>,
    pub seconds: f64,
}

impl Generator {
    pub fn seeded(seed: u64) -> Generator {
        Generator {
            requests: Accumulators::default(),
            errors: Accumulators::default(),
            mirrors: Accumulators::default(),
            served: HashMap::new(),
            labels: LabelCache::default(),
            flows: HashMap::new(),
            flows_epoch: None,
            clock: 0.0,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// Generates `input.seconds` worth of traffic for every host.
    pub fn tick(
        &mut self,
        hosts: &[HostTraffic<'_>],
        input: &TickInput<'_, '_>,
        registry: &mut Registry,
        population: &mut Population,
    ) {
        // The flows of a route are the same for every request of an epoch.
        let epoch = input.cluster.epoch;
        if epoch.is_none() || epoch != self.flows_epoch {
            self.flows.clear();
            self.flows_epoch = epoch;
        }
        let mut kept = HashMap::with_capacity(hosts.len());
        for host in hosts {
            let (key, mut routes) = self
                .flows
                .remove_entry(host.key.as_str())
                .unwrap_or_else(|| (host.key.clone(), HashMap::new()));
            for (i, class) in input.classes.classes.iter().enumerate() {
                let expected = host.rps * input.seconds * class.share;
                if population.size() == 0 {
                    self.stateless(host, i, expected, input, &mut routes, registry);
                    continue;
                }
                let n = self.requests.take(&format!("{}#{i}", host.key), expected);
                for _ in 0..n {
                    let Some(client) = population.next_client(&host.key) else {
                        break;
                    };
                    self.client_request(host, i, input, &mut routes, client, registry);
                }
            }
            kept.insert(key, routes);
        }
        // Hosts that got no traffic this tick are forgotten.
        self.flows = kept;
        self.clock += input.seconds;
        self.requests.end_tick();
        self.errors.end_tick();
        self.mirrors.end_tick();
    }

    /// `expected` requests of class `i`, split by exact shares.
    fn stateless(
        &mut self,
        host: &HostTraffic<'_>,
        i: usize,
        expected: f64,
        input: &TickInput<'_, '_>,
        routes: &mut HashMap<usize, Routed>,
        registry: &mut Registry,
    ) {
        let Some(route) = host.vs.route_of(&input.classes.requests[i]) else {
            return;
        };
        let routed = routes.entry(route).or_insert_with(|| {
            routing::route_flows(&host.vs.spec.http[route], host.namespace, input.cluster)
        });
        let source = Source {
            workload: &input.classes.sources[i],
            namespace: host.namespace,
        };
        for flow in &routed.flows {
            let key = format!("{}#{i}>{}", host.key, flow.target.key());
            let n = self.requests.take(&key, expected * flow.share);
            self.deliver(&flow.target, source, n, None, registry);
        }
        for mirror in &routed.mirrors {
            let key = format!("{}#{i}~{}", host.key, mirror.target.key());
            let n = self.mirrors.take(&key, expected * mirror.share);
            let shadow = Some(Shadow { host: host.host });
            self.deliver(&mirror.target, source, n, shadow, registry);
        }
    }

    /// One request of class `i` sent by `client` with its cookies.
    fn client_request(
        &mut self,
        host: &HostTraffic<'_>,
        i: usize,
        input: &TickInput<'_, '_>,
        routes: &mut HashMap<usize, Routed>,
        client: &mut SimClient,
        registry: &mut Registry,
    ) {
        let mut request = input.classes.requests[i].clone();
        if let Some(cookies) = client.jar.header(self.clock) {
            append_cookie(&mut request.headers, &cookies);
        }
        let Some(route) = host.vs.route_of(&request) else {
            client.record(Outcome {
                workload: String::new(),
                code: 404,
            });
            return;
        };
        let routed = routes.entry(route).or_insert_with(|| {
            routing::route_flows(&host.vs.spec.http[route], host.namespace, input.cluster)
        });
        let source = Source {
            workload: &input.classes.sources[i],
            namespace: host.namespace,
        };
        let pick = self.rng.random::<f64>();
        let mut cumulative = 0.0;
        let flow = routed.flows.iter().find(|f| {
            cumulative += f.share;
            pick < cumulative
        });
        if let Some(flow) = flow.or(routed.flows.last()) {
            let errors = self.deliver(&flow.target, source, 1, None, registry);
            let (workload, code) = match &flow.target {
                Target::Workload { workload, .. } => {
                    (workload.name.clone(), if errors > 0 { 500 } else { 200 })
                }
                _ => (String::new(), 503),
            };
            for set_cookie in &flow.set_cookies {
                client.jar.store(set_cookie, self.clock);
            }
            client.record(Outcome { workload, code });
        }
        for mirror in &routed.mirrors {
            let key = format!("{}#{route}~{}", host.key, mirror.target.key());
            let n = self.mirrors.take(&key, mirror.share);
            let shadow = Some(Shadow { host: host.host });
            self.deliver(&mirror.target, source, n, shadow, registry);
        }
    }

    /// Records the outcome of `n` requests sent to `target`; returns how
    /// many were errors. A mirrored copy (`shadow`) is reported by the
    /// mirror's proxy alone, and not at all when it reaches no pod.
    fn deliver(
        &mut self,
        target: &Target,
        source: Source<'_>,
        n: u64,
        shadow: Option<Shadow<'_>>,
        registry: &mut Registry,
    ) -> u64 {
        if n == 0 {
            return 0;
        }
        let Target::Workload { workload, .. } = target else {
            if shadow.is_none() {
                // The client's proxy answers 503 itself: only it reports.
                let labels = self.labels.get(Reporter::Source, source, target, 503, None);
                (0..n).for_each(|_| registry.record(&labels, 0.0));
            }
            return n;
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
            let destination = self
                .labels
                .get(Reporter::Destination, source, target, code, shadow);
            let reported_by_source = shadow.is_none().then(|| {
                self.labels
                    .get(Reporter::Source, source, target, code, None)
            });
            for _ in 0..count {
                let latency = behaviour.latency_of(*served);
                *served += 1;
                registry.record(&destination, latency);
                if let Some(labels) = &reported_by_source {
                    registry.record(labels, latency);
                }
            }
        }
        errors
    }
}

#[cfg(test)]
#[path = "traffic_tests.rs"]
mod tests;

//! Istio's standard request metrics: the series store the traffic generator
//! advances, and its Prometheus text rendering for `/metrics`.
//!
//! Names, labels and histogram buckets are those of Istio's proxies
//! (`istio_requests_total`, `istio_request_duration_milliseconds`), so that
//! Flagger's and serin's PromQL queries run unchanged.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use super::routing::Target;

/// Istio's default buckets of `istio_request_duration_milliseconds`.
pub const BUCKETS: [f64; 19] = [
    0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
    60000.0, 300000.0, 600000.0, 1800000.0, 3600000.0,
];

/// Workload name of the traffic's source: of the traffic no class claims.
pub const SOURCE_WORKLOAD: &str = "loadgenerator";

/// Who sends a request: a traffic class's own source workload.
#[derive(Clone, Copy, Debug)]
pub struct Source<'a> {
    pub workload: &'a str,
    pub namespace: &'a str,
}

/// A mirrored copy of a request, as the mirror's proxy reports it.
///
/// Istio reports mirrored requests only at the destination (istio/istio
/// #23496): the client's proxy never sees the copy's answer. Envoy sends the
/// copy with `-shadow` appended to its host, and the inbound proxy, which
/// takes `destination_service` from the host it is addressed as, reports
/// that; the workload labels are the mirror's own, so queries on
/// `destination_workload` count the copies like any other request.
#[derive(Clone, Copy, Debug)]
pub struct Shadow<'a> {
    /// The host the original request was sent to.
    pub host: &'a str,
}

/// Which proxy reports a request: the client's (`source`) or the server's
/// (`destination`). Flagger's queries read the latter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reporter {
    Source,
    Destination,
}

/// The series of one label set: a counter and a latency histogram.
#[derive(Clone, Debug, Default)]
struct Series {
    requests: u64,
    buckets: [u64; BUCKETS.len()],
    sum_ms: f64,
}

/// All series, keyed by their rendered label set.
#[derive(Debug, Default)]
pub struct Registry {
    series: BTreeMap<String, Series>,
}

impl Registry {
    /// Counts one request of `latency_ms` under `labels` (from [`labels`]).
    pub fn record(&mut self, labels: &str, latency_ms: f64) {
        let series = match self.series.get_mut(labels) {
            Some(s) => s,
            None => self.series.entry(labels.to_owned()).or_default(),
        };
        series.requests += 1;
        series.sum_ms += latency_ms;
        if let Some(i) = BUCKETS.iter().position(|le| latency_ms <= *le) {
            series.buckets[i] += 1;
        }
    }

    /// The Envoy cluster view of the destination-reported series (see [`super::envoy`]).
    fn envoy_clusters(&self) -> BTreeMap<String, super::envoy::Cluster> {
        let mut out: BTreeMap<String, super::envoy::Cluster> = BTreeMap::new();
        for (labels, s) in &self.series {
            let Some((name, code)) = super::envoy::cluster_of(labels) else {
                continue;
            };
            let c = out.entry(name).or_default();
            *c.codes.entry(code).or_default() += s.requests;
            c.requests += s.requests;
            c.sum_ms += s.sum_ms;
            for (a, b) in c.buckets.iter_mut().zip(s.buckets) {
                *a += b;
            }
        }
        out
    }

    /// The Prometheus text exposition (format 0.0.4) of every series.
    pub fn render(&self) -> String {
        self.render_with(true)
    }

    /// [`Registry::render`], without the latency histograms when `histograms` is false:
    /// counters alone are a twentieth of the series (see [`super::MeshConfig::histograms`]).
    pub fn render_with(&self, histograms: bool) -> String {
        let per_series = if histograms { 2048 } else { 1024 };
        let mut out = String::with_capacity(self.series.len() * per_series + 512);
        out.push_str(
            "# HELP istio_requests_total requests_total\n# TYPE istio_requests_total counter\n",
        );
        for (labels, s) in &self.series {
            let _ = writeln!(out, "istio_requests_total{{{labels}}} {}", s.requests);
        }
        if !histograms {
            super::envoy::render_counters(&self.envoy_clusters(), &mut out);
            return out;
        }
        out.push_str(concat!(
            "# HELP istio_request_duration_milliseconds request_duration_milliseconds\n",
            "# TYPE istio_request_duration_milliseconds histogram\n"
        ));
        for (labels, s) in &self.series {
            let mut cumulative = 0;
            for (le, n) in BUCKETS.iter().zip(s.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "istio_request_duration_milliseconds_bucket{{{labels},le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "istio_request_duration_milliseconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.requests
            );
            let _ = writeln!(
                out,
                "istio_request_duration_milliseconds_sum{{{labels}}} {}",
                s.sum_ms
            );
            let _ = writeln!(
                out,
                "istio_request_duration_milliseconds_count{{{labels}}} {}",
                s.requests
            );
        }
        super::envoy::render(&self.envoy_clusters(), &mut out);
        out
    }
}

/// The rendered label set of requests from `source` to `target` answered
/// with `code`, as `reporter` reports them; `shadow` for mirrored copies.
pub fn labels(
    reporter: Reporter,
    source: Source<'_>,
    target: &Target,
    code: u16,
    shadow: Option<Shadow<'_>>,
) -> String {
    const UNKNOWN: &str = "unknown";
    let (source_workload, source_namespace) = (source.workload, source.namespace);
    let source_principal =
        format!("spiffe://cluster.local/ns/{source_namespace}/sa/{source_workload}");
    let (workload, workload_ns, principal, app, version, canonical, revision, flags);
    let (mut service, service_name, service_ns);
    match target {
        Target::Workload {
            service: svc,
            workload: w,
        } => {
            let label = |keys: &[&str]| keys.iter().find_map(|k| w.labels.get(*k)).cloned();
            (workload, workload_ns) = (w.name.clone(), w.namespace.clone());
            principal = format!(
                "spiffe://cluster.local/ns/{}/sa/{}",
                w.namespace, w.service_account
            );
            app = label(&["app"]).unwrap_or_else(|| UNKNOWN.to_owned());
            version = label(&["version"]).unwrap_or_else(|| UNKNOWN.to_owned());
            canonical = label(&[
                "service.istio.io/canonical-name",
                "app.kubernetes.io/name",
                "app",
            ])
            .unwrap_or_else(|| w.name.clone());
            revision = label(&[
                "service.istio.io/canonical-revision",
                "app.kubernetes.io/version",
                "version",
            ])
            .unwrap_or_else(|| "latest".to_owned());
            (service, service_name, service_ns) =
                (svc.fqdn(), svc.name.clone(), svc.namespace.clone());
            flags = "-";
        }
        Target::NoHealthyUpstream { service: svc } => {
            (workload, workload_ns, principal) = (UNKNOWN.into(), UNKNOWN.into(), UNKNOWN.into());
            (app, version, canonical, revision) = (
                UNKNOWN.into(),
                UNKNOWN.into(),
                UNKNOWN.into(),
                UNKNOWN.into(),
            );
            (service, service_name, service_ns) =
                (svc.fqdn(), svc.name.clone(), svc.namespace.clone());
            flags = "UH";
        }
        Target::NoCluster { host } => {
            (workload, workload_ns, principal) = (UNKNOWN.into(), UNKNOWN.into(), UNKNOWN.into());
            (app, version, canonical, revision) = (
                UNKNOWN.into(),
                UNKNOWN.into(),
                UNKNOWN.into(),
                UNKNOWN.into(),
            );
            (service, service_name, service_ns) = (host.clone(), host.clone(), UNKNOWN.into());
            flags = "NC";
        }
    }
    if let Some(shadow) = shadow {
        service = format!("{}-shadow", shadow.host);
    }
    let (reporter, security) = match reporter {
        Reporter::Source => ("source", "unknown"),
        Reporter::Destination => ("destination", "mutual_tls"),
    };
    let code = code.to_string();
    let pairs: [(&str, &str); 25] = [
        ("reporter", reporter),
        ("source_workload", source_workload),
        ("source_workload_namespace", source_namespace),
        ("source_principal", &source_principal),
        ("source_app", source_workload),
        ("source_version", UNKNOWN),
        ("source_cluster", "Kubernetes"),
        ("source_canonical_service", source_workload),
        ("source_canonical_revision", "latest"),
        ("destination_workload", &workload),
        ("destination_workload_namespace", &workload_ns),
        ("destination_principal", &principal),
        ("destination_app", &app),
        ("destination_version", &version),
        ("destination_service", &service),
        ("destination_service_name", &service_name),
        ("destination_service_namespace", &service_ns),
        ("destination_cluster", "Kubernetes"),
        ("destination_canonical_service", &canonical),
        ("destination_canonical_revision", &revision),
        ("request_protocol", "http"),
        ("response_code", &code),
        ("grpc_response_status", ""),
        ("response_flags", flags),
        ("connection_security_policy", security),
    ];
    let mut out = String::with_capacity(1024);
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{name}=\"{}\"", escape(value));
    }
    out
}

/// Rendered label sets, by a hash of everything they are made of: building
/// a set is a thousand bytes of formatting, and the generator needs one per
/// delivery, thousands a second with many VirtualServices. A set is as
/// long-lived as its series in the [`Registry`].
#[derive(Debug, Default)]
pub struct LabelCache {
    sets: HashMap<u64, Arc<str>>,
}

impl LabelCache {
    /// The same as [`labels`], built once.
    pub fn get(
        &mut self,
        reporter: Reporter,
        source: Source<'_>,
        target: &Target,
        code: u16,
        shadow: Option<Shadow<'_>>,
    ) -> Arc<str> {
        // DefaultHasher::new has fixed keys: equal inputs, equal hashes.
        let mut h = DefaultHasher::new();
        (reporter == Reporter::Source).hash(&mut h);
        (source.workload, source.namespace, code).hash(&mut h);
        shadow.map(|s| s.host).hash(&mut h);
        match target {
            Target::Workload { service, workload } => {
                (0u8, &service.name, &service.namespace).hash(&mut h);
                (&workload.name, &workload.namespace).hash(&mut h);
                (&workload.labels, &workload.service_account).hash(&mut h);
            }
            Target::NoHealthyUpstream { service } => {
                (1u8, &service.name, &service.namespace).hash(&mut h)
            }
            Target::NoCluster { host } => (2u8, host).hash(&mut h),
        }
        self.sets
            .entry(h.finish())
            .or_insert_with(|| labels(reporter, source, target, code, shadow).into())
            .clone()
    }
}

/// Escapes a label value for the text format.
fn escape(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::behaviour::Behaviour;
    use crate::mesh::routing::{ServiceRef, Workload};

    const SRC: Source<'static> = Source {
        workload: SOURCE_WORKLOAD,
        namespace: "ns",
    };

    fn canary() -> Target {
        Target::Workload {
            service: ServiceRef {
                name: "app-canary".into(),
                namespace: "ns".into(),
            },
            workload: Workload {
                name: "app-canary".into(),
                namespace: "ns".into(),
                labels: [("app".to_owned(), "app-canary".to_owned())].into(),
                service_account: "default".into(),
                behaviour: Behaviour::default(),
            },
        }
    }

    #[test]
    fn labels_carry_istio_names() {
        let l = labels(Reporter::Destination, SRC, &canary(), 500, None);
        for expected in [
            "reporter=\"destination\"",
            "source_workload=\"loadgenerator\"",
            "destination_workload=\"app-canary\"",
            "destination_workload_namespace=\"ns\"",
            "destination_service=\"app-canary.ns.svc.cluster.local\"",
            "destination_service_name=\"app-canary\"",
            "destination_version=\"unknown\"",
            "response_code=\"500\"",
            "response_flags=\"-\"",
            "connection_security_policy=\"mutual_tls\"",
        ] {
            assert!(l.contains(expected), "{expected} missing in {l}");
        }
        let service = ServiceRef {
            name: "app".into(),
            namespace: "ns".into(),
        };
        let uh = labels(
            Reporter::Source,
            SRC,
            &Target::NoHealthyUpstream { service },
            503,
            None,
        );
        assert!(
            uh.contains("response_flags=\"UH\"") && uh.contains("destination_workload=\"unknown\"")
        );
    }

    #[test]
    fn mirrored_copies_keep_the_workload_labels_and_name_the_shadow_host() {
        let source = Source {
            workload: "ab",
            namespace: "ns",
        };
        let shadow = Some(Shadow { host: "app" });
        let l = labels(Reporter::Destination, source, &canary(), 200, shadow);
        for expected in [
            "source_workload=\"ab\"",
            "source_app=\"ab\"",
            "source_principal=\"spiffe://cluster.local/ns/ns/sa/ab\"",
            "destination_workload=\"app-canary\"",
            "destination_service=\"app-shadow\"",
            "destination_service_name=\"app-canary\"",
        ] {
            assert!(l.contains(expected), "{expected} missing in {l}");
        }
    }

    #[test]
    fn label_cache_builds_each_set_once_and_tells_sets_apart() {
        let mut cache = LabelCache::default();
        let a = cache.get(Reporter::Destination, SRC, &canary(), 200, None);
        let again = cache.get(Reporter::Destination, SRC, &canary(), 200, None);
        assert!(Arc::ptr_eq(&a, &again));
        assert_eq!(
            &*a,
            labels(Reporter::Destination, SRC, &canary(), 200, None)
        );
        let shadow = Some(Shadow { host: "app" });
        let others = [
            cache.get(Reporter::Source, SRC, &canary(), 200, None),
            cache.get(Reporter::Destination, SRC, &canary(), 500, None),
            cache.get(Reporter::Destination, SRC, &canary(), 200, shadow),
        ];
        assert!(others.iter().all(|o| *o != a));
    }

    #[test]
    fn render_counts_and_cumulates_buckets() {
        let mut registry = Registry::default();
        let l = labels(Reporter::Destination, SRC, &canary(), 200, None);
        for latency in [0.2, 9.0, 11.0, 400.0, 5_000_000.0] {
            registry.record(&l, latency);
        }
        let text = registry.render();
        assert!(text.contains(&format!("istio_requests_total{{{l}}} 5\n")));
        assert!(text.contains(&format!(
            "istio_request_duration_milliseconds_bucket{{{l},le=\"0.5\"}} 1\n"
        )));
        assert!(text.contains(&format!(
            "istio_request_duration_milliseconds_bucket{{{l},le=\"10\"}} 2\n"
        )));
        assert!(text.contains(&format!(
            "istio_request_duration_milliseconds_bucket{{{l},le=\"500\"}} 4\n"
        )));
        assert!(text.contains(&format!(
            "istio_request_duration_milliseconds_bucket{{{l},le=\"3600000\"}} 4\n"
        )));
        assert!(text.contains(&format!(
            "istio_request_duration_milliseconds_bucket{{{l},le=\"+Inf\"}} 5\n"
        )));
        assert!(text.contains(&format!(
            "istio_request_duration_milliseconds_count{{{l}}} 5\n"
        )));
        assert!(text.contains("# TYPE istio_request_duration_milliseconds histogram\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}

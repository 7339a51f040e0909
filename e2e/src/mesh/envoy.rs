//! Envoy's upstream cluster stats, as Envoy-based Gateway API implementations (Contour,
//! Envoy Gateway) export them: `envoy_cluster_upstream_rq` by response code and the
//! `envoy_cluster_upstream_rq_time` histogram (milliseconds, the same buckets as Istio's),
//! one cluster per backend Service named `<namespace>_<service>_http`. They are a second
//! view of the requests the destination proxies report, so both sets always agree.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::metrics::BUCKETS;

/// One Envoy cluster's counters, summed over the Istio series it stands for.
#[derive(Debug, Default)]
pub struct Cluster {
    /// Requests by response code.
    pub codes: BTreeMap<String, u64>,
    pub buckets: [u64; BUCKETS.len()],
    pub requests: u64,
    pub sum_ms: f64,
}

fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("{name}=\"");
    let start = labels
        .find(&format!(",{key}"))
        .map(|i| i + 1)
        .or_else(|| labels.starts_with(&key).then_some(0))?
        + key.len();
    let end = labels[start..].find('"')? + start;
    Some(&labels[start..end])
}

/// The cluster name a destination-reported Istio label set is counted under, if any.
pub fn cluster_of(labels: &str) -> Option<(String, String)> {
    if label(labels, "reporter")? != "destination" {
        return None;
    }
    let name = label(labels, "destination_service_name")?;
    let ns = label(labels, "destination_service_namespace")?;
    let code = label(labels, "response_code")?;
    Some((format!("{ns}_{name}_http"), code.to_string()))
}

/// The Prometheus text of the clusters.
pub fn render(clusters: &BTreeMap<String, Cluster>, out: &mut String) {
    render_counters(clusters, out);
    render_histograms(clusters, out);
}

/// The request counters of the clusters alone.
pub fn render_counters(clusters: &BTreeMap<String, Cluster>, out: &mut String) {
    out.push_str("# TYPE envoy_cluster_upstream_rq counter\n");
    for (name, c) in clusters {
        for (code, n) in &c.codes {
            let _ = writeln!(
                out,
                "envoy_cluster_upstream_rq{{envoy_cluster_name=\"{name}\",envoy_response_code=\"{code}\"}} {n}"
            );
        }
    }
}

fn render_histograms(clusters: &BTreeMap<String, Cluster>, out: &mut String) {
    out.push_str("# TYPE envoy_cluster_upstream_rq_time histogram\n");
    for (name, c) in clusters {
        let mut cumulative = 0;
        for (le, n) in BUCKETS.iter().zip(c.buckets) {
            cumulative += n;
            let _ = writeln!(
                out,
                "envoy_cluster_upstream_rq_time_bucket{{envoy_cluster_name=\"{name}\",le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "envoy_cluster_upstream_rq_time_bucket{{envoy_cluster_name=\"{name}\",le=\"+Inf\"}} {}\nenvoy_cluster_upstream_rq_time_sum{{envoy_cluster_name=\"{name}\"}} {}\nenvoy_cluster_upstream_rq_time_count{{envoy_cluster_name=\"{name}\"}} {}",
            c.requests, c.sum_ms, c.requests
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_series_map_to_their_service_cluster() {
        let l = r#"reporter="destination",source_workload="x",destination_service_name="podinfo-canary",destination_service_namespace="test",response_code="503""#;
        assert_eq!(
            cluster_of(l),
            Some(("test_podinfo-canary_http".into(), "503".into()))
        );
        assert_eq!(
            cluster_of(&l.replace("\"destination\"", "\"source\"")),
            None
        );
    }
}

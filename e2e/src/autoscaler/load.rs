//! Utilisation from load: the request rate each workload receives, read
//! from the mesh stand-in's `/metrics` (`istio_requests_total` as the
//! destination reports it), divided by the workload's replicas and by the
//! requests per second one replica handles at target
//! ([`RPS_PER_REPLICA_ANNOTATION`]). Raising the mesh's traffic then scales
//! the workload up, as CPU load would in a real cluster.

use std::collections::HashMap;

use tokio::time::Instant;

/// Annotation (on the HPA or its target Deployment, or on a ScaledObject)
/// naming the requests per second one replica serves at 100 % of target.
pub const RPS_PER_REPLICA_ANNOTATION: &str = "autoscaler.sandbox.serin.dev/rps-per-replica";

/// `(namespace, workload)`.
pub type Workload = (String, String);

/// Request counters per workload, from a Prometheus text exposition.
pub fn parse_requests(text: &str) -> HashMap<Workload, f64> {
    let mut out: HashMap<Workload, f64> = HashMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("istio_requests_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let labels = parse_labels(labels);
        let get = |k: &str| labels.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        if get("reporter") != Some("destination") {
            continue;
        }
        let (Some(ns), Some(name)) = (
            get("destination_workload_namespace"),
            get("destination_workload"),
        ) else {
            continue;
        };
        *out.entry((ns.to_owned(), name.to_owned())).or_default() += value;
    }
    out
}

/// `a="x",b="y"` into pairs; values hold no quotes in the mesh's output.
fn parse_labels(text: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some((name, tail)) = rest.split_once("=\"") {
        let Some((value, tail)) = tail.split_once('"') else {
            break;
        };
        out.push((name.trim_start_matches(',').trim(), value));
        rest = tail;
    }
    out
}

/// Request rates per workload, from successive counter readings.
#[derive(Debug, Default)]
pub struct LoadMeter {
    last: Option<(Instant, HashMap<Workload, f64>)>,
    rates: HashMap<Workload, f64>,
}

impl LoadMeter {
    /// Takes a new reading; rates are over the time since the previous one.
    /// A counter that went backwards (the mesh restarted) counts from zero.
    pub fn update(&mut self, counters: HashMap<Workload, f64>, now: Instant) {
        if let Some((then, previous)) = &self.last {
            let seconds = now.duration_since(*then).as_secs_f64();
            if seconds <= 0.0 {
                return;
            }
            self.rates = counters
                .iter()
                .map(|(k, v)| {
                    let before = previous.get(k).copied().unwrap_or(0.0);
                    let delta = if *v >= before { v - before } else { *v };
                    (k.clone(), delta / seconds)
                })
                .collect();
        }
        self.last = Some((now, counters));
    }

    /// Requests per second the workload received lately (0 when unseen).
    pub fn rate(&self, namespace: &str, workload: &str) -> f64 {
        let key = (namespace.to_owned(), workload.to_owned());
        self.rates.get(&key).copied().unwrap_or(0.0)
    }

    /// Utilisation over target: the rate per replica over `per_replica`.
    pub fn ratio(
        &self,
        namespace: &str,
        workload: &str,
        replicas: i32,
        per_replica: f64,
    ) -> Option<f64> {
        if replicas <= 0 || !(per_replica.is_finite() && per_replica > 0.0) {
            return None;
        }
        Some(self.rate(namespace, workload) / f64::from(replicas) / per_replica)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const TEXT: &str = r#"# TYPE istio_requests_total counter
istio_requests_total{reporter="destination",source_workload="loadgenerator",destination_workload="web",destination_workload_namespace="shop",response_code="200"} 90
istio_requests_total{reporter="destination",source_workload="loadgenerator",destination_workload="web",destination_workload_namespace="shop",response_code="500"} 10
istio_requests_total{reporter="source",source_workload="loadgenerator",destination_workload="web",destination_workload_namespace="shop",response_code="200"} 90
istio_request_duration_milliseconds_count{reporter="destination",destination_workload="web",destination_workload_namespace="shop"} 100
"#;

    #[test]
    fn counts_destination_requests_per_workload() {
        let counters = parse_requests(TEXT);
        assert_eq!(counters.len(), 1);
        assert_eq!(counters[&("shop".to_owned(), "web".to_owned())], 100.0);
        assert!(parse_requests("istio_requests_total{broken 3\n").is_empty());
    }

    #[test]
    fn rates_and_ratio_from_two_readings() {
        let mut meter = LoadMeter::default();
        let start = Instant::now();
        meter.update(parse_requests(TEXT), start);
        assert_eq!(meter.rate("shop", "web"), 0.0, "one reading gives no rate");
        let later = TEXT.replace("} 90\n", "} 130\n");
        meter.update(parse_requests(&later), start + Duration::from_secs(2));
        assert_eq!(meter.rate("shop", "web"), 20.0);
        assert_eq!(meter.ratio("shop", "web", 2, 5.0), Some(2.0));
        assert_eq!(meter.ratio("shop", "web", 0, 5.0), None);
        assert_eq!(meter.ratio("shop", "web", 2, 0.0), None);
        meter.update(parse_requests(TEXT), start + Duration::from_secs(3));
        assert!(
            meter.rate("shop", "web") >= 0.0,
            "a reset never gives a negative rate"
        );
    }
}

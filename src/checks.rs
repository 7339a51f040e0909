//! Metric checks: builds each query (builtin Istio queries, MetricTemplate queries with
//! their variables) and runs it against Prometheus with prometheus-http-query.
//!
//! Every problem becomes an [`Outcome`] (no data, error) that the decision turns into a
//! failed check with an explanation; nothing here fails a reconcile.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_http_query::Client as PromClient;
use prometheus_http_query::response::Data;

use crate::api::{Canary, CanaryMetric, DEFAULT_METRIC_INTERVAL, MetricStatus, MetricTemplate};
use crate::decide::verdict::{self, DURATION, Outcome, SUCCESS_RATE};

/// Timeout of one query, as Flagger's.
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// Flagger's Istio success-rate query (percent of non-5xx responses of the canary).
const ISTIO_SUCCESS_RATE: &str = r#"sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}",response_code!~"5.*"}[{{ interval }}])) / sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}"}[{{ interval }}])) * 100"#;

/// Flagger's Istio P99 latency query, in milliseconds.
const ISTIO_DURATION: &str = r#"histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}"}[{{ interval }}])) by (le))"#;

/// Where and how to send a query.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Endpoint {
    pub address: String,
    pub headers: Vec<(String, String)>,
    pub bearer: Option<String>,
    pub basic: Option<(String, String)>,
    pub insecure: bool,
}

/// Resolves a Secret (namespace, name) to its data, or why it could not be read.
pub type SecretLookup<'a> = dyn Fn(&str, &str) -> Result<BTreeMap<String, String>, String> + 'a;

/// A query ready to run, or why it could not be built.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub metric: CanaryMetric,
    pub query: Result<(String, Endpoint), String>,
}

/// The values a query template may use.
pub fn variables(canary: &Canary, metric: &CanaryMetric) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    vars.insert(
        "name".into(),
        canary.metadata.name.clone().unwrap_or_default(),
    );
    vars.insert(
        "namespace".into(),
        canary.metadata.namespace.clone().unwrap_or_default(),
    );
    vars.insert("target".into(), canary.spec.target_ref.name.clone());
    let service = canary
        .spec
        .service
        .name
        .clone()
        .unwrap_or_else(|| canary.spec.target_ref.name.clone());
    vars.insert("service".into(), service);
    vars.insert(
        "interval".into(),
        metric
            .interval
            .clone()
            .unwrap_or_else(|| DEFAULT_METRIC_INTERVAL.into()),
    );
    for (k, v) in &metric.template_variables {
        vars.insert(format!("variables.{k}"), v.clone());
    }
    vars
}

/// Substitutes `{{ name }}`-style placeholders (Flagger's template functions, also written
/// `{{ .Name }}`-free as in Flagger's docs). An unknown placeholder is an error.
pub fn render(template: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "unclosed {{ in query template".to_string())?;
        let key = after[..end].trim().trim_start_matches('.');
        let value = vars
            .get(key)
            .ok_or_else(|| format!("unknown template variable {{{{ {key} }}}}"))?;
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    // Flagger collapses whitespace so multi-line templates read as one query.
    Ok(out.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Plans the query of each metric of a Canary. `templates` resolves a templateRef;
/// `secret` resolves a template's secretRef to its data.
pub fn plan(
    canary: &Canary,
    default_server: &str,
    templates: &dyn Fn(&str, &str) -> Option<MetricTemplate>,
    secret: &SecretLookup,
) -> Vec<Planned> {
    let Some(analysis) = &canary.spec.analysis else {
        return Vec::new();
    };
    let namespace = canary.metadata.namespace.clone().unwrap_or_default();
    let server = canary
        .spec
        .metrics_server
        .clone()
        .unwrap_or_else(|| default_server.to_string());
    analysis
        .metrics
        .iter()
        .map(|metric| {
            let vars = variables(canary, metric);
            let plain = |q: &str| {
                render(q, &vars).map(|q| {
                    (
                        q,
                        Endpoint {
                            address: server.clone(),
                            ..Default::default()
                        },
                    )
                })
            };
            let query = if let Some(r) = &metric.template_ref {
                let ns = r.namespace.clone().unwrap_or_else(|| namespace.clone());
                match templates(&ns, &r.name) {
                    None => Err(format!("MetricTemplate {}.{ns} not found", r.name)),
                    Some(t) => endpoint(&t, &ns, &server, secret)
                        .and_then(|ep| render(&t.spec.query, &vars).map(|q| (q, ep))),
                }
            } else if let Some(q) = &metric.query {
                plain(q)
            } else if metric.name == SUCCESS_RATE {
                plain(ISTIO_SUCCESS_RATE)
            } else if metric.name == DURATION {
                plain(ISTIO_DURATION)
            } else {
                Err(format!(
                    "metric {} has no templateRef and is not builtin",
                    metric.name
                ))
            };
            Planned {
                metric: metric.clone(),
                query,
            }
        })
        .collect()
}

fn endpoint(
    t: &MetricTemplate,
    namespace: &str,
    default_server: &str,
    secret: &SecretLookup,
) -> Result<Endpoint, String> {
    let p = &t.spec.provider;
    if let Some(kind) = p.type_.as_deref().filter(|k| *k != "prometheus") {
        return Err(format!(
            "metric provider {kind:?} is not supported: serin implements prometheus"
        ));
    }
    let mut ep = Endpoint {
        address: p
            .address
            .clone()
            .unwrap_or_else(|| default_server.to_string()),
        headers: p
            .headers
            .iter()
            .flat_map(|(k, vs)| vs.iter().map(move |v| (k.clone(), v.clone())))
            .collect(),
        insecure: p.insecure_skip_verify,
        ..Default::default()
    };
    if let Some(r) = &p.secret_ref {
        let data = secret(namespace, &r.name)?;
        if let Some(token) = data.get("token") {
            ep.bearer = Some(token.clone());
        } else if let (Some(u), Some(pw)) = (data.get("username"), data.get("password")) {
            ep.basic = Some((u.clone(), pw.clone()));
        } else {
            return Err(format!(
                "Secret {}.{namespace} has neither token nor username and password",
                r.name
            ));
        }
    }
    Ok(ep)
}

/// Runs queries, reusing one HTTP client per TLS setting.
#[derive(Default)]
pub struct Prometheus {
    clients: Mutex<HashMap<bool, reqwest::Client>>,
}

impl Prometheus {
    fn client(&self, insecure: bool) -> Result<reqwest::Client, String> {
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| "client cache poisoned".to_string())?;
        if let Some(c) = clients.get(&insecure) {
            return Ok(c.clone());
        }
        let c = reqwest::Client::builder()
            .timeout(QUERY_TIMEOUT)
            .danger_accept_invalid_certs(insecure)
            .build()
            .map_err(|e| e.to_string())?;
        clients.insert(insecure, c.clone());
        Ok(c)
    }

    /// Runs one instant query; the result must be a single value.
    pub async fn query(&self, ep: &Endpoint, query: &str) -> Outcome {
        let client = match self
            .client(ep.insecure)
            .and_then(|c| PromClient::from(c, &ep.address).map_err(|e| e.to_string()))
        {
            Ok(c) => c,
            Err(e) => return Outcome::Error(format!("metrics server {}: {e}", ep.address)),
        };
        let mut builder = client.query(query);
        for (k, v) in &ep.headers {
            match (
                reqwest::header::HeaderName::from_bytes(k.as_bytes()),
                reqwest::header::HeaderValue::from_str(v),
            ) {
                (Ok(k), Ok(v)) => builder = builder.header(k, v),
                _ => return Outcome::Error(format!("invalid header {k:?}")),
            }
        }
        if let Some(token) = &ep.bearer {
            match reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")) {
                Ok(v) => builder = builder.header(reqwest::header::AUTHORIZATION, v),
                Err(_) => return Outcome::Error("invalid bearer token".into()),
            }
        }
        if let Some((user, password)) = &ep.basic {
            use base64::Engine as _;
            let raw =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            if let Ok(v) = reqwest::header::HeaderValue::from_str(&format!("Basic {raw}")) {
                builder = builder.header(reqwest::header::AUTHORIZATION, v);
            }
        }
        match builder.get().await {
            Ok(result) => outcome(result.data()),
            Err(e) => Outcome::Error(format!("{e} ({})", ep.address)),
        }
    }

    /// Runs every planned check and judges it.
    pub async fn run(&self, planned: &[Planned], now: DateTime<Utc>) -> Vec<MetricStatus> {
        let futures = planned.iter().map(|p| async move {
            match &p.query {
                Ok((q, ep)) => verdict::judge(&p.metric, q, &self.query(ep, q).await, now),
                Err(e) => verdict::judge(&p.metric, "", &Outcome::Error(e.clone()), now),
            }
        });
        futures::future::join_all(futures).await
    }
}

/// Reads one value out of a query result.
pub fn outcome(data: &Data) -> Outcome {
    let value = match data {
        Data::Scalar(s) => s.value(),
        Data::Vector(v) if v.is_empty() => {
            return Outcome::NoData("the query returned no values".into());
        }
        Data::Vector(v) if v.len() > 1 => {
            return Outcome::Error(format!("query returned {} values, expected one", v.len()));
        }
        Data::Vector(v) => v[0].sample().value(),
        Data::Matrix(_) => {
            return Outcome::Error("query returned a range vector, expected one value".into());
        }
    };
    if value.is_nan() {
        Outcome::NoData("the query returned NaN (no requests in the window?)".into())
    } else {
        Outcome::Value(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canary() -> Canary {
        serde_json::from_value(json!({
            "metadata": {"name": "podinfo", "namespace": "test"},
            "spec": {
                "targetRef": {"kind": "Deployment", "name": "podinfo"},
                "service": {"port": 80},
                "analysis": {"stepWeight": 10, "metrics": [
                    {"name": "request-success-rate", "interval": "30s", "thresholdRange": {"min": 99}},
                    {"name": "latency", "templateRef": {"name": "latency"}, "templateVariables": {"reporter": "destination"}, "thresholdRange": {"max": 500}},
                    {"name": "missing", "templateRef": {"name": "nope"}, "thresholdRange": {"max": 1}}
                ]}
            }
        }))
        .unwrap()
    }

    fn latency_template() -> MetricTemplate {
        serde_json::from_value(json!({
            "metadata": {"name": "latency", "namespace": "test"},
            "spec": {"provider": {"type": "prometheus", "address": "http://prom:9090"},
                     "query": "histogram_quantile(0.99, sum(rate(x{reporter=\"{{ variables.reporter }}\", ns=\"{{ namespace }}\", w=\"{{ target }}\"}[{{ interval }}])) by (le))"}
        }))
        .unwrap()
    }

    #[test]
    fn builtin_success_rate_is_flaggers_istio_query() {
        let planned = plan(&canary(), "http://global:9090", &|_, _| None, &|_, _| {
            Err("no secrets here".to_string())
        });
        let (q, ep) = planned[0].query.clone().unwrap();
        assert_eq!(ep.address, "http://global:9090");
        assert!(q.starts_with(r#"sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="test",destination_workload=~"podinfo",response_code!~"5.*"}[30s]))"#), "{q}");
    }

    #[test]
    fn templates_get_their_variables_and_address() {
        let planned = plan(
            &canary(),
            "http://global:9090",
            &|ns, n| (ns == "test" && n == "latency").then(latency_template),
            &|_, _| Err("no secrets here".to_string()),
        );
        let (q, ep) = planned[1].query.clone().unwrap();
        assert_eq!(
            q,
            r#"histogram_quantile(0.99, sum(rate(x{reporter="destination", ns="test", w="podinfo"}[1m])) by (le))"#
        );
        assert_eq!(ep.address, "http://prom:9090");
        assert_eq!(
            planned[2].query,
            Err("MetricTemplate nope.test not found".into())
        );
    }

    #[test]
    fn unknown_variables_are_errors_not_empty_strings() {
        let vars = BTreeMap::new();
        assert!(
            render("x{{ variables.nope }}", &vars)
                .unwrap_err()
                .contains("variables.nope")
        );
        assert!(render("x{{ name", &vars).is_err());
    }

    #[test]
    fn empty_and_nan_results_are_no_data() {
        assert!(matches!(outcome(&Data::Vector(vec![])), Outcome::NoData(_)));
    }
}

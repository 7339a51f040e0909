//! Building the queries of a Canary's metrics: the router's builtin queries, inline
//! queries, and MetricTemplate queries with their provider and credentials. Pure: the
//! templates and Secrets are looked up through the functions passed in.

use std::collections::BTreeMap;

use crate::api::{Canary, CanaryMetric, DEFAULT_METRIC_INTERVAL, MetricTemplate};
use crate::decide::verdict::WINDOW_REQUESTS;
use crate::router::Router;

/// Why a metric's query could not be built or run. Each becomes a failed check that names
/// it; none fails a reconcile.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    #[error("MetricTemplate {name}.{namespace} not found")]
    TemplateNotFound { name: String, namespace: String },
    #[error("metric {0} has no templateRef and is not builtin")]
    NotBuiltin(String),
    #[error("unclosed {{{{ in query template")]
    Unclosed,
    #[error("unknown template variable {{{{ {0} }}}}")]
    UnknownVariable(String),
    #[error("metric provider {0:?} is not supported: serin implements prometheus")]
    Provider(String),
    #[error("Secret {name}.{namespace} not found")]
    SecretNotFound { name: String, namespace: String },
    #[error("Secret {name}.{namespace} could not be read: {message}")]
    SecretUnreadable {
        name: String,
        namespace: String,
        message: String,
    },
    #[error("Secret {name}.{namespace} has neither token nor username and password")]
    SecretKeys { name: String, namespace: String },
    #[error("metrics server {address}: {message}")]
    Client { address: String, message: String },
    #[error("invalid header {0:?}")]
    Header(String),
    #[error("invalid bearer token")]
    Bearer,
    /// The query could not be sent or answered; the text names the cause (see `cause`).
    #[error("metrics server unreachable: {0}")]
    Unreachable(String),
}

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
pub type SecretLookup<'a> = dyn Fn(&str, &str) -> Result<BTreeMap<String, String>, QueryError> + 'a;

/// A query ready to run, or why it could not be built.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub metric: CanaryMetric,
    pub query: Result<(String, Endpoint), QueryError>,
    /// Canary requests in the check's window, when the check needs a minimum.
    pub requests: Option<Result<(String, Endpoint), QueryError>>,
    /// The judge's cumulative counters (see [`super::counters`]), when it has a judge.
    pub counters: Option<super::counters::CounterQueries>,
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

/// Substitutes `{{ name }}` placeholders, the variables of Flagger's query templates; a
/// leading dot (`{{ .name }}`, Go template style) is accepted too. An unknown placeholder
/// is an error, never an empty string.
pub fn render(template: &str, vars: &BTreeMap<String, String>) -> Result<String, QueryError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(QueryError::Unclosed)?;
        let key = after[..end].trim().trim_start_matches('.');
        let value = vars
            .get(key)
            .ok_or_else(|| QueryError::UnknownVariable(key.to_string()))?;
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    // Flagger collapses whitespace so multi-line templates read as one query.
    Ok(out.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Plans the query of each metric of a Canary. `router` has the builtin queries;
/// `templates` resolves a templateRef; `secret` resolves a template's secretRef to its data.
pub fn plan(
    canary: &Canary,
    router: &dyn Router,
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
            let needed = crate::decide::evidence::min_requests(Some(analysis), metric);
            if metric.judge.is_some() {
                let counters =
                    super::counters::plan(canary, metric, router, &server, templates, secret);
                let mut metric = metric.clone();
                metric.min_requests = Some(needed as i64);
                return Planned {
                    metric,
                    query: counters.display(),
                    requests: None,
                    counters: Some(counters),
                };
            }
            let requests = (needed > 0.0).then(|| {
                router
                    .builtin_query(canary, WINDOW_REQUESTS)
                    .ok_or_else(|| QueryError::NotBuiltin(WINDOW_REQUESTS.into()))
                    .and_then(&plain)
            });
            let query = if let Some(r) = &metric.template_ref {
                let ns = r.namespace.clone().unwrap_or_else(|| namespace.clone());
                match templates(&ns, &r.name) {
                    None => Err(QueryError::TemplateNotFound {
                        name: r.name.clone(),
                        namespace: ns,
                    }),
                    Some(t) => endpoint(&t, &ns, &server, secret)
                        .and_then(|ep| render(&t.spec.query, &vars).map(|q| (q, ep))),
                }
            } else if let Some(q) = &metric.query {
                plain(q)
            } else if let Some(q) = router.builtin_query(canary, &metric.name) {
                plain(q)
            } else {
                Err(QueryError::NotBuiltin(metric.name.clone()))
            };
            // The minimum travels with the metric: the decision sees no analysis.
            let mut metric = metric.clone();
            metric.min_requests = Some(needed as i64);
            Planned {
                metric,
                query,
                requests,
                counters: None,
            }
        })
        .collect()
}

pub(super) fn endpoint(
    t: &MetricTemplate,
    namespace: &str,
    default_server: &str,
    secret: &SecretLookup,
) -> Result<Endpoint, QueryError> {
    let p = &t.spec.provider;
    if let Some(kind) = p.type_.as_deref().filter(|k| *k != "prometheus") {
        return Err(QueryError::Provider(kind.to_string()));
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
            return Err(QueryError::SecretKeys {
                name: r.name.clone(),
                namespace: namespace.to_string(),
            });
        }
    }
    Ok(ep)
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
        let planned = plan(
            &canary(),
            &crate::router::istio::Istio,
            "http://global:9090",
            &|_, _| None,
            &|_, _| Err(QueryError::Bearer),
        );
        let (q, ep) = planned[0].query.clone().unwrap();
        assert_eq!(ep.address, "http://global:9090");
        assert!(q.starts_with(r#"sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="test",destination_workload=~"podinfo",response_code!~"5.*"}[30s]))"#), "{q}");
    }

    #[test]
    fn templates_get_their_variables_and_address() {
        let planned = plan(
            &canary(),
            &crate::router::istio::Istio,
            "http://global:9090",
            &|ns, n| (ns == "test" && n == "latency").then(latency_template),
            &|_, _| Err(QueryError::Bearer),
        );
        let (q, ep) = planned[1].query.clone().unwrap();
        assert_eq!(
            q,
            r#"histogram_quantile(0.99, sum(rate(x{reporter="destination", ns="test", w="podinfo"}[1m])) by (le))"#
        );
        assert_eq!(ep.address, "http://prom:9090");
        assert_eq!(
            planned[2].query.clone().map_err(|e| e.to_string()),
            Err("MetricTemplate nope.test not found".into())
        );
    }

    #[test]
    fn unknown_variables_are_errors_not_empty_strings() {
        let vars = BTreeMap::new();
        assert!(
            render("x{{ variables.nope }}", &vars)
                .unwrap_err()
                .to_string()
                .contains("variables.nope")
        );
        assert!(render("x{{ name", &vars).is_err());
    }
}

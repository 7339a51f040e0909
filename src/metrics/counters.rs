//! The evidence judge's look at both versions: four instant queries of cumulative
//! counters (requests and bad events of the canary, then of the primary), read at the
//! same moment. The router's builtin counters (`compare`) or two MetricTemplates, each
//! rendered once per version with `{{ workload }}` and `{{ version }}`.

use crate::api::{Canary, CanaryMetric, JudgeCompare, MetricTemplate, TemplateRef};
use crate::build::PRIMARY_SUFFIX;
use crate::decide::Outcome;
use crate::decide::evidence::latency_bound_ms;
use crate::decide::verdict::{ERRORS_TOTAL, REQUESTS_TOTAL, SLOW_TOTAL};
use crate::judge::{Counters, Sample};
use crate::router::Router;

use super::MetricsSource;
use super::query::{Endpoint, QueryError, SecretLookup, endpoint, render, variables};

/// One planned counter query.
pub type CounterQuery = Result<(String, Endpoint), QueryError>;

/// The four queries of one look, in the order of [`CounterQueries::ORDER`].
#[derive(Debug, Clone, PartialEq)]
pub struct CounterQueries(pub [CounterQuery; 4]);

impl CounterQueries {
    /// What each query counts, in order.
    pub const ORDER: [(&'static str, &'static str); 4] = [
        ("canary", "requests"),
        ("canary", "bad"),
        ("primary", "requests"),
        ("primary", "bad"),
    ];

    /// The canary's bad-event query, shown in status as the check's query.
    pub fn display(&self) -> Result<(String, Endpoint), QueryError> {
        self.0[1].clone()
    }
}

/// Plans the four counter queries of `metric`'s judge.
pub fn plan(
    canary: &Canary,
    metric: &CanaryMetric,
    router: &dyn Router,
    server: &str,
    templates: &dyn Fn(&str, &str) -> Option<MetricTemplate>,
    secret: &SecretLookup,
) -> CounterQueries {
    let target = canary.spec.target_ref.name.clone();
    let primary = format!("{target}{PRIMARY_SUFFIX}");
    let namespace = canary.metadata.namespace.clone().unwrap_or_default();
    let judge = metric.judge.clone().unwrap_or_default();
    let one = |version: &str, workload: &str, bad: bool| -> CounterQuery {
        let mut vars = variables(canary, metric);
        vars.insert("workload".into(), workload.to_string());
        vars.insert("version".into(), version.to_string());
        let plain = Endpoint {
            address: server.to_string(),
            ..Default::default()
        };
        match judge.compare {
            Some(compare) => {
                let name = match (compare, bad) {
                    (_, false) => REQUESTS_TOTAL,
                    (JudgeCompare::ErrorRate, true) => ERRORS_TOTAL,
                    (JudgeCompare::SlowRate, true) => SLOW_TOTAL,
                };
                if compare == JudgeCompare::SlowRate {
                    let text = judge.latency_bound.as_deref().unwrap_or_default();
                    let ms = latency_bound_ms(text).map_err(|e| QueryError::Client {
                        address: server.to_string(),
                        message: format!("latencyBound: {e}"),
                    })?;
                    vars.insert("bound".into(), format!("{ms}"));
                }
                let q = router
                    .builtin_query(canary, name)
                    .ok_or_else(|| QueryError::NotBuiltin(name.into()))?;
                Ok((render(q, &vars)?, plain))
            }
            None => {
                let r = if bad {
                    &judge.bad_template_ref
                } else {
                    &judge.requests_template_ref
                };
                let r: &TemplateRef = r
                    .as_ref()
                    .ok_or_else(|| QueryError::NotBuiltin(metric.name.clone()))?;
                let ns = r.namespace.clone().unwrap_or_else(|| namespace.clone());
                let t = templates(&ns, &r.name).ok_or_else(|| QueryError::TemplateNotFound {
                    name: r.name.clone(),
                    namespace: ns.clone(),
                })?;
                let ep = endpoint(&t, &ns, server, secret)?;
                Ok((render(&t.spec.query, &vars)?, ep))
            }
        }
    };
    CounterQueries([
        one("canary", &target, false),
        one("canary", &target, true),
        one("primary", &primary, false),
        one("primary", &primary, true),
    ])
}

/// Runs the four queries concurrently and reads them as one look, or says why there is
/// none. A request counter with no series reads as 0 (no traffic yet); a bad-event
/// counter with no series reads as 0 only while its version has no requests (otherwise
/// the query is wrong, e.g. a latency bound that is no bucket of the histogram).
pub async fn look(source: &dyn MetricsSource, queries: &CounterQueries) -> Result<Sample, String> {
    let runs = queries.0.iter().map(|q| async move {
        match q {
            Ok((query, ep)) => source.query(ep, query).await,
            Err(e) => Outcome::Error(e.to_string()),
        }
    });
    let outcomes = futures::future::join_all(runs).await;
    let mut values = [0.0; 4];
    for (i, outcome) in outcomes.iter().enumerate() {
        let (version, what) = CounterQueries::ORDER[i];
        values[i] = match outcome {
            Outcome::Value(v) => *v,
            Outcome::NoData(_) if what == "requests" || values[i - 1] == 0.0 => 0.0,
            Outcome::NoData(why) => {
                return Err(format!(
                    "the {version}'s bad-event counter returned nothing while it served \
                     requests: {why}"
                ));
            }
            Outcome::Error(e) => return Err(format!("{version} {what}: {e}")),
        };
    }
    let sample = Sample::new(
        Counters::new(values[0], values[1]),
        Counters::new(values[2], values[3]),
    );
    if sample.is_valid() {
        Ok(sample)
    } else {
        Err(format!(
            "counters out of range (canary {} / {}, primary {} / {})",
            values[0], values[1], values[2], values[3]
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::future::BoxFuture;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn canary(judge: serde_json::Value) -> Canary {
        serde_json::from_value(json!({
            "metadata": {"name": "podinfo", "namespace": "test"},
            "spec": {
                "targetRef": {"kind": "Deployment", "name": "podinfo"},
                "service": {"port": 80},
                "analysis": {"stepWeight": 10, "metrics": [{"name": "errors", "judge": judge}]}
            }
        }))
        .unwrap()
    }

    fn planned(c: &Canary) -> Vec<String> {
        let metric = &c.spec.analysis.as_ref().unwrap().metrics[0];
        let template = |_: &str, name: &str| -> Option<MetricTemplate> {
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "test"},
                "spec": {"provider": {}, "query": format!("sum({name}{{app=\"{{{{ workload }}}}\",v=\"{{{{ version }}}}\"}})")}
            }))
            .ok()
        };
        plan(
            c,
            metric,
            &crate::router::istio::Istio,
            "http://prom:9090",
            &template,
            &|_, _| Ok(BTreeMap::new()),
        )
        .0
        .iter()
        .map(|q| q.clone().map(|(q, _)| q).unwrap_or_else(|e| e.to_string()))
        .collect()
    }

    #[test]
    fn istio_counters_are_cumulative_per_workload() {
        let q = planned(&canary(json!({"compare": "error-rate"})));
        assert!(q[0].starts_with(r#"sum(istio_requests_total{reporter="destination",destination_workload_namespace="test",destination_workload="podinfo"})"#), "{}", q[0]);
        assert!(
            q[1].contains(r#"destination_workload="podinfo",response_code=~"5.*""#),
            "{}",
            q[1]
        );
        assert!(
            q[2].contains(r#"destination_workload="podinfo-primary""#),
            "{}",
            q[2]
        );
        assert!(
            q.iter().all(|q| !q.contains('[')),
            "no range windows: {q:?}"
        );
        let slow = planned(&canary(
            json!({"compare": "slow-rate", "latencyBound": "500ms"}),
        ));
        assert!(slow[1].contains(r#"le="500""#), "{}", slow[1]);
    }

    #[test]
    fn a_template_pair_is_rendered_per_version() {
        let q = planned(&canary(json!({
            "requestsTemplateRef": {"name": "reqs"},
            "badTemplateRef": {"name": "bad"}
        })));
        assert_eq!(
            q,
            vec![
                r#"sum(reqs{app="podinfo",v="canary"})"#,
                r#"sum(bad{app="podinfo",v="canary"})"#,
                r#"sum(reqs{app="podinfo-primary",v="primary"})"#,
                r#"sum(bad{app="podinfo-primary",v="primary"})"#,
            ]
        );
    }

    /// Answers each query by the first word it contains.
    struct Fake(Vec<(&'static str, Outcome)>);

    impl MetricsSource for Fake {
        fn query<'a>(&'a self, _: &'a Endpoint, query: &'a str) -> BoxFuture<'a, Outcome> {
            let found = self.0.iter().find(|(k, _)| query.contains(k));
            let outcome = found.map_or(Outcome::NoData("none".into()), |(_, o)| o.clone());
            Box::pin(async move { outcome })
        }
    }

    fn queries() -> CounterQueries {
        let ep = Endpoint::default();
        CounterQueries(
            ["c-req", "c-bad", "p-req", "p-bad"].map(|q| Ok((q.to_string(), ep.clone()))),
        )
    }

    #[tokio::test]
    async fn missing_series_read_as_no_traffic_but_not_as_no_errors() {
        let quiet = Fake(vec![
            ("p-req", Outcome::Value(50.0)),
            ("p-bad", Outcome::Value(1.0)),
        ]);
        let sample = look(&quiet, &queries()).await.unwrap();
        assert_eq!(sample.canary, Counters::new(0.0, 0.0));
        assert_eq!(sample.primary, Counters::new(50.0, 1.0));
        let wrong = Fake(vec![
            ("c-req", Outcome::Value(10.0)),
            ("p-req", Outcome::Value(50.0)),
        ]);
        let err = look(&wrong, &queries()).await.unwrap_err();
        assert!(
            err.contains("canary's bad-event counter returned nothing"),
            "{err}"
        );
        let down = Fake(vec![("c-req", Outcome::Error("refused".into()))]);
        assert_eq!(
            look(&down, &queries()).await.unwrap_err(),
            "canary requests: refused"
        );
    }
}

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

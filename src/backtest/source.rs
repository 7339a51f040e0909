//! The backtest's Prometheus IO: serin's weight history (a range query), and the
//! Canary's checks and both versions' counters at a past instant (instant queries with
//! `time=`, through [`crate::metrics::Prometheus`], so errors name their cause the same
//! way serin's live checks do).

use chrono::{DateTime, TimeDelta, Utc};
use prometheus_http_query::response::Data;

use super::replay::Look;
use super::rollouts::Point;
use super::{Error, promql_string};
use crate::api::MetricStatus;
use crate::decide::Outcome;
use crate::decide::verdict::judge;
use crate::judge::{Counters, Sample};
use crate::metrics::{Endpoint, Planned, Prometheus};

/// Timeout of the range query, which may cover days of history.
const RANGE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The PromQL of a counter of one version: cumulative requests and bad events.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct CounterQueries {
    pub(super) requests: String,
    pub(super) bad: String,
}

/// The counters of both versions that one judge compares.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Comparison {
    /// The metric the judge belongs to.
    pub(super) metric: String,
    pub(super) canary: CounterQueries,
    pub(super) primary: CounterQueries,
}

/// Prometheus as the backtest reads it.
pub(super) struct Source {
    pub(super) endpoint: Endpoint,
    prometheus: Prometheus,
}

impl Source {
    pub(super) fn new(address: &str) -> Source {
        Source {
            endpoint: Endpoint {
                address: address.to_string(),
                ..Default::default()
            },
            prometheus: Prometheus::default(),
        }
    }

    /// Fails with the cause named when Prometheus cannot answer a trivial query.
    pub(super) async fn check(&self) -> Result<(), Error> {
        match self
            .prometheus
            .query_at(&self.endpoint, "vector(1)", Utc::now())
            .await
        {
            Ok(Outcome::Error(message)) => Err(Error::Prometheus(message)),
            Ok(_) => Ok(()),
            Err(e) => Err(Error::Prometheus(e.to_string())),
        }
    }

    /// The canary's weight as serin exported it (`serin_canary_weight` of the target),
    /// the largest value over serin replicas, every `step` from `start` to `end`.
    pub(super) async fn weights(
        &self,
        namespace: &str,
        target: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        step: std::time::Duration,
    ) -> Result<Vec<Point>, Error> {
        let query = weight_query(namespace, target);
        let http = reqwest::Client::builder()
            .timeout(RANGE_TIMEOUT)
            .build()
            .map_err(|e| Error::Prometheus(e.to_string()))?;
        let client = prometheus_http_query::Client::from(http, &self.endpoint.address)
            .map_err(|e| Error::Prometheus(format!("{}: {e}", self.endpoint.address)))?;
        let response = client
            .query_range(
                &query,
                start.timestamp(),
                end.timestamp(),
                step.as_secs_f64().max(0.001),
            )
            .get()
            .await
            .map_err(|e| {
                Error::Prometheus(crate::metrics::cause::describe(
                    &self.endpoint.address,
                    &e,
                    RANGE_TIMEOUT,
                ))
            })?;
        let mut points = Vec::new();
        if let Data::Matrix(series) = response.data() {
            for s in series {
                for sample in s.samples() {
                    if let Some(at) = time_of(sample.timestamp()) {
                        points.push(Point {
                            at,
                            weight: sample.value(),
                        });
                    }
                }
            }
        }
        points.sort_by_key(|p| p.at);
        Ok(points)
    }

    /// The Canary's threshold checks at `at`, judged as serin judges them, and both
    /// versions' counters at the same instant.
    pub(super) async fn look(
        &self,
        planned: &[Planned],
        comparisons: &[Comparison],
        at: DateTime<Utc>,
    ) -> Result<Look, Error> {
        let checks = futures::future::join_all(planned.iter().map(|p| async move {
            let (query, outcome) = match &p.query {
                Ok((q, ep)) => (q.clone(), self.outcome(ep, q, at).await),
                Err(e) => (String::new(), Ok(Outcome::Error(e.to_string()))),
            };
            outcome.map(|o| MetricStatus {
                mode: p.metric.mode,
                ..judge(&p.metric, &query, &o, at)
            })
        }))
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
        let mut samples = Vec::new();
        for c in comparisons {
            samples.push(self.sample(c, at).await?);
        }
        Ok(Look {
            at,
            checks,
            samples,
        })
    }

    /// Both versions' counters at `at`, or `None` when either is missing.
    pub(super) async fn sample(
        &self,
        c: &Comparison,
        at: DateTime<Utc>,
    ) -> Result<Option<Sample>, Error> {
        let canary = self.counters(&c.canary, at).await?;
        let primary = self.counters(&c.primary, at).await?;
        Ok(canary.zip(primary).map(|(c, p)| Sample::new(c, p)))
    }

    async fn counters(
        &self,
        q: &CounterQueries,
        at: DateTime<Utc>,
    ) -> Result<Option<Counters>, Error> {
        let requests = self.value(&q.requests, at).await?;
        let bad = self.value(&q.bad, at).await?;
        Ok(requests.zip(bad).map(|(r, b)| Counters::new(r, b)))
    }

    /// The phase serin exported once a rollout ended (`serin_canary_status`: 1 after a
    /// promotion, 2 after a rollback), within `window` after `end` (the last reconcile
    /// of a promotion may come a moment after the weight went back to 0).
    pub(super) async fn phase_after(
        &self,
        namespace: &str,
        name: &str,
        end: DateTime<Utc>,
        window: std::time::Duration,
    ) -> Result<Option<String>, Error> {
        let query = format!(
            "max(max_over_time(serin_canary_status{{namespace={},name={}}}[{}ms]))",
            promql_string(namespace),
            promql_string(name),
            window.as_millis().max(1)
        );
        Ok(match self.value(&query, after(end, window)).await? {
            Some(v) if v == 1.0 => Some("succeeded".into()),
            Some(v) if v == 2.0 => Some("failed".into()),
            _ => None,
        })
    }

    async fn value(&self, query: &str, at: DateTime<Utc>) -> Result<Option<f64>, Error> {
        match self.outcome(&self.endpoint, query, at).await? {
            Outcome::Value(v) => Ok(Some(v)),
            Outcome::NoData(_) => Ok(None),
            Outcome::Error(e) => Err(Error::Query {
                query: query.to_string(),
                message: e,
            }),
        }
    }

    /// One instant query at `at`; an unreachable server ends the backtest (every other
    /// look would fail the same way), anything else is the check's own outcome.
    async fn outcome(
        &self,
        ep: &Endpoint,
        query: &str,
        at: DateTime<Utc>,
    ) -> Result<Outcome, Error> {
        match self.prometheus.query_at(ep, query, at).await {
            Ok(o) => Ok(o),
            Err(e @ crate::metrics::QueryError::Unreachable(_)) => {
                Err(Error::Prometheus(e.to_string()))
            }
            Err(e) => Ok(Outcome::Error(e.to_string())),
        }
    }
}

/// The weight series of a Canary's target, as the backtest searches it.
pub(super) fn weight_query(namespace: &str, target: &str) -> String {
    format!(
        "max(serin_canary_weight{{namespace={},workload={}}})",
        promql_string(namespace),
        promql_string(target)
    )
}

fn time_of(seconds: f64) -> Option<DateTime<Utc>> {
    if !seconds.is_finite() {
        return None;
    }
    let millis = (seconds * 1000.0).round() as i64;
    DateTime::from_timestamp_millis(millis)
}

/// A moment after `at`, saturating.
pub(super) fn after(at: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| at.checked_add_signed(d))
        .unwrap_or(at)
}

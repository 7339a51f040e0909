//! The backtest's Prometheus IO: serin's weight history (a range query), and the
//! Canary's checks and both versions' counters at a past instant (instant queries with
//! `time=`, through [`crate::metrics::Prometheus`], so errors name their cause the same
//! way serin's live checks do).

use chrono::{DateTime, TimeDelta, Utc};
use prometheus_http_query::response::Data;

use super::replay::Look;
use super::rollouts::Point;
use std::sync::Mutex;

use super::{Error, promql_string};

use futures::future::BoxFuture;

use crate::api::{MetricMode, MetricStatus};
use crate::decide::Outcome;
use crate::metrics::{Endpoint, MetricsSource, Planned, Prometheus};

/// Prometheus at a past instant, as a [`MetricsSource`]: every query carries `time=`.
/// An unreachable server is remembered, so that the backtest stops with its cause
/// rather than replaying every look as an error.
struct At<'a> {
    prometheus: &'a Prometheus,
    at: DateTime<Utc>,
    unreachable: Mutex<Option<String>>,
}

impl MetricsSource for At<'_> {
    fn query<'a>(&'a self, endpoint: &'a Endpoint, query: &'a str) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            match self.prometheus.query_at(endpoint, query, self.at).await {
                Ok(o) => o,
                Err(e) => {
                    if matches!(e, crate::metrics::QueryError::Unreachable(_))
                        && let Ok(mut u) = self.unreachable.lock()
                    {
                        u.get_or_insert_with(|| e.to_string());
                    }
                    Outcome::Error(e.to_string())
                }
            }
        })
    }
}

/// Timeout of the range query, which may cover days of history.
const RANGE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

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
        self.series(&weight_query(namespace, target), start, end, step)
            .await
    }

    /// One series over a range, every `step`, sorted by time.
    async fn series(
        &self,
        query: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        step: std::time::Duration,
    ) -> Result<Vec<Point>, Error> {
        let http = reqwest::Client::builder()
            .timeout(RANGE_TIMEOUT)
            .build()
            .map_err(|e| Error::Prometheus(e.to_string()))?;
        let client = prometheus_http_query::Client::from(http, &self.endpoint.address)
            .map_err(|e| Error::Prometheus(format!("{}: {e}", self.endpoint.address)))?;
        let response = client
            .query_range(
                query,
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

    /// Every planned check at `at`, measured by [`crate::metrics::measure`] as serin
    /// measures them live: the threshold checks judged (with their mode, and
    /// `Insufficient` below their minimum of requests), and the counters of each judge,
    /// in the order of `planned`.
    pub(super) async fn look(&self, planned: &[Planned], at: DateTime<Utc>) -> Result<Look, Error> {
        let past = At {
            prometheus: &self.prometheus,
            at,
            unreachable: Mutex::new(None),
        };
        let measured = crate::metrics::measure(&past, planned, at).await;
        if let Some(cause) = past.unreachable.lock().ok().and_then(|mut u| u.take()) {
            return Err(Error::Prometheus(cause));
        }
        let mut checks = Vec::new();
        let mut samples = Vec::new();
        for m in &measured {
            match &m.counters {
                Some(look) => samples.push(look.as_ref().ok().copied()),
                None => {
                    let mode = crate::decide::evidence::mode(&m.metric);
                    checks.push(MetricStatus {
                        mode: (mode != MetricMode::Gate).then_some(mode),
                        ..crate::decide::evidence::window_check(m)
                    });
                }
            }
        }
        Ok(Look {
            at,
            checks,
            samples,
        })
    }

    /// The phase serin exported once a rollout ended (`serin_canary_status`: 1 after a
    /// promotion, 2 after a rollback): the first of them between `end` and `until` (a
    /// promotion finishes a few reconciles after the weight went back to 0).
    pub(super) async fn phase_after(
        &self,
        namespace: &str,
        name: &str,
        end: DateTime<Utc>,
        until: DateTime<Utc>,
        step: std::time::Duration,
    ) -> Result<Option<String>, Error> {
        let query = format!(
            "max(serin_canary_status{{namespace={},name={}}})",
            promql_string(namespace),
            promql_string(name)
        );
        let points = self.series(&query, end, until.max(end), step).await?;
        Ok(points.iter().find_map(|p| {
            if p.weight == 1.0 {
                Some("succeeded".to_string())
            } else if p.weight == 2.0 {
                Some("failed".to_string())
            } else {
                None
            }
        }))
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

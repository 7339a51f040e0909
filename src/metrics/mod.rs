//! Metrics IO: building each metric's query ([`query`]) and running it against a
//! [`MetricsSource`] (Prometheus in production, a fake in the wiring test). It measures and
//! never judges: the [`Measurement`]s go to the decision, which holds the verdict logic.

pub mod cause;
pub mod counters;
pub mod prometheus;
pub mod query;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use crate::decide::{Measurement, Outcome};
pub use prometheus::Prometheus;
pub use query::{Endpoint, Planned, QueryError};

/// Where metric values come from. Object safe (a boxed future) so the controller holds an
/// `Arc<dyn MetricsSource>` and tests can pass their own.
pub trait MetricsSource: Send + Sync {
    /// Runs one instant query; the result must be a single value.
    fn query<'a>(&'a self, endpoint: &'a Endpoint, query: &'a str) -> BoxFuture<'a, Outcome>;
}

/// Runs every planned query, concurrently; a query that could not be built is measured as
/// its error. `at` is when the step's measurements are taken.
pub async fn measure(
    source: &dyn MetricsSource,
    planned: &[Planned],
    at: DateTime<Utc>,
) -> Vec<Measurement> {
    let run = |q: &'_ Result<(String, Endpoint), QueryError>| {
        let q = q.clone();
        async move {
            match &q {
                Ok((text, ep)) => (text.clone(), source.query(ep, text).await),
                Err(e) => (String::new(), Outcome::Error(e.to_string())),
            }
        }
    };
    let futures = planned.iter().map(|p| async move {
        // A judge reads its counters only; its "query" is shown, not run.
        if let Some(counters) = &p.counters {
            let query = p.query.as_ref().map(|(q, _)| q.clone()).unwrap_or_default();
            return Measurement {
                metric: p.metric.clone(),
                query,
                outcome: Outcome::NoData("read by the judge".into()),
                at,
                requests: None,
                counters: Some(counters::look(source, counters).await),
            };
        }
        let requests = async {
            match &p.requests {
                Some(q) => Some(run(q).await.1),
                None => None,
            }
        };
        let ((query, outcome), requests) = futures::join!(run(&p.query), requests);
        Measurement {
            metric: p.metric.clone(),
            query,
            outcome,
            at,
            requests,
            counters: None,
        }
    });
    futures::future::join_all(futures).await
}

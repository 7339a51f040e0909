//! Metrics IO: building each metric's query ([`query`]) and running it against a
//! [`MetricsSource`] (Prometheus in production, a fake in the wiring test). It measures and
//! never judges: the [`Measurement`]s go to the decision, which holds the verdict logic.

pub mod cause;
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
    let futures = planned.iter().map(|p| async move {
        let (query, outcome) = match &p.query {
            Ok((q, ep)) => (q.clone(), source.query(ep, q).await),
            Err(e) => (String::new(), Outcome::Error(e.to_string())),
        };
        Measurement {
            metric: p.metric.clone(),
            query,
            outcome,
            at,
        }
    });
    futures::future::join_all(futures).await
}

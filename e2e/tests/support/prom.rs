//! Prometheus' HTTP API for the whole-chain tests: PromQL polled until a
//! condition holds or a deadline passes.

use std::time::Duration;

use tokio::time::Instant;

/// Pause between two polls of a condition.
const POLL: Duration = Duration::from_millis(250);

/// Prometheus' HTTP API.
pub struct Prom(prometheus_http_query::Client);

impl Prom {
    pub fn new(url: &str) -> Prom {
        Prom(prometheus_http_query::Client::try_from(url).expect("prometheus url"))
    }

    /// The single value of an instant query, or none for an empty result.
    pub async fn value(&self, query: &str) -> Option<f64> {
        let response = self.0.query(query).get().await.ok()?;
        match response.data() {
            prometheus_http_query::response::Data::Vector(v) => {
                v.first().map(|s| s.sample().value())
            }
            prometheus_http_query::response::Data::Scalar(s) => Some(s.value()),
            prometheus_http_query::response::Data::Matrix(_) => None,
        }
        .filter(|v| v.is_finite())
    }

    /// Polls `query` until `holds` accepts its value; panics with the last
    /// value seen when `within` passes first.
    pub async fn wait_for(
        &self,
        what: &str,
        query: &str,
        within: Duration,
        holds: impl Fn(f64) -> bool,
    ) -> f64 {
        let deadline = Instant::now() + within;
        loop {
            let last = self.value(query).await;
            if let Some(value) = last.filter(|v| holds(*v)) {
                eprintln!("{what}: {value}");
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not within {within:?}; last value {last:?} of\n{query}"
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Collapses whitespace, as Flagger does before sending a query.
pub fn promql(query: &str) -> String {
    query.split_whitespace().collect::<Vec<_>>().join(" ")
}

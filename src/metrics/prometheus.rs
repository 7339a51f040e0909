//! The Prometheus HTTP API as a [`MetricsSource`] (prometheus-http-query), reusing one HTTP
//! client per TLS setting.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use futures::future::BoxFuture;
use prometheus_http_query::Client as PromClient;
use prometheus_http_query::response::Data;

use super::MetricsSource;
use super::query::{Endpoint, QueryError};
use crate::decide::Outcome;
use crate::hooks::HostMapping;

/// Timeout of one query, as Flagger's.
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs queries, reusing one HTTP client per TLS setting.
#[derive(Default)]
pub struct Prometheus {
    clients: Mutex<HashMap<bool, reqwest::Client>>,
    /// `--resolve` host mappings: a template's in-cluster address (e.g.
    /// `http://prometheus.istio-system:9090`) reaches the mapped address instead, as a
    /// webhook URL does, for serin running outside the cluster.
    mappings: Vec<HostMapping>,
}

impl Prometheus {
    /// A source sending queries for a mapped host to its mapped address.
    pub fn with_mappings(mappings: Vec<HostMapping>) -> Prometheus {
        Prometheus {
            mappings,
            ..Default::default()
        }
    }

    /// `address` with the mapped port when it names a host mapped with an explicit port
    /// (without one, the client's DNS override supplies the mapped port).
    fn mapped(&self, address: &str) -> String {
        let Ok(mut url) = reqwest::Url::parse(address) else {
            return address.to_string();
        };
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        match self.mappings.iter().find(|m| m.host == host) {
            Some(m) if url.port().is_some() => {
                let _ = url.set_port(Some(m.addr.port()));
                url.as_str().trim_end_matches('/').to_string()
            }
            _ => address.to_string(),
        }
    }

    /// The client for `ep` (one per TLS setting), or why there is none.
    fn client(&self, ep: &Endpoint) -> Result<PromClient, QueryError> {
        let failed = |message: String| QueryError::Client {
            address: ep.address.clone(),
            message,
        };
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| failed("client cache poisoned".into()))?;
        let http = match clients.get(&ep.insecure) {
            Some(c) => c.clone(),
            None => {
                let mut builder = reqwest::Client::builder()
                    .timeout(QUERY_TIMEOUT)
                    .danger_accept_invalid_certs(ep.insecure);
                for m in &self.mappings {
                    builder = builder.resolve(&m.host, m.addr);
                }
                let c = builder.build().map_err(|e| failed(e.to_string()))?;
                clients.insert(ep.insecure, c.clone());
                c
            }
        };
        PromClient::from(http, &self.mapped(&ep.address)).map_err(|e| failed(e.to_string()))
    }

    /// Runs one instant query evaluated at `at` (Prometheus' `time=`, to the millisecond),
    /// as `serin backtest` replays a past step; the result must be a single value.
    pub async fn query_at(
        &self,
        ep: &Endpoint,
        query: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Outcome, QueryError> {
        self.instant(ep, query, Some(at)).await
    }

    /// Runs one instant query, now or at `at`; the result must be a single value.
    async fn instant(
        &self,
        ep: &Endpoint,
        query: &str,
        at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Outcome, QueryError> {
        let client = self.client(ep)?;
        let mut builder = client.query(query);
        if let Some(at) = at {
            let seconds = at.timestamp_millis() as f64 / 1000.0;
            builder = builder.query("time", format!("{seconds:.3}"));
        }
        for (k, v) in &ep.headers {
            match (
                reqwest::header::HeaderName::from_bytes(k.as_bytes()),
                reqwest::header::HeaderValue::from_str(v),
            ) {
                (Ok(k), Ok(v)) => builder = builder.header(k, v),
                _ => return Err(QueryError::Header(k.clone())),
            }
        }
        if let Some(token) = &ep.bearer {
            match reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")) {
                Ok(v) => builder = builder.header(reqwest::header::AUTHORIZATION, v),
                Err(_) => return Err(QueryError::Bearer),
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
            Ok(result) => Ok(outcome(result.data())),
            Err(e) => Err(QueryError::Unreachable(super::cause::describe(
                &ep.address,
                &e,
                QUERY_TIMEOUT,
            ))),
        }
    }
}

impl MetricsSource for Prometheus {
    fn query<'a>(&'a self, endpoint: &'a Endpoint, query: &'a str) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            self.instant(endpoint, query, None)
                .await
                .unwrap_or_else(|e| Outcome::Error(e.to_string()))
        })
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

    #[test]
    fn a_mapped_address_keeps_its_host_and_takes_the_mapped_port() {
        let m: HostMapping = "prometheus.istio-system=127.0.0.1:39090".parse().unwrap();
        let p = Prometheus::with_mappings(vec![m]);
        assert_eq!(
            p.mapped("http://prometheus.istio-system:9090"),
            "http://prometheus.istio-system:39090"
        );
        assert_eq!(
            p.mapped("http://prometheus.istio-system"),
            "http://prometheus.istio-system"
        );
        assert_eq!(p.mapped("http://other:9090"), "http://other:9090");
    }

    /// A real refused connection (a port nobody listens on) is named as such, not as
    /// "failed to send request to server".
    #[tokio::test]
    async fn a_refused_connection_names_its_cause() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let address = format!("http://127.0.0.1:{port}");
        let ep = Endpoint {
            address: address.clone(),
            headers: vec![],
            bearer: None,
            basic: None,
            insecure: false,
        };
        let outcome = Prometheus::default().query(&ep, "up").await;
        let expected = format!("metrics server unreachable: connection refused to {address}");
        assert_eq!(outcome, Outcome::Error(expected));
    }

    #[test]
    fn empty_and_nan_results_are_no_data() {
        assert!(matches!(outcome(&Data::Vector(vec![])), Outcome::NoData(_)));
    }
}

//! Helpers of the whole-chain tests: a namespace per test, objects from
//! inline YAML, and PromQL polled until a condition holds or a deadline
//! passes.

use std::fmt::Debug;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, PostParams};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

/// Pause between two polls of a condition.
const POLL: Duration = Duration::from_millis(250);

/// A namespace of its own for one test, deleted by [`TestNamespace::delete`].
pub struct TestNamespace {
    pub name: String,
    client: Client,
}

impl TestNamespace {
    pub async fn create(client: &Client, prefix: &str) -> TestNamespace {
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("{prefix}-{}", &suffix[..8]);
        let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": name}}))
            .expect("namespace");
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("create namespace");
        TestNamespace {
            name,
            client: client.clone(),
        }
    }

    /// Creates an object written as YAML in this namespace.
    pub async fn create_yaml<K>(&self, yaml: &str) -> K
    where
        K: Resource<Scope = kube::core::NamespaceResourceScope>
            + Clone
            + Debug
            + Serialize
            + DeserializeOwned,
        K::DynamicType: Default,
    {
        let object: K = serde_saphyr::from_str(yaml).expect("object yaml");
        let api: Api<K> = Api::namespaced(self.client.clone(), &self.name);
        api.create(&PostParams::default(), &object)
            .await
            .expect("create object")
    }

    pub async fn delete(self) {
        let api = Api::<Namespace>::all(self.client.clone());
        let _ = api.delete(&self.name, &DeleteParams::default()).await;
    }
}

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

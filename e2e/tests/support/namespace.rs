//! The namespace of one test: a random name, created at the start and deleted
//! at the end (also when the test fails, by a `kubectl delete` from `Drop`).

use super::{client_for, kubectl, suffix, target};
use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::fmt::Debug;
use std::path::{Path, PathBuf};

/// A namespace of one test.
pub struct TestNs {
    pub name: String,
    pub client: Client,
    /// The kubeconfig `Drop` deletes the namespace through.
    kubeconfig: PathBuf,
    deleted: bool,
}

impl TestNs {
    /// Creates `<prefix>-<random>` on the shared API server ([`target`]).
    pub async fn create(prefix: &str) -> Result<Self> {
        Self::create_at(&target().kubeconfig, prefix).await
    }

    /// Creates `<prefix>-<random>` on the API server of `kubeconfig`, labelled
    /// with the test binary that made it.
    pub async fn create_at(kubeconfig: &Path, prefix: &str) -> Result<Self> {
        let client = client_for(kubeconfig).await?;
        let name = format!("{prefix}-{}", suffix());
        let ns: Namespace = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"e2e.serin.dev/suite": env!("CARGO_CRATE_NAME")}}
        }))?;
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .with_context(|| format!("creating namespace {name}"))?;
        Ok(Self {
            name,
            client,
            kubeconfig: kubeconfig.to_path_buf(),
            deleted: false,
        })
    }

    /// Wraps a namespace of the shared API server created some other way
    /// (e.g. `kubectl create namespace`).
    pub fn adopt(name: &str, client: Client) -> Self {
        Self {
            name: name.to_string(),
            client,
            kubeconfig: target().kubeconfig.clone(),
            deleted: false,
        }
    }

    /// An `Api` for namespaced kind `K` in this namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }

    /// Creates an object written as YAML in this namespace.
    pub async fn create_yaml<K>(&self, yaml: &str) -> Result<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + Debug
            + Serialize
            + DeserializeOwned,
        K::DynamicType: Default,
    {
        let object: K = serde_saphyr::from_str(yaml).context("object yaml")?;
        Ok(self
            .api::<K>()
            .create(&PostParams::default(), &object)
            .await?)
    }

    /// Deletes the namespace (without waiting for its contents to go).
    pub async fn delete(mut self) -> Result<()> {
        self.deleted = true;
        let api = Api::<Namespace>::all(self.client.clone());
        match api.delete(&self.name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        if self.deleted {
            return;
        }
        // Async work cannot run here; a failed test still cleans up after itself.
        let _ = kubectl::blocking_at(
            &self.kubeconfig,
            &[
                "delete",
                "namespace",
                &self.name,
                "--wait=false",
                "--ignore-not-found",
            ],
            None,
        );
    }
}

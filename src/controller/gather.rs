//! Gather: fetches what the decision asked for with [`Next::Gather`](crate::decide::Next).
//! Metrics today (the templates from the cache, the few Secrets they name read directly,
//! the queries run against the [`MetricsSource`](crate::metrics::MetricsSource)); webhooks
//! and gates are called by [`super::hooks`].

use std::collections::BTreeMap;

use chrono::Utc;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::reflector::ObjectRef;

use super::Ctx;
use crate::api::Canary;
use crate::decide::{Inputs, Measurement, Request};
use crate::metrics::{self, QueryError};
use crate::router::Router;

/// Gathers the inputs `request` names; `checksum` is the revision hooks are called for.
pub async fn gather(
    canary: &Canary,
    ctx: &Ctx,
    router: &dyn Router,
    request: Request,
    checksum: &str,
) -> Inputs {
    let metrics = async {
        if request.metrics {
            Some(measure(canary, ctx, router).await)
        } else {
            None
        }
    };
    let hooks = async {
        if request.hooks.is_empty() {
            None
        } else {
            Some(super::hooks::call(canary, ctx, request.hooks, checksum).await)
        }
    };
    let (metrics, hooks) = futures::join!(metrics, hooks);
    Inputs { metrics, hooks }
}

type SecretData = Result<BTreeMap<String, String>, QueryError>;

async fn measure(canary: &Canary, ctx: &Ctx, router: &dyn Router) -> Vec<Measurement> {
    let templates = |ns: &str, name: &str| {
        ctx.templates
            .get(&ObjectRef::new(name).within(ns))
            .map(|t| t.as_ref().clone())
    };
    let secrets = read_secrets(canary, ctx, &templates).await;
    let secret = |ns: &str, name: &str| {
        secrets
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
            .unwrap_or_else(|| {
                Err(QueryError::SecretNotFound {
                    name: name.to_string(),
                    namespace: ns.to_string(),
                })
            })
    };
    let planned = metrics::query::plan(
        canary,
        router,
        &ctx.config.metrics_server,
        &templates,
        &secret,
    );
    metrics::measure(ctx.metrics.as_ref(), &planned, Utc::now()).await
}

/// Reads the Secrets the canary's templates name, once per step: watching every Secret of
/// the cluster would cost far more memory than these few reads.
async fn read_secrets(
    canary: &Canary,
    ctx: &Ctx,
    templates: &(dyn Fn(&str, &str) -> Option<crate::api::MetricTemplate> + Sync),
) -> BTreeMap<(String, String), SecretData> {
    let mut secrets = BTreeMap::new();
    let Some(a) = &canary.spec.analysis else {
        return secrets;
    };
    for m in &a.metrics {
        let Some(r) = &m.template_ref else { continue };
        let ns = r
            .namespace
            .clone()
            .unwrap_or_else(|| canary.namespace().unwrap_or_default());
        let Some(t) = templates(&ns, &r.name) else {
            continue;
        };
        let Some(s) = &t.spec.provider.secret_ref else {
            continue;
        };
        let key = (ns.clone(), s.name.clone());
        if secrets.contains_key(&key) {
            continue;
        }
        let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
        let data = match api.get_opt(&s.name).await {
            Ok(Some(secret)) => Ok(secret
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                .collect()),
            Ok(None) => Err(QueryError::SecretNotFound {
                name: s.name.clone(),
                namespace: ns.clone(),
            }),
            Err(e) => Err(QueryError::SecretUnreadable {
                name: s.name.clone(),
                namespace: ns.clone(),
                message: e.to_string(),
            }),
        };
        secrets.insert(key, data);
    }
    secrets
}

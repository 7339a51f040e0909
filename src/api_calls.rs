//! Counts every Kubernetes API call serin makes, by verb and resource
//! (`serin_kube_api_requests_total`): the figure behind "a handful of writes per step".
//! A tower layer on the kube client, so nothing escapes the count.

use std::task::{Context, Poll};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    pub verb: String,
    pub resource: String,
}

/// The counter family, shared with the telemetry registry.
pub type ApiCounter = Family<ApiLabels, Counter>;

/// Classifies a request the way the API server's audit log does: (verb, resource).
pub fn classify(method: &http::Method, path: &str, query: Option<&str>) -> (&'static str, String) {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    // Skip /api/v1 or /apis/{group}/{version}, then namespaces/{ns} when more follows.
    let mut rest: &[&str] = match segments.first() {
        Some(&"api") => segments.get(2..).unwrap_or(&[]),
        Some(&"apis") => segments.get(3..).unwrap_or(&[]),
        _ => &[],
    };
    if rest.len() > 2 && rest[0] == "namespaces" {
        rest = &rest[2..];
    }
    let resource = match rest {
        [r] | [r, _] => r.to_string(),
        [r, _, sub, ..] => format!("{r}/{sub}"),
        [] => "other".to_string(),
    };
    let named = rest.len() >= 2;
    let watch = query.is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    let verb = match *method {
        http::Method::GET if watch => "watch",
        http::Method::GET if named => "get",
        http::Method::GET => "list",
        http::Method::POST => "create",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE if named => "delete",
        http::Method::DELETE => "deletecollection",
        _ => "other",
    };
    (verb, resource)
}

/// The tower layer.
#[derive(Clone)]
pub struct CountingLayer(pub ApiCounter);

impl<S> tower::Layer<S> for CountingLayer {
    type Service = Counting<S>;
    fn layer(&self, inner: S) -> Counting<S> {
        Counting {
            inner,
            counter: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Counting<S> {
    inner: S,
    counter: ApiCounter,
}

impl<S, B> tower::Service<http::Request<B>> for Counting<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let (verb, resource) = classify(req.method(), req.uri().path(), req.uri().query());
        self.counter
            .get_or_create(&ApiLabels {
                verb: verb.into(),
                resource,
            })
            .inc();
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    #[test]
    fn classifies_like_the_audit_log() {
        let c = |m: Method, p: &str, q: Option<&str>| {
            let (v, r) = classify(&m, p, q);
            (v, r)
        };
        assert_eq!(
            c(
                Method::GET,
                "/apis/apps/v1/namespaces/a/deployments",
                Some("watch=true&timeoutSeconds=290")
            ),
            ("watch", "deployments".into())
        );
        assert_eq!(
            c(Method::GET, "/apis/apps/v1/deployments", Some("limit=500")),
            ("list", "deployments".into())
        );
        assert_eq!(
            c(
                Method::PATCH,
                "/apis/apps/v1/namespaces/a/deployments/x/scale",
                None
            ),
            ("patch", "deployments/scale".into())
        );
        assert_eq!(
            c(
                Method::PUT,
                "/apis/serin.dev/v1beta1/namespaces/a/canaries/x/status",
                None
            ),
            ("update", "canaries/status".into())
        );
        assert_eq!(
            c(Method::GET, "/api/v1/namespaces/a/secrets/s", None),
            ("get", "secrets".into())
        );
        assert_eq!(
            c(
                Method::POST,
                "/apis/events.k8s.io/v1/namespaces/a/events",
                None
            ),
            ("create", "events".into())
        );
        assert_eq!(
            c(Method::GET, "/api/v1/namespaces", None),
            ("list", "namespaces".into())
        );
    }
}

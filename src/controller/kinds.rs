//! Which routing kinds to watch: those of the enabled routers (`--routers`) whose CRDs the
//! API server serves.
//! A watch on a kind the cluster lacks never syncs, and serin is ready only once every
//! cache has synced, so a cluster without Gateway API CRDs (or without Istio's) would keep
//! serin unready for a router nobody uses. Kinds installed later are picked up at the
//! next start of serin.

use kube::Client;
use kube::api::ApiResource;
use tracing::{info, warn};

use crate::decide::Provider;
use crate::router;

/// The routing kinds of every router that the API server serves. A discovery error other
/// than "not found" keeps the kind: the watch then retries and the readiness log names it,
/// rather than a transient failure silently disabling a router.
pub(super) async fn served_routing_kinds(
    client: &Client,
    routers: &[Provider],
) -> Vec<ApiResource> {
    let mut out = Vec::new();
    for ar in router::kinds_of(routers) {
        match client.list_api_group_resources(&ar.api_version).await {
            Ok(list) if list.resources.iter().any(|r| r.name == ar.plural) => out.push(ar),
            Ok(_) => info!(
                kind = ar.kind,
                api_version = ar.api_version,
                "routing kind not served: not watched"
            ),
            Err(kube::Error::Api(e)) if e.code == 404 => {
                info!(
                    kind = ar.kind,
                    api_version = ar.api_version,
                    "routing kind not served: not watched"
                )
            }
            Err(e) => {
                warn!(kind = ar.kind, error = %e, "discovery failed: watching the kind anyway");
                out.push(ar);
            }
        }
    }
    out
}

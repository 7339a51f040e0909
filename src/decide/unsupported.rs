//! Flagger fields serin accepts but does not implement yet. They are reported once (a
//! Warning event and a `Supported=False` condition) instead of being silently ignored.

use crate::api::CanarySpec;

/// The paths of the spec's fields that are set but not implemented by serin or by the
/// Canary's router (`provider`: the spec's, or the default of `--mesh-provider`).
pub fn unsupported_fields(spec: &CanarySpec, provider: &str) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut flag = |set: bool, path: &'static str| {
        if set {
            out.push(path);
        }
    };
    flag(spec.ingress_ref.is_some(), "ingressRef");
    flag(spec.route_ref.is_some(), "routeRef");
    flag(spec.upstream_ref.is_some(), "upstreamRef");
    let s = &spec.service;
    flag(s.port_discovery, "service.portDiscovery");
    flag(s.headless, "service.headless");
    // The Gateway API router carries out `rewrite` (a URLRewrite filter), `mirror`
    // (RequestMirror filters) and `backendTimeout`; Istio's not (yet).
    let gateway_api = provider.starts_with("gatewayapi:");
    flag(s.rewrite.is_some() && !gateway_api, "service.rewrite");
    flag(s.delegation, "service.delegation");
    flag(s.mirror.is_some() && !gateway_api, "service.mirror");
    flag(
        s.backend_timeout.is_some() && !gateway_api,
        "service.backendTimeout",
    );
    flag(s.unmanaged_metadata.is_some(), "service.unmanagedMetadata");
    if let Some(a) = &spec.analysis {
        flag(
            a.session_affinity
                .as_ref()
                .is_some_and(|s| s.has_unimplemented()),
            "analysis.sessionAffinity (primaryCookieName and cookie attributes)",
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_only_what_is_set() {
        let spec: CanarySpec = serde_json::from_value(json!({
            "targetRef": {"kind": "Deployment", "name": "podinfo"},
            "service": {"port": 80, "headless": true},
            "analysis": {"interval": "1m", "iterations": 5, "webhooks": [{"name": "load", "url": "http://x/"}],
                         "alerts": [{"name": "a", "providerRef": {"name": "slack"}}],
                         "mirror": true}
        }))
        .unwrap();
        assert_eq!(unsupported_fields(&spec, "istio"), vec!["service.headless"]);
    }

    #[test]
    fn the_gateway_api_router_carries_out_rewrite_mirror_and_backend_timeout() {
        let spec: CanarySpec = serde_json::from_value(json!({
            "targetRef": {"kind": "Deployment", "name": "podinfo"},
            "service": {"port": 80, "rewrite": {"uri": "/"}, "backendTimeout": "5s",
                        "mirror": [{"backendRef": {"name": "shadow", "port": 80}}]},
        }))
        .unwrap();
        assert!(unsupported_fields(&spec, "gatewayapi:v1").is_empty());
        assert_eq!(
            unsupported_fields(&spec, "istio"),
            vec![
                "service.rewrite",
                "service.mirror",
                "service.backendTimeout"
            ]
        );
    }
}

//! Flagger fields serin accepts but does not implement yet. They are reported once (a
//! Warning event and a `Supported=False` condition) instead of being silently ignored.

use crate::api::CanarySpec;

/// The paths of the spec's fields that are set but not implemented.
pub fn unsupported_fields(spec: &CanarySpec) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut flag = |set: bool, path: &'static str| {
        if set {
            out.push(path);
        }
    };
    flag(spec.autoscaler_ref.is_some(), "autoscalerRef");
    flag(spec.ingress_ref.is_some(), "ingressRef");
    flag(spec.route_ref.is_some(), "routeRef");
    flag(spec.upstream_ref.is_some(), "upstreamRef");
    let s = &spec.service;
    flag(s.app_protocol.is_some(), "service.appProtocol");
    flag(s.port_discovery, "service.portDiscovery");
    flag(s.headless, "service.headless");
    flag(s.rewrite.is_some(), "service.rewrite");
    flag(s.delegation, "service.delegation");
    flag(s.gateway_refs.is_some(), "service.gatewayRefs");
    flag(s.mirror.is_some(), "service.mirror");
    flag(s.unmanaged_metadata.is_some(), "service.unmanagedMetadata");
    if let Some(a) = &spec.analysis {
        flag(a.iterations.is_some_and(|i| i > 0), "analysis.iterations");
        flag(a.match_.is_some(), "analysis.match");
        flag(a.mirror, "analysis.mirror");
        flag(a.mirror_weight.is_some(), "analysis.mirrorWeight");
        flag(
            a.primary_ready_threshold.is_some(),
            "analysis.primaryReadyThreshold",
        );
        flag(
            a.canary_ready_threshold.is_some(),
            "analysis.canaryReadyThreshold",
        );
        flag(a.session_affinity.is_some(), "analysis.sessionAffinity");
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
            "service": {"port": 80},
            "analysis": {"interval": "1m", "stepWeight": 10, "webhooks": [{"name": "load", "url": "http://x/"}],
                         "alerts": [{"name": "a", "providerRef": {"name": "slack"}}],
                         "mirror": true}
        }))
        .unwrap();
        assert_eq!(unsupported_fields(&spec), vec!["analysis.mirror"]);
    }
}

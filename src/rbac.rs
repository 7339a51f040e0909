//! Every Kubernetes API call serin makes, as RBAC rules: the single list the Helm chart's
//! ClusterRole is checked against (`serin rbac` prints it), so the role grants exactly what
//! the code uses. The rules of the routing kinds come from each router.

use serde::Serialize;

/// One RBAC policy rule.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub api_groups: &'static [&'static str],
    pub resources: &'static [&'static str],
    pub verbs: &'static [&'static str],
}

/// The rules of serin's ClusterRole, with the routers' rules (`routers`, from
/// [`crate::router::rbac_rules`]) in the middle, where `serin rbac` always printed them.
pub fn rules(routers: &[Rule]) -> Vec<Rule> {
    let mut out = BEFORE_ROUTERS.to_vec();
    out.extend_from_slice(routers);
    out.extend_from_slice(crate::autoscaling::RULES);
    out.extend_from_slice(AFTER_ROUTERS);
    out
}

const BEFORE_ROUTERS: &[Rule] = &[
    // Canaries: watched; finalizers added and removed with merge patches; status replaced
    // (and patched to clear a reported failure).
    Rule {
        api_groups: &["serin.dev"],
        resources: &["canaries"],
        verbs: &["get", "list", "watch", "patch"],
    },
    Rule {
        api_groups: &["serin.dev"],
        resources: &["canaries/status"],
        verbs: &["update", "patch"],
    },
    // CanaryActions: watched (twice: the Canaries' wake-ups and the actions' own
    // lifecycle), their outcome patched into status, deleted once decided and read.
    Rule {
        api_groups: &["serin.dev"],
        resources: &["canaryactions"],
        verbs: &["get", "list", "watch", "delete"],
    },
    Rule {
        api_groups: &["serin.dev"],
        resources: &["canaryactions/status"],
        verbs: &["patch"],
    },
    Rule {
        api_groups: &["serin.dev"],
        resources: &["metrictemplates"],
        verbs: &["get", "list", "watch"],
    },
    // Read when an alert is sent, so an edited provider takes effect at once.
    Rule {
        api_groups: &["serin.dev"],
        resources: &["alertproviders"],
        verbs: &["get"],
    },
    // Targets and primaries: watched, the primary applied (server-side apply creates it too).
    Rule {
        api_groups: &["apps"],
        resources: &["deployments"],
        verbs: &["get", "list", "watch", "create", "patch"],
    },
    Rule {
        api_groups: &["apps"],
        resources: &["deployments/scale"],
        verbs: &["patch"],
    },
    Rule {
        api_groups: &[""],
        resources: &["services"],
        verbs: &["get", "list", "watch", "create", "patch"],
    },
    // Credentials named by a MetricTemplate's or an AlertProvider's secretRef.
    Rule {
        api_groups: &[""],
        resources: &["secrets"],
        verbs: &["get"],
    },
];

const AFTER_ROUTERS: &[Rule] = &[
    Rule {
        api_groups: &["events.k8s.io"],
        resources: &["events"],
        verbs: &["create", "patch"],
    },
    // Leader election.
    Rule {
        api_groups: &["coordination.k8s.io"],
        resources: &["leases"],
        verbs: &["get", "create", "patch", "update"],
    },
];

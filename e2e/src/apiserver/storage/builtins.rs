//! The built-in kinds the sandbox serves, as registry entries.
//!
//! Besides the kinds serin and its tests use, a few read-mostly kinds (Pod, ReplicaSet,
//! ResourceQuota, LimitRange) are served as plain storage because `kubectl describe` and
//! `kubectl get all` look them up.

use super::registry::{Registry, ResourceDef, ScalePaths, VersionDef, View};
use crate::apiserver::table::builtin_columns;

struct Spec {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    status: bool,
    scale: bool,
    generation: bool,
}

const fn spec(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
) -> Spec {
    Spec {
        group,
        version,
        plural,
        kind,
        namespaced: true,
        short_names: &[],
        categories: &[],
        status: false,
        scale: false,
        generation: false,
    }
}

const ALL: &[&str] = &["all"];

fn specs() -> Vec<Spec> {
    vec![
        Spec {
            namespaced: false,
            short_names: &["ns"],
            status: true,
            ..spec("", "v1", "namespaces", "Namespace")
        },
        Spec {
            short_names: &["svc"],
            categories: ALL,
            status: true,
            ..spec("", "v1", "services", "Service")
        },
        Spec {
            short_names: &["cm"],
            ..spec("", "v1", "configmaps", "ConfigMap")
        },
        spec("", "v1", "secrets", "Secret"),
        Spec {
            short_names: &["ev"],
            ..spec("", "v1", "events", "Event")
        },
        Spec {
            short_names: &["po"],
            categories: ALL,
            status: true,
            ..spec("", "v1", "pods", "Pod")
        },
        Spec {
            short_names: &["quota"],
            status: true,
            ..spec("", "v1", "resourcequotas", "ResourceQuota")
        },
        Spec {
            short_names: &["limits"],
            ..spec("", "v1", "limitranges", "LimitRange")
        },
        Spec {
            short_names: &["sa"],
            ..spec("", "v1", "serviceaccounts", "ServiceAccount")
        },
        Spec {
            short_names: &["deploy"],
            categories: ALL,
            status: true,
            scale: true,
            generation: true,
            ..spec("apps", "v1", "deployments", "Deployment")
        },
        Spec {
            short_names: &["rs"],
            categories: ALL,
            status: true,
            scale: true,
            generation: true,
            ..spec("apps", "v1", "replicasets", "ReplicaSet")
        },
        Spec {
            short_names: &["ev"],
            ..spec("events.k8s.io", "v1", "events", "Event")
        },
        spec("coordination.k8s.io", "v1", "leases", "Lease"),
        Spec {
            short_names: &["hpa"],
            categories: ALL,
            status: true,
            generation: true,
            ..spec(
                "autoscaling",
                "v2",
                "horizontalpodautoscalers",
                "HorizontalPodAutoscaler",
            )
        },
        Spec {
            namespaced: false,
            short_names: &["crd", "crds"],
            categories: &["api-extensions"],
            status: true,
            generation: true,
            ..spec(
                "apiextensions.k8s.io",
                "v1",
                "customresourcedefinitions",
                "CustomResourceDefinition",
            )
        },
    ]
}

/// The field labels a real server lets clients select on, per built-in kind (Events
/// have their own rules, see `events::field_value`).
fn selectable_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "Namespace" => &["status.phase"],
        "Secret" => &["type"],
        "ReplicaSet" => &["status.replicas"],
        "Pod" => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        _ => &[],
    }
}

fn to_def(s: Spec) -> ResourceDef {
    let core_event = s.group.is_empty() && s.plural == "events";
    let storage = if s.plural == "events" {
        "events.k8s.io/events".to_string()
    } else {
        format!("{}/{}", s.group, s.plural)
    };
    ResourceDef {
        group: s.group.to_string(),
        versions: vec![VersionDef {
            name: s.version.to_string(),
            schema: None,
            columns: builtin_columns(s.kind),
            selectable: selectable_fields(s.kind)
                .iter()
                .map(|f| f.to_string())
                .collect(),
        }],
        storage_version: s.version.to_string(),
        plural: s.plural.to_string(),
        singular: s.kind.to_lowercase(),
        kind: s.kind.to_string(),
        list_kind: format!("{}List", s.kind),
        namespaced: s.namespaced,
        short_names: s.short_names.iter().map(|s| s.to_string()).collect(),
        categories: s.categories.iter().map(|s| s.to_string()).collect(),
        status: s.status,
        scale: s.scale.then(|| ScalePaths {
            spec_replicas: ".spec.replicas".into(),
            status_replicas: ".status.replicas".into(),
            label_selector: None,
        }),
        storage,
        view: if core_event {
            View::CoreEvent
        } else {
            View::Plain
        },
        builtin: true,
        generation: s.generation,
    }
}

/// A registry holding the built-in kinds only.
pub fn registry() -> Registry {
    let mut registry = Registry::default();
    for s in specs() {
        registry.insert(to_def(s));
    }
    registry
}

/// Namespaces every cluster starts with.
pub const INITIAL_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

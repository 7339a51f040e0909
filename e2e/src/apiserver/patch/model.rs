//! How the fields of a kind merge: the `patchMergeKey`/`patchStrategy` tags and the
//! `x-kubernetes-list-type`/`listMapKey`/`mapType` markers of k8s.io/api, for the built-in
//! kinds the sandbox serves.
//!
//! Strategic merge patch and server-side apply both read this table. A custom kind has no
//! table: its lists are atomic (the CRD schema is not visible here), except the ones every
//! object shares (`metadata.ownerReferences`, `metadata.finalizers`) and `status.conditions`,
//! which Kubernetes conventions key by `type`.

/// How a list merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListType {
    /// Replaced as a whole.
    Atomic,
    /// Scalars merged as a set (`patchStrategy: merge` on a list of strings).
    Set,
    /// Objects merged by key.
    Map {
        /// The strategic merge patch key (`patchMergeKey`).
        patch_key: &'static str,
        /// The server-side apply keys (`listMapKey`), a superset of `patch_key`.
        keys: &'static [&'static str],
        /// Items are atomic structs (`+structType=atomic`, e.g. owner references).
        atomic_items: bool,
    },
}

const fn keyed(patch_key: &'static str, keys: &'static [&'static str]) -> ListType {
    ListType::Map {
        patch_key,
        keys,
        atomic_items: false,
    }
}

/// The merge rules of one kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TypeModel {
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A kind with a pod template at this path (`spec` for a Pod itself).
    Workload(&'static [&'static str]),
    Service,
    OtherBuiltin,
    Custom,
}

const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

impl TypeModel {
    pub(crate) fn for_kind(kind: &str) -> Self {
        let kind = match kind {
            "Pod" => Kind::Workload(&["spec"]),
            "PodTemplate" => Kind::Workload(&["template", "spec"]),
            "Deployment"
            | "ReplicaSet"
            | "StatefulSet"
            | "DaemonSet"
            | "Job"
            | "ReplicationController" => Kind::Workload(&["spec", "template", "spec"]),
            "CronJob" => Kind::Workload(&["spec", "jobTemplate", "spec", "template", "spec"]),
            "Service" => Kind::Service,
            "Namespace"
            | "ConfigMap"
            | "Secret"
            | "Event"
            | "Lease"
            | "HorizontalPodAutoscaler"
            | "CustomResourceDefinition"
            | "Node"
            | "Endpoints"
            | "EndpointSlice"
            | "ServiceAccount"
            | "ResourceQuota"
            | "LimitRange"
            | "PersistentVolumeClaim"
            | "PodDisruptionBudget"
            | "Ingress"
            | "NetworkPolicy" => Kind::OtherBuiltin,
            _ => Kind::Custom,
        };
        Self { kind }
    }

    /// The merge rule of the list at `path` (field names from the root; list items add none).
    pub(crate) fn list_type(&self, path: &[&str]) -> ListType {
        match path {
            [.., "metadata", "ownerReferences"] => ListType::Map {
                patch_key: "uid",
                keys: &["uid"],
                atomic_items: true,
            },
            [.., "metadata", "finalizers"] => ListType::Set,
            ["status", "conditions"] => keyed("type", &["type"]),
            _ => self.builtin_list_type(path),
        }
    }

    fn builtin_list_type(&self, path: &[&str]) -> ListType {
        match self.kind {
            Kind::Service => match path {
                ["spec", "ports"] => keyed("port", &["port", "protocol"]),
                _ => ListType::Atomic,
            },
            Kind::Workload(prefix) => match path.strip_prefix(prefix) {
                Some(inner) => pod_spec_list(inner),
                None => ListType::Atomic,
            },
            Kind::OtherBuiltin | Kind::Custom => ListType::Atomic,
        }
    }

    /// Maps and structs replaced as a whole by apply (`+mapType=atomic`, `+structType=atomic`).
    pub(crate) fn is_atomic_object(&self, path: &[&str]) -> bool {
        match self.kind {
            Kind::Service => path == ["spec", "selector"],
            Kind::Workload(prefix) => {
                // LabelSelector is an atomic struct; a Pod has no selector.
                prefix.len() > 1
                    && path.len() == prefix.len() - 1
                    && path.last() == Some(&"selector")
                    && path.starts_with(&prefix[..prefix.len() - 2])
            }
            Kind::OtherBuiltin | Kind::Custom => false,
        }
    }

    /// Granular maps (`map[string]string` and the like, as opposed to structs): an Update
    /// that adds one owns the map itself too (`.` in FieldsV1), as on a real server.
    pub(crate) fn is_granular_map(&self, path: &[&str]) -> bool {
        matches!(
            path.last(),
            Some(
                &("labels"
                    | "annotations"
                    | "data"
                    | "binaryData"
                    | "stringData"
                    | "nodeSelector"
                    | "limits"
                    | "requests"
                    | "matchLabels")
            )
        )
    }
}

fn pod_spec_list(path: &[&str]) -> ListType {
    match path {
        [list] if CONTAINER_LISTS.contains(list) => keyed("name", &["name"]),
        [list, field] if CONTAINER_LISTS.contains(list) => match *field {
            "ports" => keyed("containerPort", &["containerPort", "protocol"]),
            "env" => keyed("name", &["name"]),
            "volumeMounts" => keyed("mountPath", &["mountPath"]),
            "volumeDevices" => keyed("devicePath", &["devicePath"]),
            "resizePolicy" => keyed("resourceName", &["resourceName"]),
            _ => ListType::Atomic,
        },
        ["volumes" | "imagePullSecrets" | "schedulingGates" | "resourceClaims"] => {
            keyed("name", &["name"])
        }
        ["hostAliases"] => keyed("ip", &["ip"]),
        ["topologySpreadConstraints"] => {
            keyed("topologyKey", &["topologyKey", "whenUnsatisfiable"])
        }
        _ => ListType::Atomic,
    }
}

/// The value a key field takes when an item omits it (apply keys defaulted fields).
pub(crate) fn key_default(field: &str) -> Option<serde_json::Value> {
    match field {
        "protocol" => Some(serde_json::Value::String("TCP".into())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ports_and_service_ports_merge_on_different_keys() {
        let deployment = TypeModel::for_kind("Deployment");
        let path = ["spec", "template", "spec", "containers", "ports"];
        assert!(matches!(
            deployment.list_type(&path),
            ListType::Map {
                patch_key: "containerPort",
                ..
            }
        ));
        let service = TypeModel::for_kind("Service");
        assert!(matches!(
            service.list_type(&["spec", "ports"]),
            ListType::Map {
                patch_key: "port",
                ..
            }
        ));
    }

    #[test]
    fn pod_lists_are_keyed_as_in_k8s_api() {
        let pod = TypeModel::for_kind("Pod");
        let key = |path: &[&str]| match pod.list_type(path) {
            ListType::Map { patch_key, .. } => Some(patch_key),
            _ => None,
        };
        assert_eq!(key(&["spec", "containers"]), Some("name"));
        assert_eq!(key(&["spec", "initContainers", "env"]), Some("name"));
        assert_eq!(
            key(&["spec", "containers", "volumeMounts"]),
            Some("mountPath")
        );
        assert_eq!(key(&["spec", "volumes"]), Some("name"));
        assert_eq!(key(&["spec", "imagePullSecrets"]), Some("name"));
        assert_eq!(key(&["spec", "hostAliases"]), Some("ip"));
        assert_eq!(
            key(&["spec", "topologySpreadConstraints"]),
            Some("topologyKey")
        );
        assert_eq!(key(&["spec", "tolerations"]), None);
        assert_eq!(key(&["spec", "containers", "args"]), None);
        assert_eq!(key(&["metadata", "ownerReferences"]), Some("uid"));
        assert_eq!(key(&["status", "conditions"]), Some("type"));
        assert_eq!(pod.list_type(&["metadata", "finalizers"]), ListType::Set);
    }

    #[test]
    fn cronjob_template_is_found_under_job_template() {
        let cron = TypeModel::for_kind("CronJob");
        let path = [
            "spec",
            "jobTemplate",
            "spec",
            "template",
            "spec",
            "containers",
        ];
        assert!(matches!(
            cron.list_type(&path),
            ListType::Map {
                patch_key: "name",
                ..
            }
        ));
    }

    #[test]
    fn custom_kinds_have_atomic_lists_but_shared_conventions() {
        let canary = TypeModel::for_kind("Canary");
        assert_eq!(
            canary.list_type(&["spec", "analysis", "metrics"]),
            ListType::Atomic
        );
        assert_eq!(
            canary.list_type(&["spec", "template", "spec", "containers"]),
            ListType::Atomic
        );
        assert!(matches!(
            canary.list_type(&["status", "conditions"]),
            ListType::Map { .. }
        ));
    }

    #[test]
    fn selectors_are_atomic() {
        assert!(TypeModel::for_kind("Deployment").is_atomic_object(&["spec", "selector"]));
        assert!(TypeModel::for_kind("Service").is_atomic_object(&["spec", "selector"]));
        assert!(!TypeModel::for_kind("Deployment").is_atomic_object(&["spec", "template"]));
        assert!(!TypeModel::for_kind("Pod").is_atomic_object(&["spec", "selector"]));
    }
}

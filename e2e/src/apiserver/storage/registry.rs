//! The served resources: what each one is called, where it is stored, what it supports.
//!
//! Built-in kinds come from [`super::builtins`]; CustomResourceDefinitions add and remove
//! entries at run time ([`super::crd`]). Several served resources may share one storage
//! (core/v1 and events.k8s.io/v1 events), hence the separate `storage` key.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::apiserver::table::PrinterColumn;

/// How objects are converted between storage and the served form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Stored as served (only `apiVersion` follows the requested version).
    Plain,
    /// core/v1 Event over the events.k8s.io/v1 storage.
    CoreEvent,
}

/// The paths of a `scale` subresource (CRD `subresources.scale`, or Deployment's own).
#[derive(Debug, Clone, PartialEq)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    pub label_selector: Option<String>,
}

/// What is known about one served version of a resource.
#[derive(Debug, Clone, Default)]
pub struct VersionDef {
    pub name: String,
    /// The CRD's `openAPIV3Schema` (None for built-ins).
    pub schema: Option<Value>,
    pub columns: Vec<PrinterColumn>,
    /// Field-selector labels beyond `metadata.name`/`metadata.namespace`
    /// (a CRD version's `selectableFields`, a built-in kind's own).
    pub selectable: Vec<String>,
}

/// A served resource (one plural in one group, all its served versions).
#[derive(Debug, Clone)]
pub struct ResourceDef {
    pub group: String,
    pub versions: Vec<VersionDef>,
    pub storage_version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub list_kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub status: bool,
    pub scale: Option<ScalePaths>,
    /// Storage key shared by every view of the same objects.
    pub storage: String,
    pub view: View,
    /// Built-in kinds are typed (strategic merge patch, k8s-openapi round trip).
    pub builtin: bool,
    /// `metadata.generation` is maintained.
    pub generation: bool,
}

impl ResourceDef {
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    pub fn version(&self, version: &str) -> Option<&VersionDef> {
        self.versions.iter().find(|v| v.name == version)
    }

    /// `deployments.apps` or `configmaps`.
    pub fn qualified(&self) -> String {
        crate::apiserver::error::qualified(&self.group, &self.plural)
    }

    pub fn has_subresource(&self, sub: &str) -> bool {
        match sub {
            "status" => self.status,
            "scale" => self.scale.is_some(),
            _ => false,
        }
    }
}

/// All served resources, indexed by (group, plural).
#[derive(Debug, Default, Clone)]
pub struct Registry {
    defs: BTreeMap<(String, String), Arc<ResourceDef>>,
    /// Bumped on every change, so discovery/OpenAPI hashes change too.
    pub generation: u64,
}

impl Registry {
    pub fn insert(&mut self, def: ResourceDef) {
        self.defs
            .insert((def.group.clone(), def.plural.clone()), Arc::new(def));
        self.generation += 1;
    }

    pub fn remove(&mut self, group: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        self.generation += 1;
        self.defs.remove(&(group.to_string(), plural.to_string()))
    }

    pub fn get(&self, group: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        self.defs
            .get(&(group.to_string(), plural.to_string()))
            .cloned()
    }

    /// The resource served at `group/version/plural`, if that version is served.
    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        self.get(group, plural)
            .filter(|d| d.version(version).is_some())
    }

    /// Every served resource that stores into `storage`.
    pub fn by_storage(&self, storage: &str) -> Option<Arc<ResourceDef>> {
        self.defs
            .values()
            .find(|d| d.storage == storage && d.view == View::Plain)
            .cloned()
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<ResourceDef>> {
        self.defs.values()
    }

    /// Groups with their versions, in the order discovery lists them (core first, then
    /// built-in groups, then CRD groups alphabetically), preferred version first.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for def in self.defs.values() {
            let versions = groups.entry(def.group.clone()).or_default();
            for v in &def.versions {
                if !versions.contains(&v.name) {
                    versions.push(v.name.clone());
                }
            }
        }
        let mut out: Vec<(String, Vec<String>)> = groups.into_iter().collect();
        for (_, versions) in &mut out {
            versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        }
        out.sort_by_key(|(g, _)| (group_rank(g), g.clone()));
        out
    }
}

/// Where a group comes in discovery: core, then built-in groups, then the others.
pub fn group_rank(group: &str) -> u8 {
    match group {
        "" => 0,
        g if !g.contains('.') || g.ends_with(".k8s.io") => 1,
        _ => 2,
    }
}

/// Kubernetes version ordering: GA > beta > alpha, then by numbers (v2 > v1, v1beta2 > v1beta1).
pub fn version_priority(v: &str) -> (u8, u32, u32) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let Ok(major) = digits.parse::<u32>() else {
        return (0, 0, 0);
    };
    let tail = &rest[digits.len()..];
    let (rank, minor_str) = if tail.is_empty() {
        (3, "0")
    } else if let Some(n) = tail.strip_prefix("beta") {
        (2, n)
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n)
    } else {
        return (0, 0, 0);
    };
    (rank, major, minor_str.parse().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::version_priority;

    #[test]
    fn kube_version_order() {
        let mut v = vec!["v1alpha1", "v1", "v2beta1", "v1beta2", "v2", "foo"];
        v.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        assert_eq!(v, ["v2", "v1", "v2beta1", "v1beta2", "v1alpha1", "foo"]);
    }
}

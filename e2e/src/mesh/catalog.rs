//! The VirtualServices the mesh serves, parsed and compiled once per
//! revision: the tick loop runs ten times a second over every
//! VirtualService, and with a thousand of them re-reading each spec (JSON to
//! types, regexes compiled) every tick would keep a core busy for nothing.

use std::collections::HashMap;
use std::sync::Arc;

use kube::ResourceExt;
use kube::api::DynamicObject;
use serde::Deserialize;

use super::matching::CompiledVs;
use super::spec::VirtualServiceSpec;

/// VirtualService annotation overriding the request rate of its hosts.
pub const RPS_ANNOTATION: &str = "mesh.sandbox.serin.dev/rps";

/// One VirtualService as the traffic generator needs it.
#[derive(Debug)]
pub struct Served {
    pub namespace: String,
    pub vs: CompiledVs,
    /// Each host with its stable key `namespace/virtualservice/host`.
    pub hosts: Vec<(String, String)>,
    /// The rate the annotation sets, if any.
    pub rps: Option<f64>,
}

#[derive(Debug)]
struct Entry {
    uid: String,
    resource_version: String,
    /// None for a spec Istio would reject: it sends no traffic.
    served: Option<Arc<Served>>,
}

/// Compiled VirtualServices by namespace and name.
#[derive(Debug, Default)]
pub struct Catalog {
    entries: HashMap<(String, String), Entry>,
}

impl Catalog {
    /// Brings the catalog up to `objects`, compiling only the ones that
    /// changed since the last call, and returns what to serve.
    pub fn refresh(&mut self, objects: &[Arc<DynamicObject>]) -> Vec<Arc<Served>> {
        let mut present = HashMap::with_capacity(objects.len());
        for object in objects {
            let key = (object.namespace().unwrap_or_default(), object.name_any());
            let uid = object.metadata.uid.clone().unwrap_or_default();
            let rv = object.resource_version().unwrap_or_default();
            let fresh = self
                .entries
                .get(&key)
                .is_some_and(|e| !rv.is_empty() && e.resource_version == rv && e.uid == uid);
            if !fresh {
                let served = compile(object, &key).map(Arc::new);
                let entry = Entry {
                    uid,
                    resource_version: rv,
                    served,
                };
                self.entries.insert(key.clone(), entry);
            }
            present.insert(key, ());
        }
        self.entries.retain(|key, _| present.contains_key(key));
        let mut served: Vec<Arc<Served>> = self
            .entries
            .values()
            .filter_map(|e| e.served.clone())
            .collect();
        // A stable order keeps the generator's seeded picks reproducible.
        served.sort_by(|a, b| a.hosts.cmp(&b.hosts));
        served
    }

    /// How many revisions are cached (for tests).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn compile(object: &DynamicObject, (namespace, name): &(String, String)) -> Option<Served> {
    let spec = object
        .data
        .get("spec")
        .map(VirtualServiceSpec::deserialize)
        .transpose();
    let vs = match spec.map(|s| CompiledVs::compile(s.unwrap_or_default())) {
        Ok(Ok(vs)) => vs,
        Ok(Err(error)) => {
            tracing::warn!(%namespace, %name, %error, "VirtualService rejected; it gets no traffic");
            return None;
        }
        Err(error) => {
            tracing::warn!(%namespace, %name, %error, "VirtualService spec unreadable; it gets no traffic");
            return None;
        }
    };
    let rps = object
        .annotations()
        .get(RPS_ANNOTATION)
        .and_then(|r| r.trim().parse::<f64>().ok())
        .filter(|r| r.is_finite() && *r >= 0.0);
    let hosts = vs
        .spec
        .hosts
        .iter()
        .map(|h| (h.clone(), format!("{namespace}/{name}/{h}")))
        .collect();
    Some(Served {
        namespace: namespace.clone(),
        vs,
        hosts,
        rps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(name: &str, rv: &str, spec: serde_json::Value) -> Arc<DynamicObject> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv, "uid": "u",
                    "annotations": {RPS_ANNOTATION: "50"}},
                "spec": spec
            }))
            .expect("object"),
        )
    }

    #[test]
    fn compiles_once_per_revision_and_forgets_deleted_services() {
        let mut catalog = Catalog::default();
        let spec = serde_json::json!({"hosts": ["app"], "http": [{"route": [{"destination": {"host": "app"}}]}]});
        let first = catalog.refresh(&[object("app", "1", spec.clone())]);
        assert_eq!(
            first[0].hosts,
            [("app".to_owned(), "ns/app/app".to_owned())]
        );
        assert_eq!(first[0].rps, Some(50.0));
        let again = catalog.refresh(&[object("app", "1", spec.clone())]);
        assert!(
            Arc::ptr_eq(&first[0], &again[0]),
            "recompiled an unchanged revision"
        );
        let changed = catalog.refresh(&[object("app", "2", spec)]);
        assert!(!Arc::ptr_eq(&first[0], &changed[0]));
        assert!(catalog.refresh(&[]).is_empty() && catalog.is_empty());
    }

    #[test]
    fn rejected_specs_serve_nothing() {
        let mut catalog = Catalog::default();
        let bad_regex =
            serde_json::json!({"hosts": ["a"], "http": [{"match": [{"uri": {"regex": "("}}]}]});
        let unreadable = serde_json::json!({"hosts": "a"});
        let served = catalog.refresh(&[object("a", "1", bad_regex), object("b", "1", unreadable)]);
        assert!(served.is_empty());
        assert_eq!(catalog.len(), 2);
    }
}

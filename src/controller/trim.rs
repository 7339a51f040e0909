//! What the watch caches keep of each object. The caches hold every watched object for
//! as long as serin runs, so what serin never reads is dropped before an object enters
//! one (`cargo bench --bench cache_footprint` prints the bytes per Canary):
//!
//! - from every object, `managedFields` and `kubectl apply`'s copy of the object (the
//!   `last-applied-configuration` annotation), often the largest parts of its metadata;
//! - from a Deployment's conditions, their messages and times (readiness reads their
//!   type, status and reason);
//! - from the objects serin made (they carry its [`APPLIED`] hash and a Canary as
//!   owner), their labels, the annotations that are not serin's, and their spec:
//!   converge compares the hash, not the spec, and what else reads them reads serin's
//!   annotations, the owners and the status. What stays of a primary Deployment is its
//!   replica count (readiness and autoscaling read it); of a serin-made Service, its
//!   selector (deletion restores the apex from it); of a routing object or an
//!   autoscaler copy, no spec at all (a Gateway API route's status stays: it says
//!   whether the route is accepted).
//!
//! Objects serin did not make keep their spec: a target's pod template is what serin
//! copies, a user's autoscaler what it copies from, and a routing object it takes over
//! is saved from its spec. A Canary whose `targetRef` names another Canary's primary
//! would see an empty template: a primary is serin's, not a target.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Service, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::DynamicObject;

use crate::api::GROUP;
use crate::build::APPLIED;

/// The annotation `kubectl apply` keeps: a whole copy of the object as last applied.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops `managedFields` and `kubectl apply`'s copy from any object.
pub fn metadata<K: kube::Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

/// Whether serin made the object: it carries serin's applied hash and a Canary owns it.
pub fn made_by_serin(meta: &ObjectMeta) -> bool {
    let applied = meta
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(APPLIED));
    let owned = meta.owner_references.iter().flatten().any(|o| {
        o.kind == "Canary"
            && o.api_version
                .split_once('/')
                .is_some_and(|(group, _)| group == GROUP)
    });
    applied && owned
}

/// What serin reads of the metadata of an object it made: its own annotations and the
/// owners (which say whose it is); the labels and the other annotations go.
fn made_metadata(meta: &mut ObjectMeta) {
    meta.labels = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.retain(|key, _| key.split_once('/').is_some_and(|(p, _)| p == GROUP));
    }
}

/// A Deployment: conditions without messages or times; a primary keeps its replica
/// count of the spec.
pub fn deployment(d: &mut Deployment) {
    metadata(d);
    for c in d
        .status
        .as_mut()
        .and_then(|s| s.conditions.as_mut())
        .into_iter()
        .flatten()
    {
        c.message = None;
        c.last_transition_time = None;
        c.last_update_time = None;
    }
    if made_by_serin(&d.metadata) {
        made_metadata(&mut d.metadata);
        if let Some(spec) = d.spec.as_mut() {
            let replicas = spec.replicas;
            *spec = Default::default();
            spec.replicas = replicas;
        }
    }
}

/// A Service: one serin made keeps its selector of the spec; no Service keeps its status
/// (load balancer ingress and conditions, which serin does not read).
pub fn service(s: &mut Service) {
    metadata(s);
    s.status = None;
    if made_by_serin(&s.metadata) {
        made_metadata(&mut s.metadata);
        if let Some(spec) = s.spec.as_mut() {
            *spec = ServiceSpec {
                selector: spec.selector.take(),
                ..ServiceSpec::default()
            };
        }
    }
}

/// A routing object or autoscaler: one serin made keeps no spec.
pub fn dynamic(o: &mut DynamicObject) {
    metadata(o);
    if made_by_serin(&o.metadata) {
        made_metadata(&mut o.metadata);
        if let Some(data) = o.data.as_object_mut() {
            data.remove("spec");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(owned: bool, applied: bool) -> serde_json::Value {
        let mut m = json!({"name": "app-primary", "namespace": "ns", "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": "{}", "keep": "me"},
            "managedFields": [{"manager": "kubectl"}]});
        if applied {
            m["annotations"][APPLIED] = json!("abc");
        }
        if owned {
            m["ownerReferences"] = json!([{"apiVersion": "serin.dev/v1beta1", "kind": "Canary",
                "name": "app", "uid": "u1", "controller": true}]);
        }
        m
    }

    fn deployment_with(owned: bool, applied: bool) -> Deployment {
        serde_json::from_value(json!({"metadata": meta(owned, applied), "spec": {
            "replicas": 3, "selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "a"}},
                         "spec": {"containers": [{"name": "app", "image": "app:1"}]}}},
            "status": {"replicas": 3, "availableReplicas": 3}}))
        .unwrap()
    }

    #[test]
    fn every_object_loses_managed_fields_and_the_last_applied_copy_only() {
        let mut d = deployment_with(false, false);
        deployment(&mut d);
        assert!(d.metadata.managed_fields.is_none());
        let annotations = d.metadata.annotations.as_ref().unwrap();
        assert!(!annotations.contains_key(LAST_APPLIED));
        assert_eq!(annotations["keep"], "me");
        assert_eq!(d, {
            let mut expected = deployment_with(false, false);
            expected.metadata = d.metadata.clone();
            expected
        });
    }

    #[test]
    fn a_primary_keeps_its_replicas_status_and_metadata_but_not_its_template() {
        let mut d = deployment_with(true, true);
        deployment(&mut d);
        let spec = d.spec.as_ref().unwrap();
        assert_eq!(spec.replicas, Some(3));
        assert!(spec.template.spec.is_none());
        assert_eq!(d.status.as_ref().unwrap().available_replicas, Some(3));
        assert!(made_by_serin(&d.metadata));
        let annotations = d.metadata.annotations.as_ref().unwrap();
        assert_eq!(annotations.keys().collect::<Vec<_>>(), [APPLIED]);
    }

    #[test]
    fn conditions_keep_what_readiness_reads() {
        let mut d: Deployment = serde_json::from_value(json!({"metadata": {"name": "a"},
            "status": {"conditions": [{"type": "Progressing", "status": "False",
                "reason": "ProgressDeadlineExceeded", "message": "too slow",
                "lastUpdateTime": "2026-12-01T17:21:26Z", "lastTransitionTime": "2026-12-01T17:21:26Z"}]}}))
        .unwrap();
        deployment(&mut d);
        let c = &d.status.unwrap().conditions.unwrap()[0];
        assert_eq!(
            (c.type_.as_str(), c.status.as_str(), c.reason.as_deref()),
            ("Progressing", "False", Some("ProgressDeadlineExceeded"))
        );
        assert!(c.message.is_none() && c.last_update_time.is_none());
    }

    #[test]
    fn owned_or_annotated_alone_is_not_made_by_serin() {
        for (owned, applied) in [(true, false), (false, true)] {
            let mut d = deployment_with(owned, applied);
            deployment(&mut d);
            assert!(d.spec.as_ref().unwrap().template.spec.is_some());
        }
        let mut other: ObjectMeta = serde_json::from_value(meta(true, true)).unwrap();
        other.owner_references.as_mut().unwrap()[0].api_version = "example.com/v1".into();
        assert!(!made_by_serin(&other));
    }

    #[test]
    fn a_service_serin_made_keeps_its_selector_and_no_status() {
        let mut s: Service = serde_json::from_value(json!({"metadata": meta(true, true),
            "spec": {"selector": {"app": "a"}, "ports": [{"port": 80}], "clusterIP": "10.0.0.1"},
            "status": {"loadBalancer": {}}}))
        .unwrap();
        service(&mut s);
        let spec = s.spec.as_ref().unwrap();
        assert_eq!(spec.selector.as_ref().unwrap()["app"], "a");
        assert!(spec.ports.is_none() && spec.cluster_ip.is_none() && s.status.is_none());
    }

    #[test]
    fn a_routing_object_serin_made_keeps_its_status_but_no_spec() {
        let mut route: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": meta(true, true), "spec": {"rules": []}, "status": {"parents": []}}))
        .unwrap();
        dynamic(&mut route);
        assert!(route.data.get("spec").is_none());
        assert!(route.data.get("status").is_some());
        let mut theirs: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": meta(false, false), "spec": {"hosts": ["a"]}}))
        .unwrap();
        dynamic(&mut theirs);
        assert!(theirs.data.get("spec").is_some());
    }
}

//! Builders of the objects every router needs: the primary Deployment and the apex, primary
//! and canary Services, plus the pieces routers share (metadata, the applied hash, taking an
//! object over and releasing it). The routing objects themselves are built by the router
//! (see [`crate::router`]).
//!
//! Pure functions of the Canary, its target and the plan. Every object carries the
//! annotation [`APPLIED`], a hash of what serin applied, so that converge writes only when
//! the desired object changed.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{PodTemplateSpec, Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Resource;
use kube::api::ApiResource;
use serde_json::{Value, json};

use crate::api::{Canary, CustomMetadata};

mod selector;
use crate::revision::revision_hash;
pub use selector::selector_problem;

/// Field manager of every server-side apply serin makes.
pub const FIELD_MANAGER: &str = "serin";
/// Annotation: hash of the object as serin last applied it.
pub const APPLIED: &str = "serin.dev/applied";
/// Annotation on the primary: revision hash of the target template it was copied from.
pub const REVISION: &str = "serin.dev/revision";
/// Annotation on a taken-over Service or VirtualService: its spec before serin took it.
pub const ORIGINAL: &str = "serin.dev/original-configuration";
/// Suffix of the primary's name and selector label values.
pub const PRIMARY_SUFFIX: &str = "-primary";
/// Suffix of the Service (and routing destination) of the canary.
pub const CANARY_SUFFIX: &str = "-canary";

/// Annotations that keep GitOps tools from fighting over generated objects.
pub const GITOPS_ANNOTATIONS: [(&str, &str); 3] = [
    ("kustomize.toolkit.fluxcd.io/reconcile", "disabled"),
    ("helm.toolkit.fluxcd.io/driftDetection", "disabled"),
    ("argocd.argoproj.io/compare-options", "IgnoreExtraneous"),
];

/// Names derived from a Canary.
#[derive(Debug, Clone, PartialEq)]
pub struct Names {
    pub target: String,
    pub primary: String,
    pub apex: String,
    pub apex_primary: String,
    pub apex_canary: String,
}

impl Names {
    pub fn of(canary: &Canary) -> Names {
        let target = canary.spec.target_ref.name.clone();
        let apex = canary
            .spec
            .service
            .name
            .clone()
            .unwrap_or_else(|| target.clone());
        Names {
            primary: format!("{target}{PRIMARY_SUFFIX}"),
            apex_primary: format!("{apex}{PRIMARY_SUFFIX}"),
            apex_canary: format!("{apex}{CANARY_SUFFIX}"),
            target,
            apex,
        }
    }
}

fn owner(canary: &Canary) -> Option<OwnerReference> {
    canary.controller_owner_ref(&())
}

pub(crate) fn meta(canary: &Canary, name: &str, extra: Option<&CustomMetadata>) -> ObjectMeta {
    let mut annotations: BTreeMap<String, String> = GITOPS_ANNOTATIONS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut labels = BTreeMap::new();
    if let Some(m) = extra {
        labels.extend(m.labels.clone());
        annotations.extend(m.annotations.clone());
    }
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: canary.metadata.namespace.clone(),
        labels: Some(labels).filter(|l| !l.is_empty()),
        annotations: Some(annotations),
        owner_references: owner(canary).map(|o| vec![o]),
        ..Default::default()
    }
}

/// An object serin wants to exist, ready to apply: what to apply it as, its name, and the
/// [`APPLIED`] hash it carries, so nothing has to be read back out of the JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub resource: ApiResource,
    pub name: String,
    pub namespace: String,
    pub hash: String,
    pub object: Value,
}

impl std::ops::Index<&str> for Desired {
    type Output = Value;
    fn index(&self, key: &str) -> &Value {
        &self.object[key]
    }
}

/// Stamps the [`APPLIED`] hash (computed without it) on an object built from `meta`.
pub(crate) fn stamp(resource: ApiResource, meta: &ObjectMeta, mut value: Value) -> Desired {
    let hash = revision_hash(&value);
    if let Some(ann) = value
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        ann.insert(APPLIED.into(), Value::String(hash.clone()));
    }
    Desired {
        resource,
        name: meta.name.clone().unwrap_or_default(),
        namespace: meta.namespace.clone().unwrap_or_default(),
        hash,
        object: value,
    }
}

/// The selector labels of the target, suffixed `-primary` for the primary (every label,
/// not only `app`).
pub fn primary_labels(labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    labels
        .iter()
        .map(|(k, v)| (k.clone(), format!("{v}{PRIMARY_SUFFIX}")))
        .collect()
}

/// The target's `spec.selector.matchLabels`, empty when it has none.
pub fn selector_labels(target: &Deployment) -> BTreeMap<String, String> {
    target
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default()
}

/// The primary Deployment: the target's pod template with every selector label value
/// suffixed `-primary`. `replicas` is what the primary should run.
pub fn primary(canary: &Canary, target: &Deployment, revision: &str, replicas: i32) -> Desired {
    let names = Names::of(canary);
    let selector = selector_labels(target);
    let spec = target.spec.clone().unwrap_or_default();
    let mut template: PodTemplateSpec = spec.template.clone();
    let mut template_meta = template.metadata.take().unwrap_or_default();
    let mut labels = template_meta.labels.take().unwrap_or_default();
    labels.extend(primary_labels(&selector));
    template_meta.labels = Some(labels);
    template.metadata = Some(template_meta);

    let mut m = meta(canary, &names.primary, None);
    m.labels = Some(primary_labels(&selector)).filter(|l| !l.is_empty());
    if let Some(ann) = m.annotations.as_mut() {
        ann.insert(REVISION.into(), revision.to_string());
    }
    let deployment = Deployment {
        metadata: m.clone(),
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(primary_labels(&selector)),
                ..Default::default()
            },
            template,
            strategy: spec.strategy,
            min_ready_seconds: spec.min_ready_seconds,
            revision_history_limit: spec.revision_history_limit,
            progress_deadline_seconds: spec.progress_deadline_seconds,
            paused: None,
        }),
        status: None,
    };
    let mut value = serde_json::to_value(deployment).unwrap_or(Value::Null);
    value["apiVersion"] = json!("apps/v1");
    value["kind"] = json!("Deployment");
    stamp(ApiResource::erase::<Deployment>(&()), &m, value)
}

fn service_ports(canary: &Canary) -> Vec<ServicePort> {
    let svc = &canary.spec.service;
    let target_port = match &svc.target_port {
        Some(Value::Number(n)) => n.as_i64().map(|p| IntOrString::Int(p as i32)),
        Some(Value::String(s)) => Some(
            s.parse()
                .map(IntOrString::Int)
                .unwrap_or(IntOrString::String(s.clone())),
        ),
        _ => None,
    };
    vec![ServicePort {
        name: Some(svc.port_name.clone().unwrap_or_else(|| "http".into())),
        port: svc.port,
        target_port: Some(target_port.unwrap_or(IntOrString::Int(svc.port))),
        protocol: Some("TCP".into()),
        // Gateway API implementations read it to speak gRPC/HTTP2 to the backends.
        app_protocol: svc.app_protocol.clone(),
        ..Default::default()
    }]
}

/// The three Services: `-primary` selects the primary, `-canary` the target, and the apex
/// the primary when `apex_on_primary` (else the target, e.g. while the primary is not
/// initialised yet). `original` is the saved spec of a pre-existing apex Service.
pub fn services(
    canary: &Canary,
    target: &Deployment,
    original: Option<&str>,
    apex_on_primary: bool,
) -> Vec<Desired> {
    let names = Names::of(canary);
    let selector = selector_labels(target);
    let s = &canary.spec.service;
    let build = |name: &str,
                 selector: BTreeMap<String, String>,
                 extra: Option<&CustomMetadata>,
                 original: Option<&str>| {
        let mut m = meta(canary, name, extra);
        if let (Some(orig), Some(ann)) = (original, m.annotations.as_mut()) {
            ann.insert(ORIGINAL.into(), orig.to_string());
        }
        let svc = Service {
            metadata: m.clone(),
            spec: Some(ServiceSpec {
                selector: Some(selector),
                ports: Some(service_ports(canary)),
                type_: Some("ClusterIP".into()),
                ..Default::default()
            }),
            status: None,
        };
        let mut value = serde_json::to_value(svc).unwrap_or(Value::Null);
        value["apiVersion"] = json!("v1");
        value["kind"] = json!("Service");
        stamp(ApiResource::erase::<Service>(&()), &m, value)
    };
    let apex_selector = if apex_on_primary {
        primary_labels(&selector)
    } else {
        selector.clone()
    };
    vec![
        build(&names.apex, apex_selector, s.apex.as_ref(), original),
        build(
            &names.apex_primary,
            primary_labels(&selector),
            s.primary.as_ref(),
            None,
        ),
        build(&names.apex_canary, selector, s.canary.as_ref(), None),
    ]
}

/// The hash serin stamped on an object it applied, if any.
pub fn applied_hash(meta: &ObjectMeta) -> Option<&str> {
    meta.annotations.as_ref()?.get(APPLIED).map(String::as_str)
}

/// The [`APPLIED`] hash of a desired object.
pub fn desired_hash(desired: &Desired) -> Option<&str> {
    Some(desired.hash.as_str()).filter(|h| !h.is_empty())
}

/// The saved spec of an object serin takes over: kept if already saved, taken from the
/// object (`spec`, read only then) when it exists and is not serin's, none otherwise.
pub fn original(
    meta: Option<&ObjectMeta>,
    spec: impl FnOnce() -> Option<Value>,
    canary: &Canary,
) -> Option<String> {
    let meta = meta?;
    if let Some(saved) = meta.annotations.as_ref().and_then(|a| a.get(ORIGINAL)) {
        return Some(saved.clone());
    }
    let uid = canary.meta().uid.as_deref();
    let ours = meta
        .owner_references
        .iter()
        .flatten()
        .any(|o| Some(o.uid.as_str()) == uid);
    if ours {
        return None;
    }
    spec().map(|s| s.to_string())
}

/// The spec serin saved when it took an object over.
pub fn saved_spec(annotations: &BTreeMap<String, String>) -> Option<Value> {
    annotations
        .get(ORIGINAL)
        .and_then(|s| serde_json::from_str(s).ok())
}

/// A merge patch that drops serin's owner reference and annotations (so garbage
/// collection keeps the object) and sets `spec` when given.
pub fn release(owners: &[OwnerReference], uid: &str, spec: Value) -> Value {
    let kept: Vec<_> = owners.iter().filter(|o| o.uid != uid).collect();
    let mut annotations = serde_json::Map::new();
    for key in [ORIGINAL, APPLIED]
        .into_iter()
        .chain(GITOPS_ANNOTATIONS.iter().map(|(k, _)| *k))
    {
        annotations.insert(key.to_string(), Value::Null);
    }
    let mut patch = json!({
        "metadata": {
            "ownerReferences": kept,
            "annotations": annotations
        }
    });
    if !spec.is_null() {
        patch["spec"] = spec;
    }
    patch
}

#[cfg(test)]
mod tests;

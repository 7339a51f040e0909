//! CustomResourceDefinitions: the kinds they serve (registered on every write of the CRD,
//! removed with it), the defaults and status a real server gives them, and their checks.

use serde_json::{Value, json};

use super::registry::{Registry, ResourceDef, ScalePaths, VersionDef, View};
use super::store::Store;
use crate::apiserver::error::Cause;
use crate::apiserver::table::crd_columns;

pub const CRD_STORAGE: &str = "apiextensions.k8s.io/customresourcedefinitions";
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_default()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The storage key of a CRD's objects (`group/plural`).
pub fn storage_of_crd(crd: &Value) -> Option<String> {
    let spec = &crd["spec"];
    let (group, plural) = (text(spec, "group"), text(&spec["names"], "plural"));
    (!group.is_empty() && !plural.is_empty()).then(|| format!("{group}/{plural}"))
}

/// The CRD name (`plural.group`) owning a storage key, for non-core storage keys.
pub fn crd_name_for_storage(storage: &str) -> Option<String> {
    let (group, plural) = storage.split_once('/')?;
    (group.contains('.') && !group.ends_with(".k8s.io")).then(|| format!("{plural}.{group}"))
}

/// The registry entry a CRD describes (None when it serves no version).
pub fn def_of(crd: &Value) -> Option<ResourceDef> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let group = text(spec, "group").to_string();
    let plural = text(names, "plural").to_string();
    let kind = text(names, "kind").to_string();
    let versions_json = spec["versions"].as_array()?;
    let served: Vec<&Value> = versions_json
        .iter()
        .filter(|v| v["served"].as_bool().unwrap_or(false))
        .collect();
    if group.is_empty() || plural.is_empty() || kind.is_empty() || served.is_empty() {
        return None;
    }
    let storage_version = versions_json
        .iter()
        .find(|v| v["storage"].as_bool().unwrap_or(false))
        .map_or_else(
            || text(served[0], "name").to_string(),
            |v| text(v, "name").to_string(),
        );
    let versions = served
        .iter()
        .map(|v| VersionDef {
            name: text(v, "name").to_string(),
            schema: v["schema"]["openAPIV3Schema"]
                .as_object()
                .map(|s| Value::Object(s.clone())),
            columns: crd_columns(v),
            selectable: v["selectableFields"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["jsonPath"].as_str())
                .map(|p| p.trim_start_matches('.').to_string())
                .collect(),
        })
        .collect();
    let storage_entry = versions_json
        .iter()
        .find(|v| text(v, "name") == storage_version)
        .unwrap_or(served[0]);
    let subresources = &storage_entry["subresources"];
    let scale = subresources["scale"].as_object().map(|s| ScalePaths {
        spec_replicas: s
            .get("specReplicasPath")
            .and_then(Value::as_str)
            .unwrap_or(".spec.replicas")
            .to_string(),
        status_replicas: s
            .get("statusReplicasPath")
            .and_then(Value::as_str)
            .unwrap_or(".status.replicas")
            .to_string(),
        label_selector: s
            .get("labelSelectorPath")
            .and_then(Value::as_str)
            .map(str::to_string),
    });
    let singular = match text(names, "singular") {
        "" => kind.to_lowercase(),
        s => s.to_string(),
    };
    let list_kind = match text(names, "listKind") {
        "" => format!("{kind}List"),
        s => s.to_string(),
    };
    Some(ResourceDef {
        storage: format!("{group}/{plural}"),
        group,
        versions,
        storage_version,
        plural,
        singular,
        kind,
        list_kind,
        namespaced: text(spec, "scope") != "Cluster",
        short_names: strings(&names["shortNames"]),
        categories: strings(&names["categories"]),
        status: subresources["status"].is_object(),
        scale,
        view: View::Plain,
        builtin: false,
        generation: true,
    })
}

/// Serves (or stops serving) what a stored CRD describes.
pub fn register(registry: &mut Registry, crd: &Value) {
    let Some(def) = def_of(crd) else {
        if let Some(storage) = storage_of_crd(crd)
            && let Some((group, plural)) = storage.split_once('/')
            && registry.get(group, plural).is_some_and(|d| !d.builtin)
        {
            registry.remove(group, plural);
        }
        return;
    };
    if registry
        .get(&def.group, &def.plural)
        .is_some_and(|d| d.builtin)
    {
        return;
    }
    registry.insert(def);
}

/// Stops serving a removed CRD's kinds and forgets their storage.
pub fn unregister(registry: &mut Registry, store: &mut Store, crd: &Value) {
    let Some(storage) = storage_of_crd(crd) else {
        return;
    };
    let Some((group, plural)) = storage.split_once('/') else {
        return;
    };
    if registry.get(group, plural).is_some_and(|d| !d.builtin) {
        registry.remove(group, plural);
        store.drop_collection(&storage);
    }
}

/// Server-side defaults and status of a CRD being written (served form).
pub fn prepare(crd: &mut Value, old: Option<&Value>, now: &str) {
    let spec = &mut crd["spec"];
    let kind = text(&spec["names"], "kind").to_string();
    if spec["names"]["singular"].as_str().is_none_or(str::is_empty) {
        spec["names"]["singular"] = json!(kind.to_lowercase());
    }
    if spec["names"]["listKind"].as_str().is_none_or(str::is_empty) {
        spec["names"]["listKind"] = json!(format!("{kind}List"));
    }
    if spec["conversion"].is_null() {
        spec["conversion"] = json!({"strategy": "None"});
    }
    let storage = spec["versions"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["storage"].as_bool().unwrap_or(false)))
        .map(|v| text(v, "name").to_string());
    let mut stored_versions = old
        .map(|o| strings(&o["status"]["storedVersions"]))
        .unwrap_or_default();
    if let Some(storage) = storage
        && !stored_versions.contains(&storage)
    {
        stored_versions.push(storage);
    }
    let since = |cond: &str| {
        old.and_then(|o| o["status"]["conditions"].as_array())
            .and_then(|cs| cs.iter().find(|c| c["type"] == cond))
            .and_then(|c| c["lastTransitionTime"].as_str().map(str::to_string))
            .unwrap_or_else(|| now.to_string())
    };
    crd["status"] = json!({
        "acceptedNames": crd["spec"]["names"].clone(),
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": since("NamesAccepted")},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": since("Established")},
        ],
        "storedVersions": stored_versions,
    });
    if old.is_none() {
        let mut finalizers = strings(&crd["metadata"]["finalizers"]);
        if !finalizers.iter().any(|f| f == CLEANUP_FINALIZER) {
            finalizers.push(CLEANUP_FINALIZER.to_string());
        }
        crd["metadata"]["finalizers"] = json!(finalizers);
    }
}

fn required(field: &str) -> Cause {
    Cause {
        reason: "FieldValueRequired".into(),
        message: format!("{field}: Required value"),
        field: field.into(),
    }
}

fn invalid(field: &str, value: &str, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueInvalid".into(),
        message: format!("{field}: Invalid value: \"{value}\": {detail}"),
        field: field.into(),
    }
}

/// The checks of `ValidateCustomResourceDefinition` that matter for the sandbox (`old` on
/// update), the static cost of its CEL rules included.
pub fn validate(crd: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut causes = Vec::new();
    let spec = &crd["spec"];
    let (group, names) = (text(spec, "group"), &spec["names"]);
    let (plural, kind) = (text(names, "plural"), text(names, "kind"));
    for (field, value) in [
        ("spec.group", group),
        ("spec.names.plural", plural),
        ("spec.names.kind", kind),
    ] {
        if value.is_empty() {
            causes.push(required(field));
        }
    }
    let name = text(&crd["metadata"], "name");
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        causes.push(invalid(
            "metadata.name",
            name,
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    if !matches!(text(spec, "scope"), "Namespaced" | "Cluster") {
        causes.push(Cause {
            reason: "FieldValueNotSupported".into(),
            message: format!("spec.scope: Unsupported value: \"{}\": supported values: \"Cluster\", \"Namespaced\"", text(spec, "scope")),
            field: "spec.scope".into(),
        });
    }
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    if versions.is_empty() {
        causes.push(required("spec.versions"));
    } else if versions
        .iter()
        .filter(|v| v["storage"].as_bool().unwrap_or(false))
        .count()
        != 1
    {
        causes.push(invalid(
            "spec.versions",
            "",
            "must have exactly one version marked as storage version",
        ));
    }
    for (i, v) in versions.iter().enumerate() {
        if v["schema"]["openAPIV3Schema"].is_null() {
            causes.push(required(&format!(
                "spec.versions[{i}].schema.openAPIV3Schema"
            )));
        }
    }
    causes.extend(
        crate::apiserver::schema::validate_crd_costs(crd, old)
            .into_iter()
            .map(|e| Cause {
                reason: e.reason.into(),
                message: e.message,
                field: e.field,
            }),
    );
    causes
}

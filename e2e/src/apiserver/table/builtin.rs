//! Columns and computed cells of the built-in kinds the sandbox serves, as
//! kube-apiserver's printers (`pkg/printers/internalversion`) produce them,
//! always in their wide form; kinds without a printer (CRDs themselves
//! included) get the default convertor's `Name`, `Created At`.

use super::cells::{
    cluster_ip, core_event, event_cell, external_ip, hpa_reference, hpa_targets, service_ports,
    service_type,
};
use super::render::{age_since, go_text, str_at};
use super::{COMPUTED_PREFIX, CREATION_DESCRIPTION, PrinterColumn};
use crate::apiserver::jsonpath;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

/// The Table columns kube-apiserver prints for a built-in `kind`.
pub fn builtin_columns(kind: &str) -> Vec<PrinterColumn> {
    let specs: &[(&str, &str, i32, &str)] = match kind {
        "Deployment" => &[
            (
                "Ready",
                "deployment.ready",
                0,
                "Number of the pod with ready state",
            ),
            (
                "Up-to-date",
                "int:.status.updatedReplicas",
                0,
                "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
            ),
            (
                "Available",
                "int:.status.availableReplicas",
                0,
                "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
            ),
            ("Age", "age", 0, CREATION_DESCRIPTION),
            (
                "Containers",
                "containers",
                1,
                "Names of each container in the template.",
            ),
            (
                "Images",
                "images",
                1,
                "Images referenced by each container in the template.",
            ),
            ("Selector", "selector", 1, "Label selector for pods."),
        ],
        "Service" => &[
            (
                "Type",
                "service.type",
                0,
                "type determines how the Service is exposed.",
            ),
            (
                "Cluster-IP",
                "service.cluster-ip",
                0,
                "clusterIP is the IP address of the service.",
            ),
            (
                "External-IP",
                "service.external-ip",
                0,
                "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
            ),
            (
                "Port(s)",
                "service.ports",
                0,
                "The list of ports that are exposed by this service.",
            ),
            ("Age", "age", 0, CREATION_DESCRIPTION),
            (
                "Selector",
                "labels:.spec.selector",
                1,
                "Route service traffic to pods with label keys and values matching this selector.",
            ),
        ],
        "Namespace" => &[
            (
                "Status",
                "str:.status.phase",
                0,
                "The status of the namespace",
            ),
            ("Age", "age", 0, CREATION_DESCRIPTION),
        ],
        "ConfigMap" => &[
            (
                "Data",
                "count:.data,.binaryData",
                0,
                "Data contains the configuration data.",
            ),
            ("Age", "age", 0, CREATION_DESCRIPTION),
        ],
        "Secret" => &[
            (
                "Type",
                "str:.type",
                0,
                "Used to facilitate programmatic handling of secret data.",
            ),
            ("Data", "count:.data", 0, "Data contains the secret data."),
            ("Age", "age", 0, CREATION_DESCRIPTION),
        ],
        "Lease" => &[
            (
                "Holder",
                "str:.spec.holderIdentity",
                0,
                "holderIdentity contains the identity of the holder of a current lease.",
            ),
            ("Age", "age", 0, CREATION_DESCRIPTION),
        ],
        "HorizontalPodAutoscaler" => &[
            (
                "Reference",
                "hpa.reference",
                0,
                "scaleTargetRef points to the target resource to scale.",
            ),
            (
                "Targets",
                "hpa.targets",
                0,
                "metrics contains the specifications for which to use to calculate the desired replica count.",
            ),
            (
                "MinPods",
                "hpa.min-pods",
                0,
                "minReplicas is the lower limit for the number of replicas.",
            ),
            (
                "MaxPods",
                "int:.spec.maxReplicas",
                0,
                "maxReplicas is the upper limit for the number of replicas.",
            ),
            (
                "Replicas",
                "int:.status.currentReplicas",
                0,
                "currentReplicas is current number of replicas of pods managed by this autoscaler.",
            ),
            ("Age", "age", 0, CREATION_DESCRIPTION),
        ],
        "Event" => return event_columns(),
        _ => &[("Created At", "created-at", 0, CREATION_DESCRIPTION)],
    };
    let mut columns = vec![PrinterColumn::name_column()];
    columns.extend(
        specs
            .iter()
            .map(|(name, spec, priority, desc)| computed_column(name, spec, *priority, desc)),
    );
    if let Some(created) = columns.iter_mut().find(|c| c.name == "Created At") {
        created.type_ = "date".into();
    }
    columns
}

fn computed_column(name: &str, spec: &str, priority: i32, description: &str) -> PrinterColumn {
    PrinterColumn::new(
        name,
        "string",
        &format!("{COMPUTED_PREFIX}{spec}"),
        description,
    )
    .with_priority(priority)
}

/// Events print their name last, and only with `-o wide`.
fn event_columns() -> Vec<PrinterColumn> {
    let mut name = PrinterColumn::name_column().with_priority(1);
    name.json_path = format!("{COMPUTED_PREFIX}event:str:.metadata.name");
    vec![
        computed_column(
            "Last Seen",
            "event:last-seen",
            0,
            "The time at which the most recent occurrence of this event was recorded.",
        ),
        computed_column(
            "Type",
            "event:str:.type",
            0,
            "Type of this event (Normal, Warning), new types could be added in the future",
        ),
        computed_column(
            "Reason",
            "event:str:.reason",
            0,
            "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
        ),
        computed_column(
            "Object",
            "event:object",
            0,
            "The object that this event is about.",
        ),
        computed_column(
            "Subobject",
            "event:str:.involvedObject.fieldPath",
            1,
            "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement.",
        ),
        computed_column(
            "Source",
            "event:source",
            1,
            "The component reporting this event.",
        ),
        computed_column(
            "Message",
            "event:str:.message",
            0,
            "A human-readable description of the status of this operation.",
        ),
        computed_column(
            "First Seen",
            "event:first-seen",
            1,
            "The time at which the event was first recorded.",
        ),
        computed_column(
            "Count",
            "event:count",
            1,
            "The number of times this event has occurred.",
        ),
        name,
    ]
}

/// The cell of a computed column (`spec` is the `json_path` after the prefix).
pub(super) fn computed(spec: &str, obj: &Value, now: DateTime<Utc>) -> Value {
    let (name, arg) = spec.split_once(':').unwrap_or((spec, ""));
    match name {
        "age" => age_since(obj.pointer("/metadata/creationTimestamp"), now).into(),
        "created-at" => created_at(obj).into(),
        "str" => first(arg, obj)
            .as_ref()
            .and_then(go_text)
            .unwrap_or_default()
            .into(),
        "int" => first(arg, obj).and_then(|v| v.as_i64()).unwrap_or(0).into(),
        "count" => arg
            .split(',')
            .map(|p| {
                first(p, obj)
                    .and_then(|v| v.as_object().map(Map::len))
                    .unwrap_or(0)
            })
            .sum::<usize>()
            .into(),
        "labels" => format_labels(first(arg, obj).as_ref()).into(),
        "deployment.ready" => deployment_ready(obj).into(),
        "containers" => container_field(obj, "name").into(),
        "images" => container_field(obj, "image").into(),
        "selector" => label_selector(obj.pointer("/spec/selector")).into(),
        "service.type" => service_type(obj).into(),
        "service.cluster-ip" => cluster_ip(obj).into(),
        "service.external-ip" => external_ip(obj).into(),
        "service.ports" => service_ports(obj).into(),
        "hpa.reference" => hpa_reference(obj).into(),
        "hpa.targets" => hpa_targets(obj).into(),
        "hpa.min-pods" => obj
            .pointer("/spec/minReplicas")
            .and_then(Value::as_i64)
            .map_or("<unset>".into(), |n| n.to_string())
            .into(),
        // Event printers read the core/v1 view, whichever view is stored.
        "event" => match arg {
            "first-seen" | "last-seen" | "count" | "object" | "source" => {
                event_cell(arg, &core_event(obj), now)
            }
            other => computed(other, &core_event(obj), now),
        },
        _ => Value::Null,
    }
}

fn first(path: &str, obj: &Value) -> Option<Value> {
    jsonpath::eval(path, obj).into_iter().next()
}

/// The default convertor's RFC 3339 creation time (Go's zero time if unset).
fn created_at(obj: &Value) -> String {
    DateTime::parse_from_rfc3339(str_at(obj, "/metadata/creationTimestamp"))
        .map(|t| {
            t.with_timezone(&Utc)
                .to_rfc3339_opts(SecondsFormat::Secs, true)
        })
        .unwrap_or_else(|_| "0001-01-01T00:00:00Z".into())
}

/// `labels.FormatLabels`: sorted `k=v` pairs, `<none>` when empty.
fn format_labels(map: Option<&Value>) -> String {
    let pairs: Vec<String> = map
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    if pairs.is_empty() {
        "<none>".into()
    } else {
        pairs.join(",")
    }
}

/// `metav1.LabelSelectorAsSelector(..).String()`: requirements sorted by key.
fn label_selector(selector: Option<&Value>) -> String {
    let Some(selector) = selector else {
        return String::new();
    };
    let mut reqs: Vec<(String, String)> = Vec::new();
    if let Some(m) = selector.get("matchLabels").and_then(Value::as_object) {
        reqs.extend(
            m.iter()
                .map(|(k, v)| (k.clone(), format!("{k}={}", v.as_str().unwrap_or_default()))),
        );
    }
    for expr in selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = str_at(expr, "/key");
        let mut values: Vec<&str> = expr
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        values.sort_unstable();
        let text = match str_at(expr, "/operator") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            _ => return "<invalid>".into(),
        };
        reqs.push((key.to_string(), text));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    reqs.into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(",")
}

fn deployment_ready(obj: &Value) -> String {
    let ready = obj
        .pointer("/status/readyReplicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    // The server defaults spec.replicas to 1.
    let desired = obj
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    format!("{ready}/{desired}")
}

fn container_field(obj: &Value, field: &str) -> String {
    let containers = obj
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array);
    containers
        .into_iter()
        .flatten()
        .map(|c| str_at(c, &format!("/{field}")))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn cells(kind: &str, obj: &Value) -> Vec<(String, Value)> {
        builtin_columns(kind)
            .into_iter()
            .map(|c| {
                let cell = match c.json_path.strip_prefix(COMPUTED_PREFIX) {
                    Some(spec) => computed(spec, obj, now()),
                    None => first(&c.json_path, obj).unwrap_or_default(),
                };
                (c.name, cell)
            })
            .collect()
    }

    fn names(kind: &str) -> Vec<String> {
        builtin_columns(kind).into_iter().map(|c| c.name).collect()
    }

    #[test]
    fn deployment_row() {
        let d = json!({
            "metadata": {"name": "web", "creationTimestamp": "2026-06-01T11:58:00Z"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"},
                     "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]},
                                          {"key": "canary", "operator": "DoesNotExist"}]},
                     "template": {"spec": {"containers": [{"name": "app", "image": "nginx:1"}, {"name": "s", "image": "e:2"}]}}},
            "status": {"readyReplicas": 2, "updatedReplicas": 3}
        });
        let want = vec![
            ("Name", json!("web")),
            ("Ready", json!("2/3")),
            ("Up-to-date", json!(3)),
            ("Available", json!(0)),
            ("Age", json!("2m")),
            ("Containers", json!("app,s")),
            ("Images", json!("nginx:1,e:2")),
            ("Selector", json!("app=web,!canary,tier in (a,b)")),
        ];
        let got = cells("Deployment", &d);
        assert_eq!(
            got,
            want.into_iter()
                .map(|(n, v)| (n.to_string(), v))
                .collect::<Vec<_>>()
        );
        let wide: Vec<i32> = builtin_columns("Deployment")
            .iter()
            .map(|c| c.priority)
            .collect();
        assert_eq!(wide, vec![0, 0, 0, 0, 0, 1, 1, 1]);
    }

    #[test]
    fn small_kinds() {
        let ns = json!({"metadata": {"name": "a"}, "status": {"phase": "Active"}});
        assert_eq!(cells("Namespace", &ns)[1].1, json!("Active"));
        let cm = json!({"data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
        assert_eq!(cells("ConfigMap", &cm)[1].1, json!(3));
        let secret = json!({"type": "Opaque", "data": {"a": "MQ=="}});
        assert_eq!(
            cells("Secret", &secret)[1..3],
            [("Type".into(), json!("Opaque")), ("Data".into(), json!(1))]
        );
        let lease = json!({"spec": {"holderIdentity": "pod-1"}});
        assert_eq!(cells("Lease", &lease)[1].1, json!("pod-1"));
        assert_eq!(cells("Lease", &json!({}))[1].1, json!(""));
    }

    #[test]
    fn crds_and_unknown_kinds_use_the_default_convertor() {
        let crd = json!({"metadata": {"name": "canaries.serin.dev", "creationTimestamp": "2026-05-01T10:00:00.5Z"}});
        assert_eq!(names("CustomResourceDefinition"), ["Name", "Created At"]);
        assert_eq!(builtin_columns("CustomResourceDefinition")[1].type_, "date");
        assert_eq!(
            cells("CustomResourceDefinition", &crd)[1].1,
            json!("2026-05-01T10:00:00Z")
        );
        assert_eq!(names("Whatever"), ["Name", "Created At"]);
    }
}

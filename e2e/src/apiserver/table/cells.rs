//! Cells of the built-in kinds whose printers compute more than a field:
//! Services (`getServiceExternalIP`, `makePortString`), HorizontalPodAutoscalers
//! (`formatHPAMetrics`) and Events (`printEvent`, read from the core/v1 view).

use super::render::{age_since, go_text, str_at};
use crate::apiserver::events;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::borrow::Cow;

pub(super) fn service_type(obj: &Value) -> &str {
    // The server defaults spec.type to ClusterIP.
    obj.pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
}

pub(super) fn cluster_ip(obj: &Value) -> String {
    let first_ip = obj.pointer("/spec/clusterIPs/0").and_then(Value::as_str);
    let ip = first_ip
        .or_else(|| obj.pointer("/spec/clusterIP").and_then(Value::as_str))
        .unwrap_or_default();
    if ip.is_empty() {
        "<none>".into()
    } else {
        ip.into()
    }
}

fn strings_at(obj: &Value, pointer: &str) -> Vec<String> {
    let items = obj.pointer(pointer).and_then(Value::as_array);
    items
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// `getServiceExternalIP` of the wide printer.
pub(super) fn external_ip(obj: &Value) -> String {
    let external = strings_at(obj, "/spec/externalIPs");
    match service_type(obj) {
        "ClusterIP" | "NodePort" if external.is_empty() => "<none>".into(),
        "ClusterIP" | "NodePort" => external.join(","),
        "LoadBalancer" => {
            let ingress = obj
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array);
            let mut ips: Vec<String> = ingress
                .into_iter()
                .flatten()
                .map(|i| {
                    if str_at(i, "/ip").is_empty() {
                        str_at(i, "/hostname")
                    } else {
                        str_at(i, "/ip")
                    }
                })
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            ips.extend(external);
            if ips.is_empty() {
                "<pending>".into()
            } else {
                ips.join(",")
            }
        }
        "ExternalName" => str_at(obj, "/spec/externalName").into(),
        _ => "<unknown>".into(),
    }
}

/// `makePortString`: `80/TCP`, `80:30080/TCP` with a node port.
pub(super) fn service_ports(obj: &Value) -> String {
    let ports = obj.pointer("/spec/ports").and_then(Value::as_array);
    let pieces: Vec<String> = ports
        .into_iter()
        .flatten()
        .map(|p| {
            let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
            let protocol = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            match p.get("nodePort").and_then(Value::as_i64).filter(|n| *n > 0) {
                Some(node) => format!("{port}:{node}/{protocol}"),
                None => format!("{port}/{protocol}"),
            }
        })
        .collect();
    if pieces.is_empty() {
        "<none>".into()
    } else {
        pieces.join(",")
    }
}

pub(super) fn hpa_reference(obj: &Value) -> String {
    format!(
        "{}/{}",
        str_at(obj, "/spec/scaleTargetRef/kind"),
        str_at(obj, "/spec/scaleTargetRef/name")
    )
}

/// `formatHPAMetrics` for resource and pods metrics (others print their
/// target only), plus autoscaling/v1's CPU percentage.
pub(super) fn hpa_targets(obj: &Value) -> String {
    if let Some(target) = obj
        .pointer("/spec/targetCPUUtilizationPercentage")
        .and_then(Value::as_i64)
    {
        let current = obj
            .pointer("/status/currentCPUUtilizationPercentage")
            .and_then(Value::as_i64);
        return format!(
            "cpu: {}/{target}%",
            current.map_or("<unknown>".into(), |c| format!("{c}%"))
        );
    }
    let specs = obj
        .pointer("/spec/metrics")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if specs.is_empty() {
        return "<none>".into();
    }
    let statuses = obj
        .pointer("/status/currentMetrics")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let list: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| hpa_metric(spec, statuses.get(i)))
        .collect();
    match list.len() {
        n if n > 2 => format!("{} + {} more...", list[..2].join(", "), n - 2),
        _ => list.join(", "),
    }
}

fn hpa_metric(spec: &Value, status: Option<&Value>) -> String {
    let kind = match str_at(spec, "/type") {
        "Resource" => "resource",
        "ContainerResource" => "containerResource",
        "Pods" => "pods",
        "Object" => "object",
        "External" => "external",
        _ => return "<unknown type>".into(),
    };
    let target = spec
        .pointer(&format!("/{kind}/target"))
        .cloned()
        .unwrap_or_default();
    let current = status
        .and_then(|s| s.pointer(&format!("/{kind}/current")))
        .cloned()
        .unwrap_or_default();
    let text = |v: &Value, key: &str| v.get(key).and_then(go_text);
    let (cur, tgt) = match target.get("averageUtilization").and_then(Value::as_i64) {
        Some(t) => (
            current
                .get("averageUtilization")
                .and_then(Value::as_i64)
                .map(|c| format!("{c}%")),
            format!("{t}%"),
        ),
        None => {
            let key = if target.get("averageValue").is_some() {
                "averageValue"
            } else {
                "value"
            };
            (
                text(&current, key),
                text(&target, key).unwrap_or_else(|| "<auto>".into()),
            )
        }
    };
    let cur = cur.unwrap_or_else(|| "<unknown>".into());
    match kind {
        "resource" | "containerResource" => {
            format!("{}: {cur}/{tgt}", str_at(spec, &format!("/{kind}/name")))
        }
        _ => format!("{cur}/{tgt}"),
    }
}

/// Event printers read the core/v1 shape; the store may hand either view.
pub(super) fn core_event(obj: &Value) -> Cow<'_, Value> {
    if obj.get("apiVersion").and_then(Value::as_str) == Some("events.k8s.io/v1")
        || obj.get("regarding").is_some()
    {
        Cow::Owned(events::events_to_core(obj))
    } else {
        Cow::Borrowed(obj)
    }
}

/// `printEvent`: first seen falls back to eventTime, last seen to first seen,
/// a series overrides last seen and count, a singleton counts 1.
pub(super) fn event_cell(name: &str, ev: &Value, now: DateTime<Utc>) -> Value {
    let stamp = |p: &str| {
        ev.pointer(p)
            .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
    };
    let first_seen = age_since(
        stamp("/firstTimestamp").or_else(|| stamp("/eventTime")),
        now,
    );
    match name {
        "first-seen" => first_seen.into(),
        "last-seen" => match (ev.get("series"), stamp("/lastTimestamp")) {
            (Some(series), _) if series.is_object() => {
                age_since(series.get("lastObservedTime"), now).into()
            }
            (_, Some(last)) => age_since(Some(last), now).into(),
            _ => first_seen.into(),
        },
        "count" => {
            let series = ev.pointer("/series/count").and_then(Value::as_i64);
            let count = ev.get("count").and_then(Value::as_i64).filter(|c| *c != 0);
            series.or(count).unwrap_or(1).into()
        }
        "object" => {
            let kind = str_at(ev, "/involvedObject/kind").to_lowercase();
            match str_at(ev, "/involvedObject/name") {
                "" => kind.into(),
                name => format!("{kind}/{name}").into(),
            }
        }
        "source" => {
            let or = |a: &'static str, b: &'static str| {
                Some(str_at(ev, a))
                    .filter(|s| !s.is_empty())
                    .unwrap_or(str_at(ev, b))
            };
            let component = or("/source/component", "/reportingComponent");
            match or("/source/host", "/reportingInstance") {
                "" => component.into(),
                instance => format!("{component}, {instance}").into(),
            }
        }
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::table::builtin::computed;
    use crate::apiserver::table::{COMPUTED_PREFIX, builtin_columns};
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
                let spec = c
                    .json_path
                    .strip_prefix(COMPUTED_PREFIX)
                    .unwrap_or_default();
                (c.name, computed(spec, obj, now()))
            })
            .collect()
    }

    fn names(kind: &str) -> Vec<String> {
        builtin_columns(kind).into_iter().map(|c| c.name).collect()
    }

    #[test]
    fn service_rows() {
        let svc = json!({"metadata": {"name": "web"}, "spec": {"type": "ClusterIP", "clusterIP": "10.0.0.7",
            "clusterIPs": ["10.0.0.7"], "selector": {"app": "web"},
            "ports": [{"port": 80, "protocol": "TCP"}, {"port": 9090, "nodePort": 30090}]}});
        let got = cells("Service", &svc);
        assert_eq!(
            names("Service"),
            [
                "Name",
                "Type",
                "Cluster-IP",
                "External-IP",
                "Port(s)",
                "Age",
                "Selector"
            ]
        );
        assert_eq!(got[1].1, json!("ClusterIP"));
        assert_eq!(got[2].1, json!("10.0.0.7"));
        assert_eq!(got[3].1, json!("<none>"));
        assert_eq!(got[4].1, json!("80/TCP,9090:30090/TCP"));
        assert_eq!(got[5].1, json!("<unknown>"));
        assert_eq!(got[6].1, json!("app=web"));
        let lb = json!({"spec": {"type": "LoadBalancer"}});
        assert_eq!(cells("Service", &lb)[3].1, json!("<pending>"));
        let lb = json!({"spec": {"type": "LoadBalancer", "externalIPs": ["1.2.3.4"]},
                        "status": {"loadBalancer": {"ingress": [{"hostname": "lb.example"}]}}});
        assert_eq!(cells("Service", &lb)[3].1, json!("lb.example,1.2.3.4"));
        let headless = json!({"spec": {"clusterIPs": ["None"]}});
        assert_eq!(cells("Service", &headless)[2].1, json!("None"));
        assert_eq!(cells("Service", &json!({}))[4].1, json!("<none>"));
    }

    #[test]
    fn hpa_row() {
        let hpa = json!({"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]},
            "status": {"currentReplicas": 2}});
        let got = cells("HorizontalPodAutoscaler", &hpa);
        assert_eq!(
            names("HorizontalPodAutoscaler"),
            [
                "Name",
                "Reference",
                "Targets",
                "MinPods",
                "MaxPods",
                "Replicas",
                "Age"
            ]
        );
        assert_eq!(got[1].1, json!("Deployment/web"));
        assert_eq!(got[2].1, json!("cpu: <unknown>/80%"));
        assert_eq!(got[3].1, json!("<unset>"));
        assert_eq!((got[4].1.clone(), got[5].1.clone()), (json!(5), json!(2)));
        let v1 = json!({"spec": {"targetCPUUtilizationPercentage": 50}, "status": {"currentCPUUtilizationPercentage": 12}});
        assert_eq!(
            cells("HorizontalPodAutoscaler", &v1)[2].1,
            json!("cpu: 12%/50%")
        );
        assert_eq!(
            cells("HorizontalPodAutoscaler", &json!({}))[2].1,
            json!("<none>")
        );
    }

    #[test]
    fn events_in_either_view() {
        let recorder = json!({"apiVersion": "events.k8s.io/v1", "metadata": {"name": "e1"},
            "eventTime": "2026-06-01T11:00:00.000000Z",
            "series": {"count": 4, "lastObservedTime": "2026-06-01T11:59:30.000000Z"},
            "reportingController": "serin", "reportingInstance": "serin-0", "reason": "Synced",
            "regarding": {"kind": "Deployment", "name": "web"}, "note": "ok", "type": "Normal"});
        let want = [
            ("Last Seen", json!("30s")),
            ("Type", json!("Normal")),
            ("Reason", json!("Synced")),
            ("Object", json!("deployment/web")),
            ("Subobject", json!("")),
            ("Source", json!("serin, serin-0")),
            ("Message", json!("ok")),
            ("First Seen", json!("60m")),
            ("Count", json!(4)),
            ("Name", json!("e1")),
        ];
        let got = cells("Event", &recorder);
        assert_eq!(
            got,
            want.iter()
                .map(|(n, v)| (n.to_string(), v.clone()))
                .collect::<Vec<_>>()
        );
        let core = events::events_to_core(&recorder);
        assert_eq!(cells("Event", &core), got);
        let legacy = json!({"involvedObject": {"kind": "Node"}, "source": {"component": "kubelet"},
            "firstTimestamp": "2026-06-01T11:00:00Z", "lastTimestamp": "2026-06-01T11:50:00Z"});
        let got = cells("Event", &legacy);
        assert_eq!(
            (got[0].1.clone(), got[3].1.clone()),
            (json!("10m"), json!("node"))
        );
        assert_eq!(
            (got[5].1.clone(), got[8].1.clone()),
            (json!("kubelet"), json!(1))
        );
        let name = builtin_columns("Event")
            .pop()
            .map(|c| (c.format, c.priority));
        assert_eq!(name, Some(("name".into(), 1)));
    }
}

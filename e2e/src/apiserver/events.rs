//! The two views of an Event: core/v1 and events.k8s.io/v1.
//!
//! The store keeps events.k8s.io/v1 as the canonical form; `/api/v1/events`
//! and `/apis/events.k8s.io/v1/events` are views of it, as on a real server
//! (`pkg/apis/events/v1` conversion). Both directions are pure and lossless
//! for every field the two versions share, and write the fields the way Go's
//! encoder does (`source: {}`, `firstTimestamp: null`, `reportingComponent:
//! ""` on core/v1), so `kubectl describe` renders Recorder events (Age from
//! `eventTime`/`series`, From from `reportingComponent`).
//!
//! [`field_value`] answers field selectors for either view.

use serde_json::{Map, Value, json};

/// Field pairs copied as they are: (core/v1 name, events.k8s.io/v1 name).
const RENAMED: [(&str, &str); 10] = [
    ("metadata", "metadata"),
    ("eventTime", "eventTime"),
    ("series", "series"),
    ("reportingComponent", "reportingController"),
    ("reportingInstance", "reportingInstance"),
    ("action", "action"),
    ("reason", "reason"),
    ("related", "related"),
    ("message", "note"),
    ("type", "type"),
];

/// Pairs whose zero value Go still writes (structs and timestamps).
const STRUCTS: [(&str, &str); 4] = [
    ("involvedObject", "regarding"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
];

/// A core/v1 Event as the events.k8s.io/v1 Event the store keeps.
pub fn core_to_events(core: &Value) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!("events.k8s.io/v1"));
    out.insert("kind".into(), json!("Event"));
    for (from, to) in RENAMED {
        copy_set(core, from, &mut out, to);
    }
    for (from, to) in STRUCTS {
        copy_set(core, from, &mut out, to);
    }
    copy_set(core, "count", &mut out, "deprecatedCount");
    if let Some(series) = out.get_mut("series").and_then(Value::as_object_mut) {
        // core/v1's deprecated `series.state` has no events.k8s.io/v1 field.
        series.remove("state");
    }
    defaults(
        &mut out,
        &[
            ("eventTime", Value::Null),
            ("regarding", json!({})),
            ("deprecatedSource", json!({})),
        ],
    );
    defaults(
        &mut out,
        &[
            ("deprecatedFirstTimestamp", Value::Null),
            ("deprecatedLastTimestamp", Value::Null),
        ],
    );
    Value::Object(out)
}

/// An events.k8s.io/v1 Event as the core/v1 Event `kubectl describe` reads.
pub fn events_to_core(ev: &Value) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!("v1"));
    out.insert("kind".into(), json!("Event"));
    for (to, from) in RENAMED {
        copy_set(ev, from, &mut out, to);
    }
    for (to, from) in STRUCTS {
        copy_set(ev, from, &mut out, to);
    }
    copy_set(ev, "deprecatedCount", &mut out, "count");
    defaults(
        &mut out,
        &[
            ("metadata", json!({})),
            ("involvedObject", json!({})),
            ("source", json!({})),
        ],
    );
    defaults(
        &mut out,
        &[
            ("firstTimestamp", Value::Null),
            ("lastTimestamp", Value::Null),
            ("eventTime", Value::Null),
        ],
    );
    defaults(
        &mut out,
        &[
            ("reportingComponent", json!("")),
            ("reportingInstance", json!("")),
        ],
    );
    Value::Object(out)
}

/// Copies a field unless it is absent or a zero value Go would omit.
fn copy_set(from: &Value, key: &str, out: &mut Map<String, Value>, to: &str) {
    match from.get(key) {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.is_empty() => {}
        Some(Value::Number(n)) if n.as_i64() == Some(0) => {}
        Some(v) => {
            out.insert(to.to_string(), v.clone());
        }
    }
}

fn defaults(out: &mut Map<String, Value>, pairs: &[(&str, Value)]) {
    for (key, value) in pairs {
        out.entry(key.to_string()).or_insert_with(|| value.clone());
    }
}

/// The value of field-selector `label` for an Event in either view, or
/// `None` when the label is not selectable on Events (the server answers 400).
///
/// Labels are core/v1's (`involvedObject.name`, `reason`, `source`,
/// `reportingComponent`, `type`, `metadata.name`, `metadata.namespace`) or
/// events.k8s.io/v1's (`regarding.name`, `reportingController`, ...).
pub fn field_value(event: &Value, label: &str) -> Option<String> {
    let core_label = match label.strip_prefix("regarding.") {
        Some(rest) => format!("involvedObject.{rest}"),
        None if label == "reportingController" => "reportingComponent".into(),
        None => label.to_string(),
    };
    let core = if event.get("regarding").is_some() || event.get("note").is_some() {
        events_to_core(event)
    } else {
        event.clone()
    };
    let text = |pointer: &str| {
        core.pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let value = match core_label.as_str() {
        "metadata.name" => text("/metadata/name"),
        "metadata.namespace" => text("/metadata/namespace"),
        "reason" => text("/reason"),
        "type" => text("/type"),
        "reportingComponent" => text("/reportingComponent"),
        // The server falls back to the reporting controller for `source`.
        "source" => Some(text("/source/component"))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| text("/reportingComponent")),
        other => {
            let field = other.strip_prefix("involvedObject.")?;
            const REF_FIELDS: [&str; 7] = [
                "kind",
                "namespace",
                "name",
                "uid",
                "apiVersion",
                "resourceVersion",
                "fieldPath",
            ];
            if !REF_FIELDS.contains(&field) {
                return None;
            }
            text(&format!("/involvedObject/{field}"))
        }
    };
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What kube-rs' `Recorder` posts for a repeated event.
    fn recorder_event() -> Value {
        json!({
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": "demo.1234", "namespace": "ns1"},
            "eventTime": "2026-06-01T12:00:00.000000Z",
            "series": {"count": 3, "lastObservedTime": "2026-06-01T12:05:00.000000Z"},
            "reportingController": "serin",
            "reportingInstance": "serin-0",
            "action": "Reconcile",
            "reason": "Synced",
            "regarding": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": "ns1", "uid": "u-1"},
            "note": "all good",
            "type": "Normal"
        })
    }

    fn legacy_core_event() -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "web.abc", "namespace": "ns1"},
            "involvedObject": {"kind": "Deployment", "name": "web", "namespace": "ns1"},
            "reason": "ScalingReplicaSet",
            "message": "Scaled up",
            "source": {"component": "deployment-controller", "host": "node-1"},
            "firstTimestamp": "2026-06-01T11:00:00Z",
            "lastTimestamp": "2026-06-01T11:10:00Z",
            "count": 4,
            "type": "Normal",
            "reportingComponent": "",
            "reportingInstance": ""
        })
    }

    #[test]
    fn recorder_events_read_as_core_for_kubectl_describe() {
        let core = events_to_core(&recorder_event());
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["involvedObject"]["name"], "web");
        assert_eq!(core["involvedObject"]["uid"], "u-1");
        assert_eq!(core["message"], "all good");
        // describe's "From" falls back to reportingComponent when source is empty.
        assert_eq!(core["reportingComponent"], "serin");
        assert_eq!(core["source"], json!({}));
        // describe's "Age" reads eventTime and series.
        assert_eq!(core["eventTime"], "2026-06-01T12:00:00.000000Z");
        assert_eq!(core["series"]["count"], 3);
        assert_eq!(core["firstTimestamp"], Value::Null);
        assert!(core.get("count").is_none());
        assert!(core.get("note").is_none() && core.get("regarding").is_none());
    }

    #[test]
    fn legacy_core_events_keep_their_deprecated_fields() {
        let ev = core_to_events(&legacy_core_event());
        assert_eq!(ev["apiVersion"], "events.k8s.io/v1");
        assert_eq!(ev["regarding"]["kind"], "Deployment");
        assert_eq!(ev["note"], "Scaled up");
        assert_eq!(ev["deprecatedSource"]["component"], "deployment-controller");
        assert_eq!(ev["deprecatedFirstTimestamp"], "2026-06-01T11:00:00Z");
        assert_eq!(ev["deprecatedLastTimestamp"], "2026-06-01T11:10:00Z");
        assert_eq!(ev["deprecatedCount"], 4);
        assert_eq!(ev["eventTime"], Value::Null);
        assert!(
            ev.get("reportingController").is_none(),
            "empty strings are omitted"
        );
    }

    #[test]
    fn round_trips_are_lossless() {
        let core = legacy_core_event();
        let mut back = events_to_core(&core_to_events(&core));
        back.as_object_mut().map(|m| m.remove("eventTime"));
        assert_eq!(back, core);
        let ev = recorder_event();
        let again = core_to_events(&events_to_core(&ev));
        for key in [
            "metadata",
            "eventTime",
            "series",
            "reportingController",
            "regarding",
            "note",
            "action",
        ] {
            assert_eq!(again[key], ev[key], "{key}");
        }
    }

    #[test]
    fn series_state_is_dropped() {
        let core = json!({"series": {"count": 2, "lastObservedTime": "2026-06-01T12:00:00Z", "state": "Ongoing"}});
        assert_eq!(
            core_to_events(&core)["series"],
            json!({"count": 2, "lastObservedTime": "2026-06-01T12:00:00Z"})
        );
    }

    #[test]
    fn garbage_in_does_not_panic() {
        for v in [
            Value::Null,
            json!([1, 2]),
            json!("x"),
            json!({"involvedObject": 5}),
        ] {
            let _ = events_to_core(&core_to_events(&v));
            let _ = field_value(&v, "involvedObject.name");
        }
    }

    #[test]
    fn field_selectors_on_either_view() {
        let ev = recorder_event();
        let core = events_to_core(&ev);
        for view in [&ev, &core] {
            assert_eq!(
                field_value(view, "involvedObject.name").as_deref(),
                Some("web")
            );
            assert_eq!(
                field_value(view, "involvedObject.kind").as_deref(),
                Some("Deployment")
            );
            assert_eq!(
                field_value(view, "involvedObject.uid").as_deref(),
                Some("u-1")
            );
            assert_eq!(
                field_value(view, "regarding.namespace").as_deref(),
                Some("ns1")
            );
            assert_eq!(field_value(view, "source").as_deref(), Some("serin"));
            assert_eq!(
                field_value(view, "reportingController").as_deref(),
                Some("serin")
            );
            assert_eq!(
                field_value(view, "involvedObject.fieldPath").as_deref(),
                Some("")
            );
            assert_eq!(
                field_value(view, "metadata.name").as_deref(),
                Some("demo.1234")
            );
            assert_eq!(field_value(view, "note"), None);
            assert_eq!(field_value(view, "involvedObject.bogus"), None);
        }
        assert_eq!(
            field_value(&legacy_core_event(), "source").as_deref(),
            Some("deployment-controller")
        );
    }
}

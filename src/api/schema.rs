//! Schema fragments for fields serin accepts but types loosely: Flagger fields that are
//! not implemented yet, and Istio structures passed through to the VirtualService as they are.
//! A structural schema needs a `type` on every node, so "anything" becomes an object or a
//! list of objects whose unknown fields are preserved.

use schemars::{Schema, SchemaGenerator, json_schema};

/// Any JSON object, kept as written.
pub(crate) fn any_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "nullable": true,
        "x-kubernetes-preserve-unknown-fields": true
    })
}

/// A list of arbitrary JSON objects, kept as written.
pub(crate) fn any_object_list(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "nullable": true,
        "items": { "type": "object", "x-kubernetes-preserve-unknown-fields": true }
    })
}

/// An integer or a string (Kubernetes' IntOrString), e.g. a port number or name.
pub(crate) fn int_or_string(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "nullable": true,
        "x-kubernetes-int-or-string": true
    })
}

/// A Flagger-style duration of at most [`super::duration::MAX_INTERVAL`]: the pattern
/// refuses malformed text, the CEL rule refuses values beyond a day.
pub(crate) fn interval(_: &mut SchemaGenerator) -> Schema {
    use super::duration::{DURATION_MAX_LENGTH, DURATION_PATTERN, MAX_INTERVAL_RULE};
    json_schema!({
        "type": "string",
        "nullable": true,
        "maxLength": DURATION_MAX_LENGTH,
        "pattern": DURATION_PATTERN,
        "x-kubernetes-validations": [{
            "rule": MAX_INTERVAL_RULE,
            "message": "must be at most 24h"
        }]
    })
}

/// A webhook timeout: a Flagger-style duration of at most an hour. A call that needs
/// longer is a job, not a gate, and an hour keeps a stuck hook from holding a rollout
/// for a day.
pub(crate) fn hook_timeout(_: &mut SchemaGenerator) -> Schema {
    use super::duration::{DURATION_MAX_LENGTH, DURATION_PATTERN};
    json_schema!({
        "type": "string",
        "nullable": true,
        "maxLength": DURATION_MAX_LENGTH,
        "pattern": DURATION_PATTERN,
        "x-kubernetes-validations": [{
            "rule": "duration(self) <= duration('1h')",
            "message": "webhook timeout must be at most 1h"
        }]
    })
}

/// Flagger's webhook types; the empty string (and a missing type) means `rollout`.
pub(crate) fn hook_type(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "enum": [
            "", "confirm-rollout", "pre-rollout", "rollout", "confirm-traffic-increase",
            "confirm-promotion", "post-rollout", "rollback", "event"
        ]
    })
}

/// Alert severity; the empty string (and a missing severity) means `info`, as in Flagger.
pub(crate) fn alert_severity(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "enum": ["", "info", "warn", "error"]
    })
}

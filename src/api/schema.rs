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

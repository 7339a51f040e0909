//! CRD structural schemas (`openAPIV3Schema`) as kube-apiserver applies them to custom
//! resources: pruning of unknown fields, defaulting, validation of the OpenAPI keywords and
//! of the `x-kubernetes-validations` CEL rules, and the checks on `metadata.name` every object
//! gets. Refusals are [`FieldError`]s worded exactly as kube-apiserver words them, so that a
//! `422 Invalid` of the sandbox reads like a real cluster's.
//!
//! Pure functions of (schema, object, old object): the server core decides when to call them
//! (prune, then default, then validate on create and update).

mod cost;
mod defaults;
pub(crate) mod errors;
mod lists;
mod meta;
mod node;
mod prune;
mod rules;
mod validate;

use serde_json::Value;

pub use cost::validate_crd_costs;
pub use defaults::apply_defaults;
pub use meta::validate_metadata_name;
pub use prune::prune;

/// One refusal, as a `details.causes[]` entry of the `Status` and a line of its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field, as the apiserver names it: `spec.analysis.stepWeight`, `spec.ports[0]`,
    /// `<nil>` for the object itself.
    pub field: String,
    /// The cause type: `FieldValueInvalid`, `FieldValueRequired`, `FieldValueNotSupported`,
    /// `FieldValueTypeInvalid`, `FieldValueDuplicate`, `FieldValueTooLong`,
    /// `FieldValueTooMany` or `FieldValueForbidden`.
    pub reason: &'static str,
    /// The full text: `spec.analysis.stepWeight: Invalid value: 101: spec.analysis.stepWeight
    /// in body should be less than or equal to 100`.
    pub message: String,
}

impl FieldError {
    /// The message without the leading field (`Status.details.causes[].message`).
    pub fn body(&self) -> &str {
        self.message
            .strip_prefix(self.field.as_str())
            .and_then(|rest| rest.strip_prefix(": "))
            .unwrap_or(&self.message)
    }
}

/// Validates a custom resource against its version's `openAPIV3Schema`, `old` being the
/// stored object on update: `metadata.name`, then the schema's keywords, then list-type
/// invariants, then the CEL rules (skipped, with kube-apiserver's note, when an earlier error
/// means the object does not have the shape the rules expect).
pub fn validate(schema: &Value, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errors = validate_metadata_name(obj);
    errors.extend(validate::validate_root(schema, obj));
    errors.extend(lists::validate_lists(schema, obj));
    if rules::has_rules(schema) {
        if errors.iter().any(is_blocking) {
            errors.push(errors::invalid(
                "",
                &Value::Null,
                "some validation rules were not checked because the object was invalid; \
                 correct the existing errors to complete validation",
            ));
        } else {
            errors.extend(rules::validate_rules(schema, obj, old));
        }
    }
    errors
}

/// kube-apiserver's `hasBlockingErr`: errors after which CEL rules are not evaluated.
fn is_blocking(error: &FieldError) -> bool {
    matches!(
        error.reason,
        errors::NOT_SUPPORTED
            | errors::REQUIRED
            | errors::TOO_LONG
            | errors::TOO_MANY
            | errors::TYPE_INVALID
    )
}

#[cfg(test)]
#[path = "canary_tests.rs"]
mod canary_tests;

//! Whether serin can derive the primary's and the Services' selectors from a target.
//!
//! serin copies the target's `matchLabels` to the Services and suffixes each value with
//! `-primary` for the primary. A selector without `matchLabels` (only
//! `matchExpressions`) would give them an empty selector, which selects every pod of the
//! namespace or none; a value the suffix pushes past the label-value rules would be
//! refused by the API server on every retry. Both are refused here, before any write,
//! with a message that names the problem.

use k8s_openapi::api::apps::v1::Deployment;

use super::{PRIMARY_SUFFIX, selector_labels};

/// The longest label value Kubernetes accepts.
const MAX_LABEL_VALUE: usize = 63;

/// Why the target's selector cannot be used, or None when it can.
pub fn selector_problem(target: &Deployment) -> Option<String> {
    let labels = selector_labels(target);
    if labels.is_empty() {
        let has_expressions = target
            .spec
            .as_ref()
            .and_then(|s| s.selector.match_expressions.as_ref())
            .is_some_and(|e| !e.is_empty());
        let detail = if has_expressions {
            "only matchExpressions, which serin does not support"
        } else {
            "no matchLabels"
        };
        return Some(format!(
            "the target's selector has {detail}: serin needs spec.selector.matchLabels to select the primary's and the canary's pods"
        ));
    }
    for (key, value) in &labels {
        let derived = format!("{value}{PRIMARY_SUFFIX}");
        if !label_value_ok(&derived) {
            return Some(format!(
                "the target's selector label {key}={value:?} cannot be used: the primary's value {derived:?} must be at most {MAX_LABEL_VALUE} characters, alphanumeric, '-', '_' or '.', starting and ending alphanumeric"
            ));
        }
    }
    None
}

/// Kubernetes' rule for a non-empty label value.
fn label_value_ok(v: &str) -> bool {
    let bytes = v.as_bytes();
    let edge = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    v.len() <= MAX_LABEL_VALUE
        && edge(bytes.first())
        && edge(bytes.last())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_selector(selector: serde_json::Value) -> Deployment {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "podinfo"},
            "spec": {"selector": selector, "template": {}}
        }))
        .expect("deployment")
    }

    #[test]
    fn match_labels_are_usable() {
        let d = with_selector(serde_json::json!({"matchLabels": {"app": "podinfo"}}));
        assert_eq!(selector_problem(&d), None);
    }

    #[test]
    fn only_match_expressions_is_refused_by_name() {
        let d = with_selector(serde_json::json!({"matchExpressions": [
            {"key": "app", "operator": "In", "values": ["podinfo"]}]}));
        let why = selector_problem(&d).expect("refused");
        assert!(why.contains("only matchExpressions"), "{why}");
        let d = with_selector(serde_json::json!({}));
        assert!(
            selector_problem(&d)
                .expect("refused")
                .contains("no matchLabels")
        );
    }

    #[test]
    fn a_value_the_suffix_pushes_past_63_characters_is_refused() {
        let ok = "a".repeat(55);
        let d = with_selector(serde_json::json!({"matchLabels": {"app": ok}}));
        assert_eq!(selector_problem(&d), None);
        let long = "a".repeat(56);
        let d = with_selector(serde_json::json!({"matchLabels": {"app": long}}));
        let why = selector_problem(&d).expect("refused");
        assert!(why.contains("at most 63"), "{why}");
        let d = with_selector(serde_json::json!({"matchLabels": {"app": ""}}));
        assert!(
            selector_problem(&d).is_some(),
            "an empty value gives \"-primary\""
        );
    }
}

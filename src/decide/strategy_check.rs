//! Which strategy a Canary's analysis asks for, chosen as Flagger does (`iterations` with
//! `match` is A/B testing, `iterations` alone blue/green, else the weighted canary), and
//! the combinations a strategy cannot honour. Those are refused with a message naming the
//! fields: running a Canary as another strategy than the one its author meant (mixing
//! versions for a user who asked for blue/green) is worse than not running it.

use super::settings::{SpecError, StrategyKind};
use crate::api::{CanaryAnalysis, HttpMatchRequest};

fn refuse(field: &'static str, message: &str) -> SpecError {
    SpecError::Analysis {
        field,
        message: message.to_string(),
    }
}

/// The strategy of `analysis`, or why its fields do not fit together.
pub(super) fn strategy_kind(a: &CanaryAnalysis) -> Result<StrategyKind, SpecError> {
    let iterations = a.iterations.unwrap_or(0);
    let has_match = a.match_.is_some();
    if a.mirror_weight.is_some() && !a.mirror {
        return Err(refuse(
            "mirrorWeight",
            "is set but analysis.mirror is not true; set mirror: true or remove mirrorWeight",
        ));
    }
    if let Some(sa) = &a.session_affinity
        && sa.primary_cookie_name.as_deref() == Some(sa.cookie_name.as_str())
    {
        return Err(refuse(
            "sessionAffinity.primaryCookieName",
            "must differ from analysis.sessionAffinity.cookieName",
        ));
    }
    if iterations <= 0 {
        if has_match {
            return Err(refuse(
                "match",
                "A/B testing needs analysis.iterations > 0 (the weighted canary does not use matches)",
            ));
        }
        if a.mirror {
            return Err(refuse(
                "mirror",
                "traffic mirroring needs analysis.iterations (blue/green); mirroring with stepWeight/stepWeights is not implemented",
            ));
        }
        return Ok(StrategyKind::Canary);
    }
    if a.step_weight.is_some_and(|w| w > 0)
        || a.step_weights.as_ref().is_some_and(|w| !w.is_empty())
    {
        return Err(refuse(
            "iterations",
            "cannot be combined with analysis.stepWeight or analysis.stepWeights: iterations select A/B testing or blue/green, steps the weighted canary; keep one",
        ));
    }
    if a.session_affinity.is_some() {
        return Err(refuse(
            "sessionAffinity",
            "applies to the weighted canary only, not with analysis.iterations (A/B testing and blue/green never mix versions for a user)",
        ));
    }
    if !has_match {
        let mirror = a
            .mirror
            .then(|| a.mirror_weight.unwrap_or(100).clamp(0, 100));
        return Ok(StrategyKind::BlueGreen { iterations, mirror });
    }
    if a.mirror {
        return Err(refuse(
            "mirror",
            "traffic mirroring is not possible with A/B testing (analysis.match); remove analysis.mirror or analysis.match",
        ));
    }
    let list = a.match_.as_deref().unwrap_or_default();
    let matches = serde_json::to_value(list).unwrap_or_default();
    if list.is_empty() {
        return Err(refuse(
            "match",
            "must be a non-empty list of HTTP match requests",
        ));
    }
    if let Some(i) = list.iter().position(|m| !constrains(m)) {
        return Err(SpecError::Analysis {
            field: "match",
            message: format!(
                "entry {} has no condition and would match every request, sending all users to the canary; give it headers, uri, queryParams, method or another condition (or use blue/green: analysis.iterations without match)",
                i + 1
            ),
        });
    }
    Ok(StrategyKind::AbTesting {
        iterations,
        matches,
    })
}

/// Whether an HTTP match request narrows the traffic at all: Istio (and serin) match every
/// request with one that has no condition (`{}`, or only `name`/`ignoreUriCase`).
fn constrains(m: &HttpMatchRequest) -> bool {
    fn some_map(v: &Option<std::collections::BTreeMap<String, crate::api::StringMatch>>) -> bool {
        v.as_ref().is_some_and(|m| !m.is_empty())
    }
    m.uri.is_some()
        || m.scheme.is_some()
        || m.method.is_some()
        || m.authority.is_some()
        || some_map(&m.headers)
        || some_map(&m.without_headers)
        || some_map(&m.query_params)
        || m.port.is_some()
        || m.source_labels.as_ref().is_some_and(|l| !l.is_empty())
        || m.source_namespace.is_some()
        || !m.gateways.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn analysis(v: serde_json::Value) -> CanaryAnalysis {
        serde_json::from_value(v).unwrap()
    }

    fn refused(v: serde_json::Value) -> String {
        strategy_kind(&analysis(v)).unwrap_err().to_string()
    }

    #[test]
    fn chosen_as_flagger_does() {
        let ab = analysis(
            json!({"iterations": 5, "match": [{"headers": {"x-canary": {"exact": "insider"}}}]}),
        );
        assert!(matches!(
            strategy_kind(&ab),
            Ok(StrategyKind::AbTesting { iterations: 5, .. })
        ));
        let bg = analysis(json!({"iterations": 3}));
        assert_eq!(
            strategy_kind(&bg),
            Ok(StrategyKind::BlueGreen {
                iterations: 3,
                mirror: None
            })
        );
        let mirrored = analysis(json!({"iterations": 3, "mirror": true, "mirrorWeight": 50}));
        assert_eq!(
            strategy_kind(&mirrored),
            Ok(StrategyKind::BlueGreen {
                iterations: 3,
                mirror: Some(50)
            })
        );
        let full = analysis(json!({"iterations": 3, "mirror": true}));
        assert_eq!(
            strategy_kind(&full),
            Ok(StrategyKind::BlueGreen {
                iterations: 3,
                mirror: Some(100)
            })
        );
        assert_eq!(
            strategy_kind(&analysis(json!({"stepWeight": 10}))),
            Ok(StrategyKind::Canary)
        );
    }

    #[test]
    fn each_impossible_combination_names_its_fields() {
        let cases = [
            (
                json!({"iterations": 5, "mirror": true, "match": [{"uri": {"prefix": "/"}}]}),
                ["analysis.mirror", "analysis.match"],
            ),
            (
                json!({"iterations": 5, "sessionAffinity": {"cookieName": "c"}}),
                ["analysis.sessionAffinity", "analysis.iterations"],
            ),
            (
                json!({"iterations": 5, "stepWeights": [10, 50]}),
                ["analysis.iterations", "analysis.stepWeights"],
            ),
            (
                json!({"stepWeight": 10, "match": [{"uri": {"prefix": "/"}}]}),
                ["analysis.match", "analysis.iterations"],
            ),
            (
                json!({"stepWeight": 10, "mirror": true}),
                ["analysis.mirror", "analysis.iterations"],
            ),
            (
                json!({"iterations": 2, "mirrorWeight": 50}),
                ["analysis.mirrorWeight", "analysis.mirror"],
            ),
            (
                json!({"iterations": 2, "match": []}),
                ["analysis.match", "non-empty"],
            ),
            (
                json!({"iterations": 2, "match": [{}]}),
                ["analysis.match", "entry 1 has no condition"],
            ),
            (
                json!({"iterations": 2, "match": [{"uri": {"prefix": "/"}}, {"name": "all", "ignoreUriCase": true}]}),
                ["analysis.match", "entry 2 has no condition"],
            ),
        ];
        for (spec, fields) in cases {
            let message = refused(spec.clone());
            for f in fields {
                assert!(message.contains(f), "{spec}: {message:?} should name {f}");
            }
        }
    }
}

use super::*;

#[test]
fn a_weighted_canary_walks_its_steps() {
    let steps = [10, 20, 30];
    let s = Strategy::Canary {
        steps: &steps,
        affinity: None,
    };
    assert_eq!(s.first(), After::Weight(10));
    let mut status = CanaryStatus {
        canary_weight: 10,
        ..Default::default()
    };
    assert_eq!(s.after(&status), After::Weight(20));
    status.canary_weight = 30;
    assert_eq!(s.after(&status), After::Promote);
    assert!(!s.started(&CanaryStatus::default()));
    let split = s.split(&status, 20, true);
    assert_eq!((split.primary, split.canary), (80, 20));
    assert_eq!(s.label(), "canary");
}

#[test]
fn iterating_strategies_count_iterations_not_weights() {
    let s = Strategy::BlueGreen {
        iterations: 2,
        mirror: None,
    };
    assert_eq!(s.first(), After::Iteration(1));
    let mut status = CanaryStatus {
        iterations: 1,
        ..Default::default()
    };
    assert!(s.started(&status));
    assert_eq!(s.after(&status), After::Iteration(2));
    status.iterations = 2;
    assert_eq!(s.after(&status), After::Promote);
    assert_eq!(s.label(), "blue-green");
    assert!(s.switches_at_promotion());
}

#[test]
fn labels_are_inferred_from_the_spec_as_flagger_does() {
    let spec = |analysis: serde_json::Value| -> CanarySpec {
        serde_json::from_value(serde_json::json!({
            "targetRef": {"kind": "Deployment", "name": "app"},
            "service": {"port": 80},
            "analysis": analysis,
        }))
        .unwrap()
    };
    assert_eq!(
        label_of(&spec(serde_json::json!({"stepWeight": 5}))),
        "canary"
    );
    assert_eq!(
        label_of(&spec(serde_json::json!({"iterations": 5}))),
        "blue-green"
    );
    assert_eq!(
        label_of(&spec(
            serde_json::json!({"iterations": 5, "match": [{"uri": {"prefix": "/"}}]})
        )),
        "ab-testing"
    );
}

//! The evidence judge end to end: the canary compared with the live primary from the
//! Prometheus counters the mesh stand-in exports, at the request rates a scenario sets
//! on its VirtualService (`mesh.sandbox.serin.dev/rps`, through the apex annotations).
//! The mesh's counts are exact (a 2% error rate is 2% of the requests), so each run
//! reaches its verdict after the same number of looks.

use serin::api::{Phase, Verdict};

use crate::support::scenario::{Scenario, kubectl_result, podinfo};

/// A Canary whose VirtualService gets `rps` requests per second; `analysis` is the body
/// of `spec.analysis`.
fn canary(rps: &str, analysis: &str) -> String {
    format!(
        r#"apiVersion: serin.dev/v1beta1
kind: Canary
metadata:
  name: podinfo
spec:
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: podinfo
  progressDeadlineSeconds: 60
  service:
    port: 9898
    apex:
      annotations:
        mesh.sandbox.serin.dev/rps: "{rps}"
  analysis:
{analysis}"#
    )
}

async fn initialized(name: &str, manifest: &str, env: &[(&str, &str)]) -> Scenario {
    let s = Scenario::new(name).await;
    s.apply(&podinfo("6.0.0", env));
    s.apply(manifest);
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    s
}

/// (a) About one request per second to the canary: a threshold check on a short window
/// finds no data and rolls back a healthy revision; the judge holds until it has seen
/// enough requests, shows them growing in status, and promotes.
#[tokio::test(flavor = "multi_thread")]
async fn judge_promotes_a_quiet_service_where_a_short_window_rolls_back() {
    let threshold = r#"    interval: 3s
    threshold: 2
    maxWeight: 50
    stepWeight: 50
    metrics:
    - name: request-success-rate
      interval: 1s
      thresholdRange:
        min: 99
"#;
    let s = initialized("judge-quiet", &canary("2", threshold), &[]).await;
    s.apply(&podinfo("6.0.1", &[]));
    let st = s.wait_phase("podinfo", Phase::Failed, 90).await;
    assert_eq!(st.failed_checks, 2);
    let events = s.events("podinfo");
    assert!(events.contains("no values found"), "{events}");

    let judged = r#"    interval: 3s
    threshold: 2
    maxWeight: 50
    stepWeight: 50
    metrics:
    - name: errors
      minRequests: 8
      judge:
        compare: error-rate
"#;
    s.apply(&canary("2", judged));
    s.apply(&podinfo("6.0.2", &[]));
    let st = s.wait_phase("podinfo", Phase::Succeeded, 120).await;
    let judge = &st.evidence.as_ref().expect("evidence in status").judges[0];
    assert!(judge.state.canary.requests >= 8.0, "{judge:?}");
    let events = s.events("podinfo");
    assert!(
        events.contains("Hold podinfo.") && events.contains("insufficient"),
        "{events}"
    );
    assert!(events.contains("Promotion completed!"), "{events}");
}

/// (a, continued) While the quiet canary holds, status shows requests seen and needed
/// growing from look to look.
#[tokio::test(flavor = "multi_thread")]
async fn judge_status_shows_the_evidence_growing() {
    let judged = r#"    interval: 3s
    threshold: 2
    maxWeight: 50
    stepWeight: 50
    metrics:
    - name: errors
      minRequests: 20
      judge:
        compare: error-rate
"#;
    let s = initialized("judge-growing", &canary("2", judged), &[]).await;
    s.apply(&podinfo("6.0.1", &[]));
    let canary_requests = |st: &serin::api::CanaryStatus| {
        st.evidence
            .as_ref()
            .and_then(|e| e.judges.first())
            .map(|j| j.state.canary.requests)
            .unwrap_or(0.0)
    };
    let first = s
        .wait_status("podinfo", 90, "a first interval judged", |st| {
            canary_requests(st) > 0.0
        })
        .await;
    let m = &first.metrics[0];
    assert_eq!(m.verdict, Verdict::Insufficient, "{m:?}");
    assert_eq!(m.requests_needed, Some(20.0));
    let before = canary_requests(&first);
    let later = s
        .wait_status("podinfo", 60, "more canary requests judged", |st| {
            canary_requests(st) > before || st.phase == Some(Phase::Succeeded)
        })
        .await;
    assert!(
        canary_requests(&later) > before || later.phase == Some(Phase::Succeeded),
        "{later:?}"
    );
    s.wait_phase("podinfo", Phase::Succeeded, 90).await;
}

/// (b) Twice the primary's error rate at a 1% base rate: the judge aborts with its
/// numbers, while a threshold check that tolerates the base rate's noise (97%) passes
/// (it runs in observe mode, reported only).
#[tokio::test(flavor = "multi_thread")]
async fn judge_aborts_twice_the_primarys_error_rate() {
    let analysis = r#"    interval: 3s
    threshold: 5
    maxWeight: 50
    stepWeight: 5
    metrics:
    - name: errors
      judge:
        compare: error-rate
        earlyAbort: true
    - name: request-success-rate
      mode: observe
      interval: 10s
      thresholdRange:
        min: 97
"#;
    let env = [("SANDBOX_ERROR_RATE", "0.01")];
    let s = initialized("judge-abort", &canary("2000", analysis), &env).await;
    s.apply(&podinfo("6.0.1", &[("SANDBOX_ERROR_RATE", "0.02")]));
    let st = s.wait_phase("podinfo", Phase::Failed, 120).await;
    let events = s.events("podinfo");
    assert!(
        events.contains("Rolling back podinfo.") && events.contains("errors: canary error rate"),
        "{events}"
    );
    assert!(events.contains("(abort at 100)"), "{events}");
    assert_eq!(st.failed_checks, 0, "the threshold check never failed");
    let sr = st
        .metrics
        .iter()
        .find(|m| m.name == "request-success-rate")
        .expect("the threshold check in status");
    assert_eq!(sr.verdict, Verdict::Pass, "{sr:?}");
    assert!(st.canary_weight == 0);
}

/// (c) A clearly healthy revision at high traffic is promoted early; (d) an observe-mode
/// check that fails is reported and does not stop it.
#[tokio::test(flavor = "multi_thread")]
async fn judge_promotes_early_and_observed_failures_do_not_stop_it() {
    let analysis = r#"    interval: 3s
    threshold: 2
    maxWeight: 50
    stepWeight: 5
    metrics:
    - name: errors
      judge:
        compare: error-rate
        margin: 1
        earlyPromotion: true
    - name: strict-success-rate
      mode: observe
      query: |
        sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}",response_code!~"5.*"}[{{ interval }}])) / sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}"}[{{ interval }}])) * 100
      interval: 10s
      thresholdRange:
        min: 99.9
"#;
    let env = [("SANDBOX_ERROR_RATE", "0.02")];
    let s = initialized("judge-early", &canary("2000", analysis), &env).await;
    s.apply(&podinfo("6.0.1", &env));
    s.wait_phase("podinfo", Phase::Succeeded, 120).await;
    let events = s.events("podinfo");
    assert!(events.contains("Promote podinfo."), "{events}");
    assert!(events.contains("early: errors:"), "{events}");
    assert!(
        events.contains("strict-success-rate (observe mode, not deciding)"),
        "{events}"
    );
    assert!(
        !events.contains("weight 50"),
        "promoted before the last step: {events}"
    );
}

/// A judge the schema refuses is refused by kubectl, naming the field.
#[tokio::test(flavor = "multi_thread")]
async fn judge_alpha_out_of_bounds_is_refused() {
    let s = Scenario::new("judge-refused").await;
    let analysis = r#"    interval: 3s
    stepWeight: 50
    metrics:
    - name: errors
      judge:
        compare: error-rate
        alpha: 0.7
"#;
    let out = kubectl_result(
        &["apply", "-n", &s.ns, "-f", "-"],
        Some(&canary("2", analysis)),
    );
    let err = out.expect_err("refused");
    assert!(err.contains("judge.alpha"), "{err}");
}

//! Deployment strategies end to end: A/B testing with cookie traffic, blue/green with and
//! without mirroring, and the combinations serin refuses. Traffic is measured by source
//! and reporter in Prometheus, as the mesh stand-in reports it like Istio.
//!
//! The mesh's traffic classes are shared by every scenario of this binary: a quarter of
//! the requests carry the A/B cookie (source workload `insiders`). Routes without matches
//! treat them as any other request, so the other scenarios are not affected.

use std::time::Duration;

use serin::api::{Phase, conditions};

use crate::support::scenario::{Scenario, canary, kubectl_result, podinfo};
use crate::support::{Prom, promql, sandbox};

const WITHIN: Duration = Duration::from_secs(60);

/// Sends a quarter of every host's requests with the cookie `type=insider`.
fn insiders() {
    if let Some(mesh) = sandbox().mesh() {
        let class = "cookie:type=insider,source:insiders:0.25"
            .parse()
            .expect("traffic class");
        mesh.set_header_traffic(vec![class]);
    }
}

fn prom() -> Prom {
    Prom::new(&sandbox().prometheus_url)
}

/// Requests per second reported by `reporter` for `workload` in the scenario's namespace,
/// over the last 5s, restricted by `extra` label matchers; 0 when there are none.
fn rate(s: &Scenario, reporter: &str, workload: &str, extra: &str) -> String {
    promql(&format!(
        r#"sum(rate(istio_requests_total{{reporter="{reporter}",destination_workload_namespace="{ns}",destination_workload="{workload}"{extra}}}[5s])) or vector(0)"#,
        ns = s.ns
    ))
}

const AB: &str = r#"    interval: 3s
    threshold: 2
    iterations: 8
    match:
    - headers:
        x-canary:
          exact: insider
    - headers:
        cookie:
          regex: "^(.*?;)?(type=insider)(;.*)?$"
    metrics:
    - name: request-success-rate
      interval: 10s
      thresholdRange:
        min: 99
"#;

#[tokio::test(flavor = "multi_thread")]
async fn strategies_ab_testing_routes_the_cookie_to_the_canary() {
    insiders();
    let s = Scenario::new("ab").await;
    s.apply(&podinfo("6.0.0", &[]));
    s.apply(&canary("", AB));
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    s.apply(&podinfo("6.0.3", &[]));
    s.wait_status("podinfo", 60, "iteration 3", |st| st.iterations >= 3)
        .await;
    let p = prom();
    let cookie = r#",source_workload="insiders""#;
    let plain = r#",source_workload="loadgenerator""#;
    p.wait_for(
        "insiders reach the canary",
        &rate(&s, "destination", "podinfo", cookie),
        WITHIN,
        |v| v > 1.0,
    )
    .await;
    p.wait_for(
        "insiders never reach the primary",
        &rate(&s, "destination", "podinfo-primary", cookie),
        WITHIN,
        |v| v == 0.0,
    )
    .await;
    p.wait_for(
        "plain requests reach the primary",
        &rate(&s, "destination", "podinfo-primary", plain),
        WITHIN,
        |v| v > 1.0,
    )
    .await;
    p.wait_for(
        "plain requests never reach the canary",
        &rate(&s, "destination", "podinfo", plain),
        WITHIN,
        |v| v == 0.0,
    )
    .await;
    let st = s.wait_phase("podinfo", Phase::Succeeded, 90).await;
    assert_eq!(st.last_promoted_spec, st.last_applied_spec);
    let events = s.events("podinfo");
    assert!(events.contains("canary iteration 7/8"), "{events}");
    assert_eq!(
        s.jsonpath("virtualservice/podinfo", "{.spec.http[*].route[*].weight}"),
        "100 0",
        "one route again, all on the primary"
    );

    // A faulty revision: its matched traffic fails, and the run rolls back.
    s.apply(&podinfo("6.0.4", &[("SANDBOX_ERROR_RATE", "0.5")]));
    s.wait_phase("podinfo", Phase::Failed, 90).await;
    assert!(s.events("podinfo").contains("Rolling back podinfo."));
}

/// A blue/green analysis; `more` is the YAML after `iterations`.
fn blue_green(more: &str) -> String {
    format!("    interval: 3s\n    threshold: 2\n    iterations: 6\n{more}")
}

/// The success-rate check. Without mirroring, a blue/green canary only gets the requests a
/// load-test hook sends it (Flagger's e2e uses one); hooks are not wired here yet, so the
/// unmirrored scenario runs its iterations without metrics.
const SUCCESS_RATE: &str = r#"    metrics:
    - name: request-success-rate
      interval: 10s
      thresholdRange:
        min: 99
"#;

#[tokio::test(flavor = "multi_thread")]
async fn strategies_blue_green_switches_all_traffic_at_promotion() {
    insiders();
    let s = Scenario::new("bg").await;
    s.apply(&podinfo("6.0.0", &[]));
    s.apply(&canary("", &blue_green("")));
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    s.apply(&podinfo("6.0.1", &[]));
    s.wait_status("podinfo", 60, "iteration 3", |st| st.iterations >= 3)
        .await;
    // Users (the source proxies) never reach the canary during the iterations.
    prom()
        .wait_for(
            "no user request on the canary",
            &rate(&s, "source", "podinfo", ""),
            WITHIN,
            |v| v == 0.0,
        )
        .await;
    assert_eq!(
        s.jsonpath("virtualservice/podinfo", "{.spec.http[0].route[*].weight}"),
        "100 0"
    );
    s.wait_phase("podinfo", Phase::Succeeded, 90).await;
    let events = s.events("podinfo");
    assert!(events.contains("Routing all traffic to canary"), "{events}");
    assert!(events.contains("canary iteration 5/6"), "{events}");
}

#[tokio::test(flavor = "multi_thread")]
async fn strategies_blue_green_mirrors_half_the_traffic_without_user_errors() {
    insiders();
    let s = Scenario::new("mirror").await;
    let mirror = format!("    mirror: true\n    mirrorWeight: 50\n{SUCCESS_RATE}");
    s.apply(&podinfo("6.0.0", &[]));
    s.apply(&canary("", &blue_green(&mirror)));
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    s.apply(&podinfo("6.0.1", &[]));
    s.wait_status("podinfo", 60, "iteration 2", |st| st.iterations >= 2)
        .await;
    assert_eq!(
        s.jsonpath(
            "virtualservice/podinfo",
            "{.spec.http[0].mirrorPercentage.value}"
        ),
        "50"
    );
    let p = prom();
    let ratio = format!(
        "({}) / ({})",
        rate(&s, "destination", "podinfo", ""),
        rate(&s, "destination", "podinfo-primary", "")
    );
    p.wait_for(
        "the canary sees half the primary's requests",
        &ratio,
        WITHIN,
        |v| (0.4..=0.6).contains(&v),
    )
    .await;
    s.wait_phase("podinfo", Phase::Succeeded, 90).await;

    // A faulty mirrored canary fails its checks; users only ever got the primary's answers.
    s.apply(&podinfo("6.0.2", &[("SANDBOX_ERROR_RATE", "1")]));
    s.wait_phase("podinfo", Phase::Failed, 90).await;
    let user_errors = promql(&format!(
        r#"sum(increase(istio_requests_total{{reporter="source",destination_workload_namespace="{}",response_code=~"5.."}}[2m])) or vector(0)"#,
        s.ns
    ));
    assert_eq!(
        p.value(&user_errors).await,
        Some(0.0),
        "no user-facing error"
    );
    assert!(s.events("podinfo").contains("Rolling back podinfo."));
}

#[tokio::test(flavor = "multi_thread")]
async fn strategies_refuse_what_they_cannot_honour() {
    let s = Scenario::new("strat-invalid").await;
    s.apply(&podinfo("6.0.0", &[]));
    let cases = [
        (
            "    iterations: 5\n    mirror: true\n    match:\n    - headers:\n        x-canary:\n          exact: insider\n",
            ["analysis.mirror", "analysis.match"],
        ),
        (
            "    iterations: 5\n    sessionAffinity:\n      cookieName: canary\n",
            ["analysis.sessionAffinity", "analysis.iterations"],
        ),
        (
            "    iterations: 5\n    stepWeights: [10, 50]\n",
            ["analysis.iterations", "analysis.stepWeights"],
        ),
        (
            "    stepWeight: 10\n    match:\n    - headers:\n        x-canary:\n          exact: insider\n",
            ["analysis.match", "analysis.iterations"],
        ),
        (
            "    stepWeight: 10\n    mirror: true\n",
            ["analysis.mirror", "analysis.iterations"],
        ),
    ];
    for (analysis, fields) in cases {
        s.apply(&canary("", &format!("    interval: 3s\n{analysis}")));
        let st = s
            .wait_status("podinfo", 30, "Valid=False naming the fields", |st| {
                st.condition(conditions::VALID).is_some_and(|c| {
                    c.status == "False" && fields.iter().all(|f| c.message.contains(f))
                })
            })
            .await;
        assert_ne!(st.phase, Some(Phase::Progressing));
    }
    // A match that says two things at once is refused at apply time.
    let ambiguous = "    interval: 3s\n    iterations: 5\n    match:\n    - headers:\n        x-canary:\n          exact: insider\n          prefix: ins\n";
    let refused = kubectl_result(
        &["apply", "-n", &s.ns, "-f", "-"],
        Some(&canary("", ambiguous)),
    )
    .expect_err("an ambiguous string match is refused");
    assert!(
        refused.contains("exactly one of exact, prefix, regex"),
        "{refused}"
    );
}

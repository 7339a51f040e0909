//! `serin backtest` against the sandbox: two real rollouts (one healthy, one failing
//! 30% of its requests) run by serin, whose `/metrics` the sandbox's Prometheus scrapes;
//! then the backtest finds both in serin's weight history and replays them.

mod support;

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::time::Duration;

use serin::api::Phase;
use support::scenario::{ANALYSIS, Scenario, canary, podinfo};
use support::{Prom, free_port, sandbox, serin_bin};

fn backtest(args: &[&str]) -> Output {
    Command::new(serin_bin())
        .arg("backtest")
        .args(args)
        .output()
        .expect("run serin backtest")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn replays_a_healthy_and_a_faulty_rollout_from_serins_history() {
    let s = Scenario::new("backtest").await;
    let metrics: SocketAddr = format!("127.0.0.1:{}", s.metrics_port)
        .parse()
        .expect("address");
    sandbox().scrape_serin(metrics).expect("scrape serin");
    let manifest = canary("", ANALYSIS);
    s.apply(&podinfo("6.0.0", &[]));
    s.apply(&manifest);
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    let prom = Prom::new(&sandbox().prometheus_url);
    let status = format!(
        r#"max(serin_canary_status{{namespace="{}",name="podinfo"}})"#,
        s.ns
    );
    s.apply(&podinfo("6.0.1", &[]));
    s.wait_phase("podinfo", Phase::Succeeded, 120).await;
    // Two rollouts are told apart by the weight going back to 0 in between: a user's
    // releases are minutes apart, this test's would be less than a scrape apart.
    prom.wait_for(
        "serin's promotion scraped",
        &status,
        Duration::from_secs(30),
        |v| v == 1.0,
    )
    .await;
    s.apply(&podinfo("6.0.2", &[("SANDBOX_ERROR_RATE", "0.3")]));
    s.wait_phase("podinfo", Phase::Failed, 120).await;
    // Both ends are in Prometheus once it has scraped the failed phase.
    prom.wait_for(
        "serin's failed phase scraped",
        &status,
        Duration::from_secs(30),
        |v| v == 2.0,
    )
    .await;

    let file = std::env::temp_dir().join(format!("serin-backtest-{}.yaml", s.ns));
    std::fs::write(&file, &manifest).expect("write the Canary");
    let file = file.to_string_lossy().into_owned();
    let common = [
        "-f",
        file.as_str(),
        "-n",
        s.ns.as_str(),
        "--prometheus-url",
        sandbox().prometheus_url.as_str(),
        "--since",
        "15m",
        "--step",
        "1s",
        "--min-interval",
        "1s",
    ];
    let out = backtest(&[&common[..], &["-o", "json"]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON report");
    let rollouts = report["rollouts"].as_array().expect("rollouts");
    assert_eq!(rollouts.len(), 2, "{report:#}");
    let (healthy, faulty) = (&rollouts[0], &rollouts[1]);
    // The healthy revision: every check passes, the judge never aborts.
    assert_eq!(healthy["actual"], "succeeded", "{healthy:#}");
    assert!(healthy["thresholdRollbackAt"].is_null(), "{healthy:#}");
    assert!(healthy["judgeAbortAt"].is_null(), "{healthy:#}");
    let weights: Vec<f64> = healthy["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["weight"].as_f64())
        .collect();
    assert_eq!(weights, vec![20.0, 40.0, 60.0], "{healthy:#}");
    // The faulty one: the success rate fails three checks and the thresholds roll back,
    // as serin did.
    assert_eq!(faulty["actual"], "failed", "{faulty:#}");
    assert!(
        faulty["thresholdRollbackAt"].as_u64().is_some(),
        "{faulty:#}"
    );
    assert_eq!(faulty["failedChecks"], 3, "{faulty:#}");
    // The judge (the what-if error-rate one: the Canary has none) sees 30% of the
    // canary's requests fail against none of the primary's, and would abort too.
    assert!(faulty["judgeAbortAt"].as_u64().is_some(), "{faulty:#}");
    let first = &faulty["steps"][0]["thresholds"];
    assert_eq!(first["result"], "fail", "{faulty:#}");
    assert!(
        first["reasons"][0]
            .as_str()
            .is_some_and(|r| r.starts_with("request-success-rate")),
        "{faulty:#}"
    );
    assert_eq!(report["summary"]["thresholdRollbacks"], 1, "{report:#}");

    let out = backtest(&common);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    eprintln!("{table}");
    assert!(
        table.contains("Rollout 1:") && table.contains("Rollout 2:"),
        "{table}"
    );
    assert!(
        table.contains("thresholds: would roll back at step 1"),
        "{table}"
    );
    assert!(
        table.contains(
            "Summary: 2 rollout(s); thresholds would have rolled back 1; judge would have aborted"
        ),
        "{table}"
    );

    // Another Canary name has no history: the error says what was searched.
    let other = file.replace(".yaml", "-other.yaml");
    std::fs::write(&other, manifest.replace("name: podinfo", "name: frontend")).expect("write");
    let out = backtest(&[
        "-f",
        &other,
        "-n",
        &s.ns,
        "--prometheus-url",
        &sandbox().prometheus_url,
        "--since",
        "15m",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("no rollouts found: searched max(serin_canary_weight{"),
        "{err}"
    );
    assert!(err.contains(r#"workload="frontend""#), "{err}");
    let _ = std::fs::remove_file(other);
}

#[test]
fn an_unreachable_prometheus_is_named() {
    let port = free_port();
    let file = std::env::temp_dir().join(format!("serin-backtest-unreachable-{port}.yaml"));
    std::fs::write(&file, canary("", ANALYSIS)).expect("write the Canary");
    let url = format!("http://127.0.0.1:{port}");
    let out = backtest(&["-f", &file.to_string_lossy(), "--prometheus-url", &url]);
    let _ = std::fs::remove_file(&file);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("connection refused to {url}")),
        "{err}"
    );
}

//! Steering a rollout by hand end to end: a person runs `kubectl serin approve|abort|
//! pause|resume|retry` (the plugin creates a CanaryAction and waits for its outcome), the
//! real serin applies each once, records who did what in the Canary's status and events,
//! and writes the outcome back to the action. The person is alice (`--as`, as an admin
//! checks a colleague's view; the plugin asks the API server who is asking). The one
//! action a person cannot aim at an older revision with the plugin, an approval that
//! arrives after a newer revision took the gate, is created with kubectl directly.

use std::time::{Duration, Instant};

use serin::api::{ActionKind, CanaryStatus, Phase};

use crate::support::plugin::serin_ok;
use crate::support::scenario::{Scenario, canary, kubectl, podinfo};

/// A run of three 20% steps every `interval` seconds, success rate over 10s.
fn analysis(interval: u64, extra: &str) -> String {
    format!(
        r#"    interval: {interval}s
    threshold: 3
    maxWeight: 60
    stepWeight: 20
    metrics:
    - name: request-success-rate
      interval: 10s
      thresholdRange:
        min: 99
{extra}"#
    )
}

const MANUAL_PROMOTION: &str = "    manualApproval:\n    - confirm-promotion\n";

async fn initialized(name: &str, analysis: &str) -> Scenario {
    let s = Scenario::new(name).await;
    s.apply(&podinfo("6.0.0", &[]));
    s.apply(&canary("", analysis));
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    s
}

/// `kubectl create -f -` of a CanaryAction, as alice; returns its name.
fn act(s: &Scenario, name: &str, action: &str, revision: Option<&str>, reason: &str) -> String {
    let revision = revision
        .map(|r| format!("  revision: {r}\n"))
        .unwrap_or_default();
    let reason = if reason.is_empty() {
        String::new()
    } else {
        format!("  reason: {reason:?}\n")
    };
    let yaml = format!(
        "apiVersion: serin.dev/v1beta1\nkind: CanaryAction\nmetadata:\n  name: {name}\nspec:\n  canary: podinfo\n  action: {action}\n{revision}{reason}  requestedBy: alice@example.com\n"
    );
    kubectl(&["create", "-n", &s.ns, "-f", "-"], Some(&yaml));
    name.to_string()
}

/// `kubectl serin <action> podinfo [--reason R]` as alice; the plugin waits for serin's
/// outcome and must report it applied. Returns what it printed.
fn plugin(s: &Scenario, action: &str, reason: &str) -> String {
    let mut args = vec![action, "podinfo", "-n", &s.ns, "--as", "alice@example.com"];
    if !reason.is_empty() {
        args.extend(["--reason", reason]);
    }
    let out = serin_ok(&args);
    assert!(out.contains("applied"), "kubectl serin {action}: {out}");
    out
}

/// Waits for serin to decide the action; returns (outcome, message).
async fn outcome(s: &Scenario, name: &str, secs: u64) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let out = s.jsonpath(
            &format!("canaryaction/{name}"),
            "{.status.outcome}|{.status.message}",
        );
        if let Some((o, m)) = out.split_once('|')
            && !o.is_empty()
        {
            return (o.to_string(), m.to_string());
        }
        assert!(
            Instant::now() < deadline,
            "action {name} not decided after {secs}s: {out}\nserin log tail:\n{}",
            s.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Asserts that `pred` holds for the whole of `secs` (a hold is only seen by watching).
async fn holds(s: &Scenario, secs: u64, what: &str, pred: impl Fn(&CanaryStatus) -> bool) {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        let st = s.status("podinfo").await;
        assert!(
            pred(&st),
            "{what} did not hold: {st:#?}\n{}",
            s.events("podinfo")
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn awaited(st: &CanaryStatus) -> Option<(String, String)> {
    st.awaiting
        .as_ref()
        .map(|g| (g.gate.clone(), g.revision.clone()))
}

#[tokio::test(flavor = "multi_thread")]
async fn act_approve_opens_a_manual_promotion_gate() {
    let s = initialized("act-approve", &analysis(3, MANUAL_PROMOTION)).await;
    s.apply(&podinfo("6.0.1", &[]));
    let st = s.wait_phase("podinfo", Phase::WaitingPromotion, 90).await;
    let (gate, revision) = awaited(&st).expect("status.awaiting names the gate");
    assert_eq!(gate, "confirm-promotion");
    assert_eq!(st.canary_weight, 60);
    // No webhook and no loadtester: the gate stays closed until a person approves.
    holds(&s, 7, "the manual gate holds", |st| {
        st.phase() == Phase::WaitingPromotion
    })
    .await;
    plugin(&s, "approve", "checked dashboards");
    let st = s.wait_phase("podinfo", Phase::Succeeded, 60).await;
    let events = s.events("podinfo");
    assert!(
        events.contains(r#"Approved by alice@example.com: "checked dashboards""#),
        "the approver is in the event:\n{events}"
    );
    let record = st.actions.last().expect("status.actions records it");
    assert_eq!(
        (
            record.by.as_str(),
            record.reason.as_deref(),
            record.revision.as_deref()
        ),
        (
            "alice@example.com",
            Some("checked dashboards"),
            Some(revision.as_str())
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn act_abort_mid_analysis_rolls_back_at_once() {
    let s = initialized("act-abort", &analysis(10, "")).await;
    s.apply(&podinfo("6.0.1", &[]));
    let st = s
        .wait_status("podinfo", 60, "weight 20", |st| st.canary_weight == 20)
        .await;
    let revision = st.last_applied_spec.clone();
    let asked = Instant::now();
    plugin(&s, "abort", "error budget burning");
    let st = s.wait_phase("podinfo", Phase::Failed, 30).await;
    // At once: well before the next of the 10s steps could have ended the run.
    assert!(
        asked.elapsed() < Duration::from_secs(8),
        "took {:?}",
        asked.elapsed()
    );
    assert_eq!(st.canary_weight, 0);
    assert_eq!(
        st.actions.last().and_then(|a| a.revision.clone()),
        revision,
        "the abort named the revision under analysis"
    );
    let events = s.events("podinfo");
    assert!(
        events.contains(r#"Aborted by alice@example.com: "error budget burning""#),
        "the reason is in the event:\n{events}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn act_pause_holds_across_a_restart_and_resume_continues_one_interval_later() {
    let interval = 5;
    let mut s = initialized("act-pause", &analysis(interval, "")).await;
    s.apply(&podinfo("6.0.1", &[]));
    s.wait_status("podinfo", 60, "weight 20", |st| st.canary_weight == 20)
        .await;
    plugin(&s, "pause", "incident 42");
    let st = s
        .wait_status("podinfo", 10, "paused", |st| st.paused.is_some())
        .await;
    let weight = st.canary_weight;
    let frozen = |st: &CanaryStatus| {
        st.paused.is_some() && st.canary_weight == weight && st.phase() == Phase::Progressing
    };
    holds(&s, 2 * interval, "the pause", frozen).await;
    s.kill_serin();
    s.start_serin();
    holds(&s, 2 * interval + 2, "the pause after a restart", frozen).await;
    plugin(&s, "resume", "");
    let st = s
        .wait_status("podinfo", 30, "the next step", |st| {
            st.canary_weight > weight
        })
        .await;
    let resumed = st
        .actions
        .iter()
        .rfind(|a| a.action == ActionKind::Resume)
        .map(|a| a.at)
        .expect("the resume is recorded");
    let stepped = st.step_started_at.expect("step start");
    let gap = (stepped - resumed).num_milliseconds();
    assert!(
        gap >= (interval as i64 * 1000) - 500,
        "the next step came {gap}ms after the resume, not one interval ({interval}s)"
    );
    s.wait_phase("podinfo", Phase::Succeeded, 90).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn act_retry_reruns_a_failed_revision() {
    let s = initialized("act-retry", &analysis(3, "")).await;
    s.apply(&podinfo("6.0.1", &[]));
    let st = s
        .wait_status("podinfo", 60, "weight 20", |st| st.canary_weight == 20)
        .await;
    let revision = st.last_applied_spec.clone();
    plugin(&s, "abort", "bad config");
    let failed = s.wait_phase("podinfo", Phase::Failed, 30).await;
    plugin(&s, "retry", "config fixed");
    let st = s.wait_phase("podinfo", Phase::Succeeded, 120).await;
    assert!(st.run_started_at > failed.run_started_at, "a new run");
    assert_eq!(
        st.last_promoted_spec, revision,
        "the retried revision was promoted"
    );
    let events = s.events("podinfo");
    assert!(
        events.contains(r#"Retried by alice@example.com: "config fixed""#),
        "{events}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn act_an_approval_for_an_old_revision_does_not_open_the_newer_gate() {
    let s = initialized("act-old", &analysis(3, MANUAL_PROMOTION)).await;
    s.apply(&podinfo("6.0.1", &[]));
    let st = s.wait_phase("podinfo", Phase::WaitingPromotion, 90).await;
    let (_, old) = awaited(&st).expect("awaiting");
    s.apply(&podinfo("6.0.2", &[]));
    let st = s
        .wait_status("podinfo", 90, "the new revision at its gate", |st| {
            st.phase() == Phase::WaitingPromotion && awaited(st).is_some_and(|(_, r)| r != old)
        })
        .await;
    let (_, new) = awaited(&st).expect("awaiting");
    let name = act(&s, "approve-old", "approve", Some(&old), "looked fine");
    let (o, m) = outcome(&s, &name, 30).await;
    assert_eq!(o, "Refused");
    let short = |r: &str| r.get(..12).unwrap_or(r).to_string();
    assert_eq!(
        m,
        format!(
            "meant for revision {}, the Canary analysing revision {}",
            short(&old),
            short(&new)
        )
    );
    holds(&s, 7, "the newer gate stays closed", |st| {
        st.phase() == Phase::WaitingPromotion && st.approvals.is_empty()
    })
    .await;
    plugin(&s, "approve", "");
    s.wait_phase("podinfo", Phase::Succeeded, 60).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn act_an_action_for_no_canary_is_refused() {
    let s = Scenario::new("act-none").await;
    let yaml = "apiVersion: serin.dev/v1beta1\nkind: CanaryAction\nmetadata:\n  name: approve-1\nspec:\n  canary: nope\n  action: approve\n  requestedBy: alice@example.com\n";
    kubectl(&["create", "-n", &s.ns, "-f", "-"], Some(yaml));
    let (o, m) = outcome(&s, "approve-1", 30).await;
    assert_eq!(
        (o.as_str(), m),
        (
            "Refused",
            format!("no such Canary: nope in namespace {}", s.ns)
        )
    );
}

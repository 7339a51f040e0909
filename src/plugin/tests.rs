//! Golden text of the `get` table and the `status` page, and the checks before an action.

use chrono::{DateTime, TimeZone, Utc};
use k8s_openapi::api::core::v1::Event;
use serde_json::json;

use super::act::{Request, build, precheck};
use super::render::{status_page, table};
use crate::api::{ActionKind, Canary};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

fn at(secs_ago: i64) -> String {
    (now() - chrono::Duration::seconds(secs_ago)).to_rfc3339()
}

fn canary(ns: &str, name: &str, analysis: serde_json::Value, status: serde_json::Value) -> Canary {
    serde_json::from_value(json!({
        "apiVersion": "serin.dev/v1beta1", "kind": "Canary",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "service": {"port": 9898},
            "analysis": analysis,
        },
        "status": status,
    }))
    .unwrap()
}

fn weighted() -> serde_json::Value {
    json!({"interval": "1m", "threshold": 3, "stepWeight": 20, "maxWeight": 60, "metrics": [
        {"name": "request-success-rate", "thresholdRange": {"min": 99}, "interval": "1m"},
        {"name": "request-duration", "thresholdRange": {"max": 500}, "interval": "1m"}]})
}

fn progressing() -> Canary {
    canary(
        "shop",
        "podinfo",
        weighted(),
        json!({
            "phase": "Progressing", "canaryWeight": 40, "failedChecks": 1,
            "lastAppliedSpec": "5f7c9a8d6b4411", "lastPromotedSpec": "7d6b4c2100aa",
            "lastTransitionTime": at(95), "stepStartedAt": at(20),
            "metrics": [
                {"name": "request-success-rate", "value": 99.82, "min": 99.0, "verdict": "Pass",
                 "query": "q1", "checkedAt": at(20)},
                {"name": "request-duration", "value": 612.0, "max": 500.0, "verdict": "Fail",
                 "query": "q2", "checkedAt": at(20)}
            ]
        }),
    )
}

fn waiting_promotion() -> Canary {
    let mut analysis = weighted();
    analysis["webhooks"] = json!([{"name": "manual", "type": "confirm-promotion",
                                   "url": "http://gate.test/"}]);
    canary(
        "web",
        "frontend",
        analysis,
        json!({
            "phase": "WaitingPromotion", "canaryWeight": 60, "failedChecks": 0,
            "lastAppliedSpec": "aa11bb22cc33", "lastPromotedSpec": "99ff88ee77dd",
            "lastTransitionTime": at(30), "stepStartedAt": at(30),
            "metrics": [
                {"name": "request-success-rate", "value": 100.0, "min": 99.0, "verdict": "Pass",
                 "query": "q1", "checkedAt": at(30)}
            ],
            "webhooks": [{"name": "manual", "type": "confirm-promotion", "revision": "aa11bb22cc33",
                          "passed": false, "message": "HTTP 403: Forbidden", "lastCall": at(2)}]
        }),
    )
}

fn blue_green_failed() -> Canary {
    canary(
        "shop",
        "cart",
        json!({"interval": "30s", "threshold": 2, "iterations": 5, "metrics": []}),
        json!({
            "phase": "Failed", "canaryWeight": 0, "failedChecks": 2, "iterations": 0,
            "lastAppliedSpec": "c0ffee", "lastPromotedSpec": "beef",
            "lastTransitionTime": at(600),
            "lastFailedCheck": "request-success-rate 91.2 below 99 (canary cart)"
        }),
    )
}

#[test]
fn get_table() {
    let (a, b, c) = (progressing(), waiting_promotion(), blue_green_failed());
    let got = table(&[&a, &b, &c], true, now());
    let want = "\
NAMESPACE   NAME       PHASE              STRATEGY     TRAFFIC       STEP   NEXT                       FAILED   LAST VERDICT
shop        cart       Failed             blue-green   iteration 0   0/5    -                          2/2      request-success-rate 91.2 below 99 (canary cart)
shop        podinfo    Progressing        canary       40%           2/3    in 40s                     1/3      request-duration 612 above 500
web         frontend   WaitingPromotion   canary       60%           3/3    awaits confirm-promotion   0/3      1 check passed
";
    assert_eq!(got, want, "\n{got}");
}

#[test]
fn get_table_of_one_namespace_and_of_none() {
    let a = progressing();
    let got = table(&[&a], false, now() + chrono::Duration::seconds(50));
    assert!(got.starts_with("NAME      PHASE"), "{got}");
    assert!(got.contains("due now"), "{got}");
    assert_eq!(table(&[], false, now()), "No Canaries found.\n");
}

fn event(reason: &str, message: &str, secs_ago: i64, type_: &str) -> Event {
    serde_json::from_value(json!({
        "metadata": {"name": format!("e-{secs_ago}"), "namespace": "shop"},
        "involvedObject": {"kind": "Canary", "name": "podinfo"},
        "reason": reason, "message": message, "type": type_,
        "lastTimestamp": at(secs_ago),
    }))
    .unwrap()
}

#[test]
fn status_of_a_progressing_canary() {
    let c = progressing();
    let events = [
        event(
            "Advance",
            "Advance podinfo.shop canary weight 40",
            80,
            "Normal",
        ),
        event(
            "NewRevision",
            "New revision detected! Scaling up podinfo.shop",
            95,
            "Normal",
        ),
        event(
            "Halt",
            "Halt podinfo.shop advancement request duration 612ms > 500ms",
            20,
            "Warning",
        ),
    ];
    let refs: Vec<&Event> = events.iter().collect();
    let got = status_page(&c, &refs, now());
    let want = "\
Canary:     shop/podinfo (Deployment podinfo, canary strategy, a step every 60s)
Phase:      Progressing for 95s, 40% traffic to the canary
Revision:   5f7c9a8d6b under analysis, 7d6b4c2100 promoted
Checks:     1 failed (3 roll back)
Next:       step 3 (60% traffic) in 40s, if the checks pass (2 more failed checks roll back)

Steps:
  [x] 1  20%
  [>] 2  40% (checked 20s ago)
           request-success-rate     99.82  min 99        pass
           request-duration           612  max 500       FAIL
                                 request-duration 612 above 500
  [ ] 3  60%
  [ ]    promote

Events:
    95s  Normal   NewRevision       New revision detected! Scaling up podinfo.shop
    80s  Normal   Advance           Advance podinfo.shop canary weight 40
    20s  Warning  Halt              Halt podinfo.shop advancement request duration 612ms > 500ms
";
    assert_eq!(got, want, "\n{got}");
}

#[test]
fn status_of_a_canary_at_its_gate() {
    let c = waiting_promotion();
    let got = status_page(&c, &[], now());
    let want = "\
Canary:     web/frontend (Deployment frontend, canary strategy, a step every 60s)
Phase:      WaitingPromotion for 30s, 60% traffic to the canary
Revision:   aa11bb22cc under analysis, 99ff88ee77 promoted
Checks:     0 failed (3 roll back)
Next:       waits for its confirm-promotion gate: `kubectl serin approve frontend` opens it

Steps:
  [x] 1  20%
  [x] 2  40%
  [>] 3  60% (checked 30s ago)
           request-success-rate       100  min 99        pass
  [ ]    promote

Gates waiting:
  confirm-promotion (webhook manual): HTTP 403: Forbidden

";
    assert_eq!(got, want, "\n{got}");
}

#[test]
fn status_of_a_failed_blue_green() {
    let c = blue_green_failed();
    let got = status_page(&c, &[], now());
    assert!(
        got.contains("Next:       nothing until a new revision, or `kubectl serin retry cart` to analyse this one again"),
        "{got}"
    );
    assert!(got.contains("  [ ] 1  iteration 1\n"), "{got}");
}

#[test]
fn approve_needs_a_waiting_gate() {
    assert!(precheck(ActionKind::Approve, &waiting_promotion()).is_ok());
    assert_eq!(
        precheck(ActionKind::Approve, &progressing()).unwrap_err(),
        "no gate is waiting (phase Progressing, revision 5f7c9a8d6b)"
    );
    assert!(precheck(ActionKind::Retry, &blue_green_failed()).is_ok());
    assert!(precheck(ActionKind::Retry, &progressing()).is_err());
    assert!(precheck(ActionKind::Abort, &blue_green_failed()).is_err());
    assert!(precheck(ActionKind::Abort, &progressing()).is_ok());
}

#[test]
fn an_action_names_the_revision_the_person_saw() {
    let req = Request {
        kind: ActionKind::Approve,
        canary: "frontend".into(),
        reason: Some("checked dashboards".into()),
        wait: None,
    };
    let a = build(&req, &waiting_promotion(), "alice@example.com");
    assert_eq!(
        a.metadata.generate_name.as_deref(),
        Some("frontend-approve-")
    );
    assert_eq!(a.spec.revision.as_deref(), Some("aa11bb22cc33"));
    assert_eq!(a.spec.requested_by, "alice@example.com");
    assert_eq!(a.spec.skip_analysis, None);
    let pause = Request {
        kind: ActionKind::Pause,
        ..req
    };
    assert_eq!(
        build(&pause, &waiting_promotion(), "alice").spec.revision,
        None
    );
}

fn paused_at_a_manual_gate() -> Canary {
    let mut analysis = weighted();
    analysis["manualApproval"] = json!(["confirm-traffic-increase"]);
    canary(
        "shop",
        "podinfo",
        analysis,
        json!({
            "phase": "Progressing", "canaryWeight": 20, "failedChecks": 0,
            "lastAppliedSpec": "5f7c9a8d6b4411", "lastPromotedSpec": "7d6b4c2100aa",
            "lastTransitionTime": at(300), "stepStartedAt": at(200),
            "paused": {"by": "bob@example.com", "reason": "incident 42", "since": at(60),
                       "action": "u2"},
            "awaiting": {"gate": "confirm-traffic-increase", "revision": "5f7c9a8d6b4411",
                         "manual": true, "since": at(150)},
            "approvals": [{"gate": "confirm-rollout", "revision": "5f7c9a8d6b4411",
                           "by": "alice@example.com", "reason": "checked dashboards",
                           "at": at(290), "action": "u1"}],
            "actions": [
                {"uid": "u1", "name": "podinfo-approve-x1", "action": "approve",
                 "by": "alice@example.com", "reason": "checked dashboards",
                 "revision": "5f7c9a8d6b4411", "outcome": "Applied",
                 "message": "opened confirm-rollout", "at": at(290)},
                {"uid": "u2", "name": "podinfo-pause-x2", "action": "pause",
                 "by": "bob@example.com", "reason": "incident 42", "outcome": "Applied",
                 "message": "paused at 20%", "at": at(60)}
            ]
        }),
    )
}

#[test]
fn a_paused_canary_at_a_manual_gate() {
    let c = paused_at_a_manual_gate();
    let row = table(&[&c], false, now());
    assert!(row.contains("Progressing (paused)"), "{row}");
    assert!(row.contains("paused by bob@example.com"), "{row}");
    let got = status_page(&c, &[], now());
    let want = "\
Canary:     shop/podinfo (Deployment podinfo, canary strategy, a step every 60s)
Phase:      Progressing (paused) for 5m, 20% traffic to the canary
Revision:   5f7c9a8d6b under analysis, 7d6b4c2100 promoted
Checks:     0 failed (3 roll back)
Paused:     by bob@example.com 60s ago (\"incident 42\"): steps, promotion and rollback wait for `kubectl serin resume podinfo`
Next:       nothing while paused; after `kubectl serin resume podinfo` the next step comes one interval later

Steps:
  [>] 1  20%
  [ ] 2  40%
  [ ] 3  60%
  [ ]    promote

Gates waiting:
  confirm-traffic-increase of revision 5f7c9a8d6b for 2m30s, waits for a person's approval

Approved:
  confirm-rollout of revision 5f7c9a8d6b by alice@example.com 4m50s ago: \"checked dashboards\"

Actions:
  4m50s  approve  by alice@example.com (\"checked dashboards\"): Applied, opened confirm-rollout
    60s  pause    by bob@example.com (\"incident 42\"): Applied, paused at 20%

";
    assert_eq!(got, want, "\n{got}");
    assert!(precheck(ActionKind::Approve, &c).is_ok());
    assert_eq!(
        precheck(ActionKind::Pause, &c).unwrap_err(),
        "already paused by bob@example.com"
    );
    assert!(precheck(ActionKind::Resume, &c).is_ok());
    assert_eq!(
        precheck(ActionKind::Resume, &progressing()).unwrap_err(),
        "it is not paused"
    );
}

#[test]
fn a_revision_waiting_to_start_is_named_not_the_previous_run() {
    let c = canary(
        "web",
        "frontend",
        weighted(),
        json!({
            "phase": "Waiting", "canaryWeight": 0, "failedChecks": 0,
            "lastAppliedSpec": "99ff88ee77dd", "lastPromotedSpec": "99ff88ee77dd",
            "lastTransitionTime": at(5),
            "awaiting": {"gate": "confirm-rollout", "revision": "aa11bb22cc33", "manual": true,
                         "message": "confirm-rollout waits for a manual approval", "since": at(5)}
        }),
    );
    let got = status_page(&c, &[], now());
    assert!(
        got.contains("Revision:   aa11bb22cc waiting to start, 99ff88ee77 promoted\n"),
        "{got}"
    );
}

//! `kubectl serin` end to end: the plugin run through the real kubectl, exactly as a
//! person runs it (the plugin's directory on PATH, the sandbox's kubeconfig in
//! KUBECONFIG), during rollouts driven by the real serin on the sandbox.

mod support;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use kube::api::{Api, ListParams};
use serin::api::{ActionKind, CanaryAction, Phase};
use support::plugin::{kubectl, serin_fails, serin_ok, text};
use support::scenario::{ANALYSIS, Scenario, canary, podinfo};

async fn initialized(name: &str, analysis: &str) -> Scenario {
    let s = Scenario::new(name).await;
    s.apply(&podinfo("6.0.0", &[]));
    s.apply(&canary("", analysis));
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn pl_get_and_status_follow_a_rollout() {
    let s = initialized("pl-get", ANALYSIS).await;
    let table = serin_ok(&["get", "-n", &s.ns]);
    assert!(table.starts_with("NAME "), "{table}");
    let row = table
        .lines()
        .find(|l| l.starts_with("podinfo"))
        .unwrap_or_default();
    assert!(
        row.contains("Initialized") && row.contains("canary"),
        "{table}"
    );

    s.apply(&podinfo("6.0.1", &[]));
    s.wait_status("podinfo", 60, "the first step", |st| {
        st.phase() == Phase::Progressing && st.canary_weight >= 20
    })
    .await;
    let table = serin_ok(&["get", "-A"]);
    let row = table
        .lines()
        .find(|l| l.starts_with(&format!("{} ", s.ns)))
        .unwrap_or_default()
        .to_string();
    assert!(
        row.contains("podinfo") && (row.contains("Progressing") || row.contains("Promot")),
        "{table}"
    );
    let page = serin_ok(&["status", "podinfo", "-n", &s.ns]);
    for part in [
        "Canary:     ",
        "Revision:",
        "Steps:",
        "[ ]    promote",
        "Next:",
    ] {
        assert!(page.contains(part), "{part:?} missing:\n{page}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pl_errors_a_person_understands() {
    let s = initialized("pl-errors", ANALYSIS).await;
    let err = serin_fails(&["approve", "nope", "-n", &s.ns]);
    assert!(
        err.contains(&format!("no Canary \"nope\" in namespace \"{}\"", s.ns)),
        "{err}"
    );
    let err = serin_fails(&["status", "nope", "-n", &s.ns]);
    assert!(err.contains("no Canary \"nope\""), "{err}");
    let err = serin_fails(&["approve", "podinfo", "-n", &s.ns]);
    assert!(
        err.contains("nothing to approve") && err.contains("no gate is waiting"),
        "{err}"
    );
    let err = serin_fails(&["retry", "podinfo", "-n", &s.ns]);
    assert!(err.contains("nothing to retry"), "{err}");
    let err = serin_fails(&["abort", "podinfo", "-n", &s.ns]);
    assert!(err.contains("--reason"), "{err}");
    // Nothing was created for refused requests.
    let actions: Api<CanaryAction> = Api::namespaced(s.client().await, &s.ns);
    assert!(
        actions
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pl_approve_records_who_asked_and_the_revision() {
    let gate = "    webhooks:\n    - name: promote\n      type: confirm-promotion\n      url: http://flagger-loadtester.test/gate/check\n";
    let s = initialized("pl-approve", &format!("{ANALYSIS}{gate}")).await;
    s.apply(&podinfo("6.0.1", &[]));
    let st = s.wait_phase("podinfo", Phase::WaitingPromotion, 90).await;
    let page = serin_ok(&["status", "podinfo", "-n", &s.ns]);
    assert!(page.contains("confirm-promotion"), "{page}");
    let out = serin_ok(&[
        "approve",
        "podinfo",
        "-n",
        &s.ns,
        "--as",
        "alice@example.com",
        "--reason",
        "checked dashboards",
        "--wait=false",
    ]);
    assert!(
        out.contains(&format!("approve {}/podinfo", s.ns))
            && out.contains("requested by alice@example.com"),
        "{out}"
    );
    let actions: Api<CanaryAction> = Api::namespaced(s.client().await, &s.ns);
    let list = actions.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(list.len(), 1, "{list:?}");
    let spec = &list[0].spec;
    assert_eq!(spec.action, ActionKind::Approve);
    assert_eq!(spec.canary, "podinfo");
    assert_eq!(spec.requested_by, "alice@example.com");
    assert_eq!(spec.reason.as_deref(), Some("checked dashboards"));
    assert_eq!(spec.revision, st.last_applied_spec);
}

#[tokio::test(flavor = "multi_thread")]
async fn pl_approve_opens_a_manual_gate_and_abort_rolls_back() {
    let manual = format!("{ANALYSIS}    manualApproval: [confirm-promotion]\n");
    let s = initialized("pl-manual", &manual).await;
    s.apply(&podinfo("6.0.1", &[]));
    s.wait_status("podinfo", 90, "the run held at confirm-promotion", |st| {
        st.awaiting
            .as_ref()
            .is_some_and(|a| a.gate == "confirm-promotion")
    })
    .await;
    let out = serin_ok(&[
        "approve",
        "podinfo",
        "-n",
        &s.ns,
        "--as",
        "alice@example.com",
        "--reason",
        "checked dashboards",
    ]);
    assert!(out.contains("applied: "), "{out}");
    s.wait_phase("podinfo", Phase::Succeeded, 60).await;
    let events = s.events("podinfo");
    assert!(
        events.contains("Approved by alice@example.com: \"checked dashboards\""),
        "{events}"
    );

    // The next revision holds at the same gate: abort it there.
    s.apply(&podinfo("6.0.2", &[]));
    let st = s
        .wait_status("podinfo", 90, "the next run held at its gate", |st| {
            st.awaiting.is_some() && st.phase() == Phase::WaitingPromotion
        })
        .await;
    let page = serin_ok(&["status", "podinfo", "-n", &s.ns]);
    assert!(page.contains("confirm-promotion of revision"), "{page}");
    let out = serin_ok(&[
        "abort",
        "podinfo",
        "-n",
        &s.ns,
        "--as",
        "bob@example.com",
        "--reason",
        "latency on the dashboards",
    ]);
    assert!(out.contains("applied: "), "{out}");
    let failed = s.wait_phase("podinfo", Phase::Failed, 30).await;
    assert_eq!(failed.last_applied_spec, st.last_applied_spec);
    let events = s.events("podinfo");
    assert!(events.contains("latency on the dashboards"), "{events}");
    let page = serin_ok(&["status", "podinfo", "-n", &s.ns]);
    assert!(
        page.contains("abort    by bob@example.com (\"latency on the dashboards\"): Applied"),
        "{page}"
    );
}

/// A tmux server of this test only (its own socket), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn available() -> bool {
        Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("run tmux")
    }

    /// Starts `kubectl <args>` in a detached 200x50 window named `name`.
    fn start(&self, name: &str, args: &[&str]) {
        let k = kubectl(args);
        let mut line: Vec<String> = vec!["env".into()];
        for (key, value) in k.get_envs() {
            if let Some(v) = value {
                line.push(format!("{}={}", key.to_string_lossy(), v.to_string_lossy()));
            }
        }
        line.push("kubectl".into());
        line.extend(args.iter().map(|a| a.to_string()));
        let mut tmux_args = vec!["new-session", "-d", "-s", name, "-x", "200", "-y", "50"];
        let refs: Vec<&str> = line.iter().map(String::as_str).collect();
        tmux_args.extend(refs);
        let out = self.cmd(&tmux_args);
        assert!(out.status.success(), "tmux: {}", text(&out).1);
    }

    fn capture(&self, name: &str) -> String {
        text(&self.cmd(&["capture-pane", "-p", "-t", name])).0
    }

    /// Waits until the pane shows something `pred` accepts; returns that screen.
    async fn wait_for(
        &self,
        name: &str,
        secs: u64,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let screen = self.capture(name);
            if pred(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {secs}s waiting for {what}; the pane shows:\n{screen}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// The row of `podinfo` in a captured table.
fn podinfo_row(screen: &str) -> String {
    screen
        .lines()
        .find(|l| l.starts_with("podinfo"))
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn pl_live_views_update_in_a_terminal() {
    if !Tmux::available() {
        eprintln!(
            "SKIPPED pl_live_views_update_in_a_terminal: tmux is not installed (apt-get install tmux)"
        );
        return;
    }
    let s = initialized("pl-live", ANALYSIS).await;
    let tmux = Tmux {
        socket: format!("serin-e2e-{}", support::suffix()),
    };
    tmux.start("get", &["serin", "get", "-n", &s.ns, "-w"]);
    tmux.start("status", &["serin", "status", "podinfo", "-n", &s.ns, "-w"]);
    tmux.wait_for("get", 30, "the table", |p| {
        podinfo_row(p).contains("Initialized")
    })
    .await;
    tmux.wait_for("status", 30, "the page", |p| {
        p.contains("Phase:      Initialized")
    })
    .await;

    s.apply(&podinfo("6.0.1", &[]));
    // Each step shows up in both views without anything typed.
    let mut frames = Vec::new();
    for (weight, step) in [(20, 1), (40, 2)] {
        let table = tmux
            .wait_for("get", 60, &format!("step {step} in the table"), |p| {
                let row = podinfo_row(p);
                row.contains(&format!("{weight}%")) && row.contains(&format!("{step}/3"))
            })
            .await;
        let page = tmux
            .wait_for("status", 60, &format!("step {step} on the page"), |p| {
                p.contains(&format!("[>] {step}  {weight}%"))
            })
            .await;
        frames.push((table, page));
    }
    let done = tmux
        .wait_for("get", 120, "the promotion in the table", |p| {
            podinfo_row(p).contains("Succeeded")
        })
        .await;
    for (table, page) in &frames {
        eprintln!(
            "--- get -w ---\n{}\n--- status -w ---\n{}",
            table.trim_end(),
            page.trim_end()
        );
    }
    eprintln!("--- get -w, at the end ---\n{}", done.trim_end());
}

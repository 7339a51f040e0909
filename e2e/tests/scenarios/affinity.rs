//! Session affinity end to end: simulated clients keep the cookies serin's routes give
//! them, so a client that reached the canary keeps reaching it, and loses the cookie
//! after the run.
//!
//! Simulated clients make the mesh pick destinations at random for every host of the
//! sandbox, so this scenario runs in its own test binary (`scenarios_affinity`), not
//! beside the scenarios that count requests exactly.

use std::time::Duration;

use serde_json::Value;
use serin::api::Phase;

use crate::support::sandbox;
use crate::support::scenario::{Scenario, canary, podinfo};

const CLIENTS: usize = 20;
const WITHIN: Duration = Duration::from_secs(60);

const ANALYSIS: &str = r#"    interval: 10s
    threshold: 3
    stepWeight: 10
    maxWeight: 50
    sessionAffinity:
      cookieName: canary
      maxAge: 600
    metrics:
    - name: request-success-rate
      interval: 10s
      thresholdRange:
        min: 99
"#;

/// The clients of the apex host (served by `router`'s object), once `holds` accepts them.
async fn clients_when(
    s: &Scenario,
    router: &str,
    what: &str,
    holds: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let url = sandbox()
        .mesh()
        .expect("the sandbox runs the mesh")
        .clients_url();
    let key = format!("{}/{router}/podinfo", s.ns);
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let view: Option<Value> = match reqwest::get(&url).await {
            Ok(response) => response.json().await.ok(),
            Err(_) => None,
        };
        let clients = view
            .as_ref()
            .and_then(|v| v["hosts"].as_array())
            .and_then(|hs| hs.iter().find(|h| h["host"] == key.as_str()))
            .and_then(|h| h["clients"].as_array())
            .cloned()
            .unwrap_or_default();
        if clients.len() == CLIENTS && holds(&clients) {
            return clients;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {WITHIN:?}; last clients {clients:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn workloads(client: &Value) -> Vec<String> {
    let last = client["last"].as_array().cloned().unwrap_or_default();
    last.iter()
        .map(|o| o["workload"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn session_affinity_keeps_a_canary_user_on_the_canary_until_promotion() {
    keeps_a_canary_user_on_the_canary("affinity", "", "podinfo", "virtualservice/podinfo").await;
}

/// The same with the Gateway API router: an HTTPRoute on the apex Service (GAMMA), whose
/// stand-in object is named after the route's kind.
#[tokio::test(flavor = "multi_thread")]
async fn session_affinity_on_an_httproute_keeps_a_canary_user_on_the_canary() {
    keeps_a_canary_user_on_the_canary(
        "gw-affinity",
        "  provider: gatewayapi:v1\n",
        "httproute:podinfo",
        "httproute/podinfo",
    )
    .await;
}

/// `extra` goes into the Canary's spec; `router` names the mesh's routing object and
/// `route` the object shown when a check fails.
async fn keeps_a_canary_user_on_the_canary(name: &str, extra: &str, router: &str, route: &str) {
    let Some(mesh) = sandbox().mesh() else {
        eprintln!("no mesh stand-in (attached cluster): skipped");
        return;
    };
    mesh.set_session_clients(CLIENTS);
    let s = Scenario::new(name).await;
    s.apply(&podinfo("6.0.0", &[]));
    s.apply(&canary(extra, ANALYSIS));
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    s.apply(&podinfo("6.0.1", &[]));
    let st = s
        .wait_status("podinfo", 60, "weight 20", |st| st.canary_weight >= 20)
        .await;
    let cookie = st.session_affinity_cookie.expect("the run's cookie");
    let value = cookie
        .split_once('=')
        .map(|(_, v)| v.to_owned())
        .unwrap_or_default();
    // The clients holding the run's cookie now, and how many requests they had sent.
    let holds_cookie = |c: &Value| c["cookies"]["canary"] == value.as_str();
    let before = clients_when(&s, router, "some clients hold the cookie", |cs| {
        cs.iter().any(holds_cookie)
    })
    .await;
    let holders: Vec<(u64, u64)> = before
        .iter()
        .filter(|c| holds_cookie(c))
        .map(|c| {
            (
                c["id"].as_u64().unwrap_or(0),
                c["requests"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert!(
        holders.len() < CLIENTS,
        "everyone holds the cookie at weight {}",
        st.canary_weight
    );
    // Once each has sent a full history more, every one of those requests reached the canary.
    let renewed = |c: &Value, id: u64, sent: u64| {
        c["id"].as_u64() == Some(id) && c["requests"].as_u64().unwrap_or(0) >= sent + 20
    };
    let after = clients_when(
        &s,
        router,
        "the cookie holders sent 20 more requests",
        |cs| {
            holders
                .iter()
                .all(|(id, sent)| cs.iter().any(|c| renewed(c, *id, *sent)))
        },
    )
    .await;
    assert_eq!(
        s.status("podinfo").await.phase,
        Some(Phase::Progressing),
        "checked during the run"
    );
    for (id, _) in &holders {
        let c = after
            .iter()
            .find(|c| c["id"].as_u64() == Some(*id))
            .expect("client");
        assert!(
            workloads(c).iter().all(|w| w == "podinfo"),
            "a cookie holder left the canary: {c}\n{}",
            s.jsonpath(route, "{.spec}")
        );
        assert!(holds_cookie(c), "{c}");
    }

    let st = s.wait_phase("podinfo", Phase::Succeeded, 120).await;
    assert_eq!(
        st.previous_session_affinity_cookie.as_deref(),
        Some(cookie.as_str())
    );
    clients_when(
        &s,
        router,
        "every cookie expired, every client on the primary",
        |cs| {
            cs.iter().all(|c| {
                c["cookies"].get("canary").is_none()
                    && workloads(c).last().is_some_and(|w| w == "podinfo-primary")
            })
        },
    )
    .await;
}

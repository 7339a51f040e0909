//! Autoscalers (`autoscalerRef`): the primary gets its own HPA or ScaledObject and stays
//! autoscaled through promotions and reverts. The sandbox plays the HPA controller and
//! KEDA; `autoscaler.sandbox.serin.dev/utilization` on a Deployment is the simulated load.

use std::time::{Duration, Instant};

use serin::api::{Phase, conditions, reasons};

use crate::support::eventually;
use crate::support::scenario::{ANALYSIS, Scenario, canary, kubectl, kubectl_result, podinfo};

const LOAD: &str = "autoscaler.sandbox.serin.dev/utilization";
const PAUSE: &str = "autoscaling.keda.sh/paused-replicas";

/// The user's HPA of the target: 2 to `max` replicas at 80 % CPU.
fn hpa(max: u32) -> String {
    format!(
        r#"apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: podinfo
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: podinfo
  minReplicas: 2
  maxReplicas: {max}
  metrics:
  - type: Resource
    resource:
      name: cpu
      target:
        type: Utilization
        averageUtilization: 80
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 5
"#
    )
}

const HPA_REF: &str = "  autoscalerRef:\n    apiVersion: autoscaling/v2\n    kind: HorizontalPodAutoscaler\n    name: podinfo\n";

/// A field of an object, or None while it does not exist.
fn get(s: &Scenario, resource: &str, path: &str) -> Option<String> {
    kubectl_result(
        &[
            "get",
            "-n",
            &s.ns,
            resource,
            "-o",
            &format!("jsonpath={path}"),
        ],
        None,
    )
    .ok()
}

fn replicas(s: &Scenario, deploy: &str) -> i32 {
    get(s, &format!("deployment/{deploy}"), "{.spec.replicas}")
        .and_then(|r| r.parse().ok())
        .unwrap_or(-1)
}

/// Waits until `probe` holds, failing with the Canary's events and serin's log.
async fn until(s: &Scenario, secs: u64, what: &str, probe: impl Fn() -> bool) {
    let waited = eventually(what, Duration::from_secs(secs), || {
        let ok = probe();
        async move { Ok(ok.then_some(())) }
    })
    .await;
    if let Err(e) = waited {
        panic!(
            "{e:#}\nevents:\n{}\nserin log tail:\n{}",
            s.events("podinfo"),
            s.log_tail()
        );
    }
}

fn load(s: &Scenario, deploy: &str, percent: u32) {
    kubectl(
        &[
            "annotate",
            "-n",
            &s.ns,
            &format!("deployment/{deploy}"),
            &format!("{LOAD}={percent}"),
            "--overwrite",
        ],
        None,
    );
}

async fn with_hpa(name: &str, extra: &str) -> Scenario {
    let s = Scenario::new(name).await;
    s.apply(&podinfo("6.0.0", &[]));
    s.apply(&hpa(4));
    s.apply(&canary(&format!("{HPA_REF}{extra}"), ANALYSIS));
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn autoscaling_1_hpa_primary_survives_promotion() {
    let s = with_hpa("hpa-promote", "").await;
    let primary_hpa = "hpa/podinfo-primary";
    until(&s, 30, "the primary's HPA", || {
        get(&s, primary_hpa, "{.metadata.name}").is_some()
    })
    .await;
    assert_eq!(
        s.jsonpath(primary_hpa, "{.spec.scaleTargetRef.name}"),
        "podinfo-primary"
    );
    assert_eq!(
        s.jsonpath(primary_hpa, "{.spec.minReplicas}/{.spec.maxReplicas}"),
        "2/4"
    );
    assert_eq!(
        s.jsonpath(
            primary_hpa,
            "{.spec.metrics[0].resource.target.averageUtilization}"
        ),
        "80"
    );
    assert_eq!(
        s.jsonpath(
            primary_hpa,
            "{.spec.behavior.scaleDown.stabilizationWindowSeconds}"
        ),
        "5"
    );
    assert_eq!(
        s.jsonpath(primary_hpa, "{.metadata.ownerReferences[0].kind}"),
        "Canary"
    );
    // The user's HPA keeps the canary.
    assert_eq!(
        s.jsonpath("hpa/podinfo", "{.spec.scaleTargetRef.name}"),
        "podinfo"
    );
    let uid = s.jsonpath(primary_hpa, "{.metadata.uid}");

    load(&s, "podinfo-primary", 200);
    until(&s, 30, "the primary scaled up by its HPA", || {
        replicas(&s, "podinfo-primary") == 4
    })
    .await;

    s.apply(&podinfo("6.0.1", &[]));
    s.wait_phase("podinfo", Phase::Progressing, 60).await;
    // The canary starts at its HPA's minimum.
    until(&s, 30, "the canary at its HPA's minimum", || {
        replicas(&s, "podinfo") >= 2
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut lowest = i32::MAX;
    loop {
        lowest = lowest.min(replicas(&s, "podinfo-primary"));
        let phase = s.status("podinfo").await.phase;
        if phase == Some(Phase::Succeeded) {
            break;
        }
        assert_ne!(
            phase,
            Some(Phase::Failed),
            "events:\n{}",
            s.events("podinfo")
        );
        assert!(
            Instant::now() < deadline,
            "no promotion; events:\n{}\n{}",
            s.events("podinfo"),
            s.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        lowest, 4,
        "the primary's replicas dipped during the promotion"
    );
    assert_eq!(replicas(&s, "podinfo-primary"), 4);
    assert_eq!(
        s.jsonpath(
            "deployment/podinfo-primary",
            "{.spec.template.spec.containers[0].image}"
        ),
        "ghcr.io/stefanprodan/podinfo:6.0.1"
    );
    assert_eq!(
        s.jsonpath(primary_hpa, "{.metadata.uid}"),
        uid,
        "the primary's HPA was re-created"
    );
    // The load falls: the primary's HPA scales it back to its minimum, not below.
    load(&s, "podinfo-primary", 50);
    until(&s, 60, "the primary scaled down to min", || {
        replicas(&s, "podinfo-primary") == 2
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn autoscaling_2_the_primary_hpa_follows_the_users() {
    let s = with_hpa("hpa-sync", "").await;
    until(&s, 30, "the primary's HPA", || {
        get(&s, "hpa/podinfo-primary", "{.spec.maxReplicas}").as_deref() == Some("4")
    })
    .await;
    kubectl(
        &[
            "patch",
            "-n",
            &s.ns,
            "hpa/podinfo",
            "--type=merge",
            "-p",
            r#"{"spec":{"maxReplicas":8}}"#,
        ],
        None,
    );
    until(&s, 30, "maxReplicas 8 on the primary's HPA", || {
        get(&s, "hpa/podinfo-primary", "{.spec.maxReplicas}").as_deref() == Some("8")
    })
    .await;
    assert_eq!(
        s.jsonpath("hpa/podinfo-primary", "{.spec.scaleTargetRef.name}"),
        "podinfo-primary"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn autoscaling_4_a_missing_hpa_is_reported_and_the_rest_works() {
    let s = Scenario::new("hpa-missing").await;
    s.apply(&podinfo("6.0.0", &[]));
    s.apply(&canary(HPA_REF, ANALYSIS));
    let st = s.wait_phase("podinfo", Phase::Initialized, 60).await;
    let valid = st.condition(conditions::VALID).expect("a Valid condition");
    assert_eq!(valid.status, conditions::FALSE);
    assert_eq!(valid.reason, reasons::AUTOSCALER_NOT_FOUND);
    assert!(
        valid.message.contains("fixed replicas"),
        "{}",
        valid.message
    );
    assert!(s.events("podinfo").contains(reasons::AUTOSCALER_NOT_FOUND));
    assert_eq!(replicas(&s, "podinfo-primary"), 2);
    assert_eq!(
        s.jsonpath("service/podinfo", "{.spec.selector.app}"),
        "podinfo-primary"
    );
    // Creating the HPA heals it.
    s.apply(&hpa(4));
    until(&s, 30, "the primary's HPA once the user's exists", || {
        get(&s, "hpa/podinfo-primary", "{.spec.scaleTargetRef.name}").as_deref()
            == Some("podinfo-primary")
    })
    .await;
    s.wait_status("podinfo", 30, "the Valid condition cleared", |st| {
        st.condition(conditions::VALID).is_none()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn autoscaling_5_revert_on_deletion_hands_the_target_to_the_users_hpa() {
    let s = with_hpa("hpa-revert", "  revertOnDeletion: true\n").await;
    until(&s, 30, "the primary's HPA", || {
        get(&s, "hpa/podinfo-primary", "{.metadata.name}").is_some()
    })
    .await;
    kubectl(
        &["delete", "-n", &s.ns, "canary/podinfo", "--timeout=60s"],
        None,
    );
    until(&s, 30, "the primary's HPA removed", || {
        get(&s, "hpa/podinfo-primary", "{.metadata.name}").is_none()
    })
    .await;
    assert_eq!(
        replicas(&s, "podinfo"),
        2,
        "the target runs the primary's replicas"
    );
    assert_eq!(
        s.jsonpath("hpa/podinfo", "{.spec.scaleTargetRef.name}"),
        "podinfo"
    );
    load(&s, "podinfo", 200);
    until(&s, 30, "the user's HPA scaling the restored target", || {
        replicas(&s, "podinfo") == 4
    })
    .await;
    until(&s, 30, "the user's HPA status", || {
        get(&s, "hpa/podinfo", "{.status.currentReplicas}").as_deref() == Some("4")
    })
    .await;
}

/// The user's ScaledObject: 0 to 4 replicas, one Prometheus trigger.
const SCALED_OBJECT: &str = r#"apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: podinfo
spec:
  scaleTargetRef:
    name: podinfo
  minReplicaCount: 0
  maxReplicaCount: 4
  cooldownPeriod: 5
  triggers:
  - type: prometheus
    name: rps
    metadata:
      serverAddress: http://prometheus:9090
      query: sum(rate(http_requests_total{app="podinfo"}[1m]))
      threshold: "10"
"#;

const SO_REF: &str = "  autoscalerRef:\n    apiVersion: keda.sh/v1alpha1\n    kind: ScaledObject\n    name: podinfo\n    primaryScalerQueries:\n      rps: sum(rate(http_requests_total{app=\"podinfo-primary\"}[1m]))\n";

fn pause(s: &Scenario, so: &str) -> Option<String> {
    get(s, &format!("scaledobject/{so}"), "{.metadata.annotations}").map(|a| {
        serde_json::from_str::<serde_json::Value>(&a)
            .ok()
            .and_then(|v| v.get(PAUSE).and_then(|p| p.as_str().map(str::to_owned)))
            .unwrap_or_default()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn autoscaling_3_keda_primary_never_paused_target_paused_between_runs() {
    let s = Scenario::new("keda").await;
    s.apply(&podinfo("6.0.0", &[]));
    s.apply(SCALED_OBJECT);
    s.apply(&canary(SO_REF, ANALYSIS));
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    until(&s, 30, "the primary's ScaledObject", || {
        get(&s, "scaledobject/podinfo-primary", "{.metadata.name}").is_some()
    })
    .await;
    let so = "scaledobject/podinfo-primary";
    assert_eq!(
        s.jsonpath(so, "{.spec.scaleTargetRef.name}"),
        "podinfo-primary"
    );
    assert_eq!(
        s.jsonpath(so, "{.spec.minReplicaCount}/{.spec.maxReplicaCount}"),
        "0/4"
    );
    assert_eq!(
        s.jsonpath(so, "{.spec.triggers[0].metadata.query}"),
        r#"sum(rate(http_requests_total{app="podinfo-primary"}[1m]))"#
    );
    until(&s, 30, "the target's ScaledObject paused at 0", || {
        pause(&s, "podinfo").as_deref() == Some("0")
    })
    .await;
    assert_eq!(pause(&s, "podinfo-primary").as_deref(), Some(""));
    // minReplicaCount 0 on the primary: KEDA keeps it running while its triggers are active.
    until(&s, 30, "KEDA's HPA of the primary", || {
        get(&s, "hpa/keda-hpa-podinfo-primary", "{.metadata.name}").is_some()
    })
    .await;
    assert!(replicas(&s, "podinfo-primary") >= 1);

    s.apply(&podinfo("6.0.1", &[]));
    s.wait_phase("podinfo", Phase::Progressing, 60).await;
    until(
        &s,
        30,
        "the target's ScaledObject unpaused during the run",
        || pause(&s, "podinfo").as_deref() == Some(""),
    )
    .await;
    until(&s, 30, "the canary scaled up", || {
        replicas(&s, "podinfo") >= 1
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert_eq!(
            pause(&s, "podinfo-primary").as_deref(),
            Some(""),
            "the primary was paused"
        );
        assert!(
            replicas(&s, "podinfo-primary") >= 1,
            "the primary went to 0 during the run"
        );
        let phase = s.status("podinfo").await.phase;
        if phase == Some(Phase::Succeeded) {
            break;
        }
        assert_ne!(
            phase,
            Some(Phase::Failed),
            "events:\n{}",
            s.events("podinfo")
        );
        assert!(
            Instant::now() < deadline,
            "no promotion; events:\n{}\n{}",
            s.events("podinfo"),
            s.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    until(&s, 30, "the target's ScaledObject paused again", || {
        pause(&s, "podinfo").as_deref() == Some("0")
    })
    .await;
    until(&s, 30, "the canary back at 0", || {
        replicas(&s, "podinfo") == 0
    })
    .await;
    assert_eq!(
        s.jsonpath(
            "deployment/podinfo-primary",
            "{.spec.template.spec.containers[0].image}"
        ),
        "ghcr.io/stefanprodan/podinfo:6.0.1"
    );
    assert_eq!(pause(&s, "podinfo-primary").as_deref(), Some(""));
}

//! Seeded fuzzing of Canary specs through the decision and the builders: whatever the
//! spec (within what a client can send), serin never panics, and a spec it cannot act on
//! is a `SpecError` (reported as `Valid=False`), never a crash.
//!
//! The generator mixes sane values with the ends of every range. `SERIN_FUZZ_CASES`
//! raises the number of cases (default 300, ~1 s); `SERIN_FUZZ_SEED` picks the seed:
//! `SERIN_FUZZ_CASES=100000 cargo test --test fuzz`.

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::Deployment;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use serin::api::{Canary, CanaryStatus, Phase};
use serin::decide::{self, Identity, Observation, Rollout, Settings, Workload};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn int(rng: &mut StdRng) -> Value {
    let edges = [0i64, 1, -1, 100, 101, i32::MAX as i64, i32::MIN as i64];
    if rng.random_bool(0.5) {
        json!(edges[rng.random_range(0..edges.len())])
    } else {
        json!(rng.random_range(-5i64..200))
    }
}

fn duration(rng: &mut StdRng) -> Value {
    let texts = [
        "1s",
        "30s",
        "1m",
        "24h",
        "25h",
        "0s",
        "-1s",
        "1.5h",
        "",
        "x",
        "99999999h",
        "100000000000h",
        "2562047788015215h",
        "1h30m",
        "500ms",
    ];
    json!(texts[rng.random_range(0..texts.len())])
}

fn name(rng: &mut StdRng) -> String {
    let names = ["podinfo", "a", "x-y", "1digit", "dot.ted", "Bad_Name", ""];
    let n = names[rng.random_range(0..names.len())].to_string();
    if rng.random_bool(0.1) {
        "a".repeat(rng.random_range(50..70))
    } else {
        n
    }
}

/// Sets `spec[key]` to a generated value in most cases, leaves it unset otherwise.
macro_rules! maybe {
    ($rng:expr, $spec:expr, $key:expr, $value:expr $(,)?) => {{
        let value = $value;
        if $rng.random_bool(0.6) {
            $spec[$key] = value;
        }
    }};
}

fn canary(rng: &mut StdRng) -> Canary {
    let mut analysis = json!({});
    maybe!(rng, analysis, "interval", duration(rng));
    maybe!(rng, analysis, "threshold", int(rng));
    maybe!(rng, analysis, "maxWeight", int(rng));
    maybe!(rng, analysis, "stepWeight", int(rng));
    maybe!(rng, analysis, "stepWeightPromotion", int(rng));
    maybe!(rng, analysis, "metricErrorLimit", int(rng));
    maybe!(rng, analysis, "iterations", int(rng));
    let weights: Vec<Value> = (0..rng.random_range(0..5)).map(|_| int(rng)).collect();
    maybe!(rng, analysis, "stepWeights", json!(weights));
    let mut spec = json!({
        "targetRef": {"apiVersion": "apps/v1", "kind": if rng.random_bool(0.9) {"Deployment"} else {"DaemonSet"}, "name": name(rng)},
        "service": {"port": 9898},
    });
    maybe!(rng, spec, "analysis", analysis);
    maybe!(rng, spec, "progressDeadlineSeconds", int(rng));
    maybe!(
        rng,
        spec,
        "provider",
        json!(["istio", "linkerd", ""][rng.random_range(0..3)]),
    );
    maybe!(rng, spec, "skipAnalysis", json!(rng.random_bool(0.5)));
    let c = json!({
        "apiVersion": "serin.dev/v1beta1", "kind": "Canary",
        "metadata": {"name": name(rng), "namespace": "fuzz", "uid": "u-1", "generation": 1},
        "spec": spec,
    });
    // A spec the Rust type cannot hold is the decoder's to report (covered elsewhere).
    serde_json::from_value(c).unwrap_or_else(|_| {
        serde_json::from_value(json!({
            "metadata": {"name": "podinfo", "namespace": "fuzz"},
            "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"}, "service": {"port": 9898}}
        }))
        .expect("fallback canary")
    })
}

fn target(rng: &mut StdRng, name: &str) -> Deployment {
    let label = name.to_string();
    let selector = match rng.random_range(0..3) {
        0 => json!({"matchLabels": {"app": label}}),
        1 => json!({"matchExpressions": [{"key": "app", "operator": "In", "values": [label]}]}),
        _ => json!({}),
    };
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "fuzz"},
        "spec": {"replicas": int(rng), "selector": selector,
                 "template": {"metadata": {"labels": {"app": label}}, "spec": {"containers": [{"name": "app", "image": "app:1"}]}}}
    }))
    .expect("deployment")
}

fn time(rng: &mut StdRng) -> DateTime<Utc> {
    match rng.random_range(0..4) {
        0 => DateTime::<Utc>::MIN_UTC,
        1 => DateTime::<Utc>::MAX_UTC,
        _ => DateTime::from_timestamp(1_800_000_000 + rng.random_range(0..10_000), 0)
            .unwrap_or_default(),
    }
}

fn status(rng: &mut StdRng) -> CanaryStatus {
    let phases = [
        Phase::Initializing,
        Phase::Initialized,
        Phase::Progressing,
        Phase::Promoting,
        Phase::Finalising,
        Phase::Succeeded,
        Phase::Failed,
    ];
    CanaryStatus {
        phase: Some(phases[rng.random_range(0..phases.len())]),
        canary_weight: int(rng).as_i64().unwrap_or(0) as i32,
        failed_checks: int(rng).as_i64().unwrap_or(0) as i32,
        step_started_at: Some(time(rng)),
        waiting_since: rng.random_bool(0.5).then(|| time(rng)),
        last_applied_spec: Some("v2".into()),
        last_promoted_spec: Some("v1".into()),
        ..Default::default()
    }
}

fn workload(rng: &mut StdRng, revision: &str) -> Option<Workload> {
    rng.random_bool(0.85).then(|| Workload {
        revision: revision.into(),
        replicas: int(rng).as_i64().unwrap_or(1) as i32,
        rollout: [
            Rollout::Complete,
            Rollout::InProgress("rolling".into()),
            Rollout::Failed("deadline".into()),
        ][rng.random_range(0..3)]
        .clone(),
        serving: rng.random_bool(0.7),
    })
}

#[test]
fn no_generated_spec_makes_serin_panic() {
    let seed = env("SERIN_FUZZ_SEED", 9);
    let cases = env("SERIN_FUZZ_CASES", 300);
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut refused, mut accepted) = (0u64, 0u64);
    for case in 0..cases {
        let c = canary(&mut rng);
        let settings = Settings::from_spec(&c.spec, "istio", std::time::Duration::from_secs(1));
        match &settings {
            Ok(_) => accepted += 1,
            Err(_) => refused += 1,
        }
        let d = target(&mut rng, &c.spec.target_ref.name);
        let who = Identity {
            name: c.metadata.name.clone().unwrap_or_default(),
            namespace: "fuzz".into(),
            target: c.spec.target_ref.name.clone(),
            generation: Some(1),
        };
        let obs = Observation {
            target: workload(&mut rng, "v2"),
            primary: workload(&mut rng, "v1"),
            target_problem: serin::build::selector_problem(&d),
            ..Default::default()
        };
        let st = status(&mut rng);
        let now = time(&mut rng);
        let provider = c.spec.provider.as_deref().unwrap_or("istio");
        let unsupported = decide::unsupported_fields(&c.spec, provider);
        let decision = decide::decide(&who, &settings, &unsupported, false, &st, &obs, now);
        if settings.is_err() {
            assert!(
                decision
                    .status
                    .conditions
                    .iter()
                    .any(|c| c.type_ == "Valid" && c.status == "False"),
                "case {case} (seed {seed}): a refused spec gets Valid=False"
            );
        }
        if let Some(plan) = &decision.plan {
            let _ = serin::build::primary(&c, &d, "v2", plan.copy_to_primary.unwrap_or(1));
            let _ = serin::build::services(&c, &d, None, plan.apex_on_primary);
            let router = serin::router::for_provider(decide::Provider::Istio);
            let _ = router.desired(&c, &plan.split, &Default::default());
        }
    }
    println!("fuzz: seed {seed}, {cases} cases, {accepted} accepted, {refused} refused");
    assert_eq!(accepted + refused, cases);
}

//! Fuzzing through the schema (issue 9): seeded random Canary and MetricTemplate
//! manifests, most of them plausible and some with a field replaced by junk, are sent to
//! the sandbox's API server, whose schema validation (CEL included) follows the real one.
//! Each Canary it accepts must be acted on by serin (a phase) or explained (a condition)
//! in time; serin never goes down (`/readyz` answers 200 throughout), and a healthy
//! Canary in the same namespace is promoted meanwhile.
//!
//! The CI size is small; more cases (see README "Development"):
//! `SERIN_FUZZ_CASES=300 SERIN_FUZZ_SEED=42 cargo test -p serin-sandbox --test fuzz_schema -- --nocapture`
//! (`tests/fuzz.rs` fuzzes the decision itself, without an API server).

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use serin::api::{Canary, Phase};
use support::sandbox;
use support::scenario::{ANALYSIS, Scenario, canary, podinfo};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pick<T: Clone>(rng: &mut StdRng, values: &[T]) -> T {
    values.choose(rng).cloned().expect("a non-empty list")
}

/// How often a generated field gets a value from the edges or outside its range: low
/// enough that most manifests pass the schema and reach serin.
const ODD: f64 = 0.05;

/// One of `good`, or rarely one of `odd`.
fn pick_or<T: Clone>(rng: &mut StdRng, good: &[T], odd: &[T]) -> T {
    if rng.random_bool(ODD) {
        pick(rng, odd)
    } else {
        pick(rng, good)
    }
}

/// A duration, usually a valid one.
fn duration(rng: &mut StdRng) -> Value {
    json!(pick_or(
        rng,
        &[
            "1s", "3s", "10s", "1m", "30s", "1h", "24h", "500ms", "1m30s", "1.5s"
        ],
        &[
            "0s",
            "-1s",
            "abc",
            "",
            "99999999h",
            "100000000000h",
            "2562047788015215h",
            "5d",
            "3"
        ]
    ))
}

/// An integer, usually small, sometimes at or past the edges of int32.
fn int(rng: &mut StdRng, lo: i64, hi: i64) -> Value {
    if !rng.random_bool(ODD) {
        json!(rng.random_range(lo..=hi))
    } else {
        json!(pick(
            rng,
            &[
                -1_i64,
                0,
                101,
                65536,
                2_147_483_647,
                2_147_483_648,
                -2_147_483_649,
                i64::MAX
            ]
        ))
    }
}

/// A name: a valid DNS label, or one Kubernetes refuses somewhere.
fn name(rng: &mut StdRng, valid: &str) -> Value {
    if !rng.random_bool(ODD) {
        json!(valid)
    } else {
        json!(pick(
            rng,
            &[
                "1digit",
                "dot.ted",
                "Bad_Name",
                "",
                "a-name-that-is-much-too-long-for-a-label-value-because-it-goes-past-sixty-three-chars"
            ]
        ))
    }
}

/// Something of the wrong type or shape.
fn junk(rng: &mut StdRng) -> Value {
    pick(
        rng,
        &[
            json!(null),
            json!(true),
            json!(-7),
            json!(1.5),
            json!("junk"),
            json!([]),
            json!([1, "two"]),
            json!({}),
            json!({"unknown": 1}),
            json!("x".repeat(5000)),
        ],
    )
}

fn metric(rng: &mut StdRng, templates: usize) -> Value {
    let mut m = json!({"name": pick_or(rng, &["request-success-rate", "request-duration", "custom", "error-rate"], &["", "Bad Name"])});
    if rng.random_bool(0.7) {
        m["interval"] = duration(rng);
    }
    match rng.random_range(0..4) {
        0 => m["thresholdRange"] = json!({"min": rng.random_range(0.0..100.0)}),
        1 => {
            m["thresholdRange"] =
                json!({"min": rng.random_range(0.0..100.0), "max": rng.random_range(0.0..1000.0)})
        }
        2 => m["threshold"] = json!(rng.random_range(0.0..1000.0)),
        _ => {}
    }
    if templates > 0 && rng.random_bool(0.4) {
        m["templateRef"] = json!({"name": format!("mt-{}", rng.random_range(0..templates))});
        if rng.random_bool(0.5) {
            m["templateVariables"] = json!({"window": "1m", "app": "x"});
        }
    } else if rng.random_bool(0.2) {
        m["query"] = json!(pick_or(
            rng,
            &["sum(up)", "vector(1)", "bad query((", "100 - sum(x)"],
            &[""]
        ));
    }
    m
}

fn webhook(rng: &mut StdRng) -> Value {
    let mut w = json!({
        "name": pick_or(rng, &["gate", "load", "notify"], &[""]),
        "url": pick_or(rng, &["http://127.0.0.1:9/hook", "http://flagger-loadtester.test/gate/approve"], &["not a url", ""]),
    });
    if rng.random_bool(0.8) {
        w["type"] = json!(pick_or(
            rng,
            &[
                "pre-rollout",
                "rollout",
                "confirm-rollout",
                "confirm-promotion",
                "post-rollout",
                "rollback",
                "event",
            ],
            &["bogus"]
        ));
    }
    if rng.random_bool(0.5) {
        w["timeout"] = duration(rng);
    }
    if rng.random_bool(0.3) {
        w["retries"] = int(rng, 0, 10);
    }
    w
}

/// A Canary spec on target `target`: every field plausible, some out of range.
fn canary_spec(rng: &mut StdRng, target: &str, templates: usize) -> Value {
    let mut analysis = json!({"interval": duration(rng), "threshold": int(rng, 1, 10)});
    if rng.random_bool(0.8) {
        let max = rng.random_range(1..=100);
        analysis["maxWeight"] = json!(max);
        analysis["stepWeight"] = int(rng, 1, max);
    } else if rng.random_bool(0.5) {
        let n = rng.random_range(0..5);
        let mut weights: Vec<i64> = (0..n).map(|_| rng.random_range(1..100)).collect();
        weights.sort_unstable();
        if rng.random_bool(ODD) {
            weights.push(pick(rng, &[-5, 0, 120]));
        }
        analysis["stepWeights"] = json!(weights);
    } else {
        analysis["iterations"] = int(rng, 0, 20);
    }
    for (key, p) in [
        ("stepWeightPromotion", 0.1),
        ("metricErrorLimit", 0.1),
        ("mirrorWeight", 0.1),
        ("canaryReadyThreshold", 0.1),
        ("primaryReadyThreshold", 0.1),
    ] {
        if rng.random_bool(p) {
            analysis[key] = int(rng, 0, 100);
        }
    }
    if rng.random_bool(0.1) {
        analysis["mirror"] = json!(rng.random_bool(0.5));
    }
    if rng.random_bool(0.1) {
        analysis["metricErrorsAsFailures"] = json!(true);
    }
    let metrics: Vec<Value> = (0..rng.random_range(0..3))
        .map(|_| metric(rng, templates))
        .collect();
    analysis["metrics"] = json!(metrics);
    if rng.random_bool(0.3) {
        let hooks: Vec<Value> = (0..rng.random_range(1..3)).map(|_| webhook(rng)).collect();
        analysis["webhooks"] = json!(hooks);
    }
    if rng.random_bool(0.1) {
        analysis["sessionAffinity"] = json!({"cookieName": pick_or(rng, &["user"], &["", "a b"]), "maxAge": int(rng, 1, 86400)});
    }
    let mut service = json!({"port": int(rng, 1, 65535)});
    if rng.random_bool(0.2) {
        service["name"] = name(rng, &format!("{target}-svc"));
    }
    if rng.random_bool(0.2) {
        service["targetPort"] = pick_or(rng, &[json!(9898), json!("http")], &[json!(0), json!("")]);
    }
    if rng.random_bool(0.1) {
        service["timeout"] = duration(rng);
    }
    if rng.random_bool(0.1) {
        service["apex"] =
            json!({"labels": {"team": pick_or(rng, &["web", ""], &["not a label value!"])}});
    }
    let mut spec = json!({
        "targetRef": {
            "apiVersion": pick_or(rng, &["apps/v1"], &["v1", "apps/v2"]),
            "kind": pick_or(rng, &["Deployment", "Deployment", "DaemonSet"], &["StatefulSet", ""]),
            "name": name(rng, target),
        },
        "service": service,
        "analysis": analysis,
    });
    if rng.random_bool(0.7) {
        spec["progressDeadlineSeconds"] = int(rng, 1, 600);
    }
    for key in ["skipAnalysis", "revertOnDeletion", "suspend"] {
        if rng.random_bool(0.1) {
            spec[key] = json!(rng.random_bool(0.5));
        }
    }
    if rng.random_bool(0.1) {
        spec["provider"] = json!(pick_or(
            rng,
            &["istio", "gatewayapi:v1", "kubernetes"],
            &["nginx", "x"]
        ));
    }
    if rng.random_bool(0.1) {
        spec["metricsServer"] = json!(pick_or(
            rng,
            &["http://127.0.0.1:9"],
            &["not a url", "http://[::1"]
        ));
    }
    if rng.random_bool(0.1) {
        spec["autoscalerRef"] = json!({
            "apiVersion": "autoscaling/v2",
            "kind": pick_or(rng, &["HorizontalPodAutoscaler", "ScaledObject"], &["Other"]),
            "name": name(rng, &format!("{target}-hpa")),
        });
    }
    spec
}

fn template_spec(rng: &mut StdRng, prometheus: &str) -> Value {
    let address = pick_or(rng, &[prometheus, "http://127.0.0.1:9"], &["not a url", ""]);
    json!({
        "provider": {
            "type": pick_or(rng, &["prometheus", "prometheus", "datadog", "graphite"], &["bogus", ""]),
            "address": address,
        },
        "query": pick_or(rng, &[
            "sum(rate(istio_requests_total{destination_workload=\"{{ target }}\"}[{{ interval }}]))",
            "vector(1)",
            "{{ unknown_variable }}",
            "{{ ",
        ], &[""]),
    })
}

/// Replaces one field somewhere in `v` by junk (a path drawn at random).
fn mutate(rng: &mut StdRng, v: &mut Value) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = pick(rng, &keys);
            if rng.random_bool(0.4) {
                map.insert(key, junk(rng));
            } else if let Some(child) = map.get_mut(&key) {
                mutate(rng, child);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let i = rng.random_range(0..items.len());
            mutate(rng, &mut items[i]);
        }
        other => *other = junk(rng),
    }
}

fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("serin.dev", "v1beta1", kind), plural)
}

/// Creates the object; `Ok(())` when stored, `Err(message)` when the API server refused
/// it as invalid (the answers a real server gives to a bad manifest).
async fn create(
    api: &Api<DynamicObject>,
    kind: &str,
    name: &str,
    spec: Value,
) -> Result<(), String> {
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "serin.dev/v1beta1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }))
    .expect("an object");
    match api.create(&PostParams::default(), &obj).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if matches!(s.code, 400 | 422) => Err(s.message),
        Err(e) => panic!("{kind} {name}: an answer a bad manifest must not get: {e:?}"),
    }
}

async fn ready(port: u16) -> Result<(), String> {
    let url = format!("http://127.0.0.1:{port}/readyz");
    match reqwest::get(&url).await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("{url}: HTTP {}", r.status())),
        Err(e) => Err(format!("{url}: {e}")),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn f01_every_accepted_manifest_is_acted_on_or_explained() {
    let cases: usize = env_or("SERIN_FUZZ_CASES", 24);
    let seed: u64 = env_or("SERIN_FUZZ_SEED", 1);
    eprintln!("fuzz: {cases} cases, seed {seed} (SERIN_FUZZ_CASES, SERIN_FUZZ_SEED)");
    let mut rng = StdRng::seed_from_u64(seed);

    let mut s = Scenario::new("fuzz-schema").await;
    s.apply(&podinfo("6.0.0", &[]));
    s.apply(&canary("", ANALYSIS));
    s.wait_phase("podinfo", Phase::Initialized, 60).await;
    // serin is ready once its caches are synced.
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Err(e) = ready(s.metrics_port).await {
        assert!(Instant::now() < deadline, "serin never got ready: {e}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The healthy Canary's run goes on during the whole fuzz.
    s.apply(&podinfo("6.0.1", &[]));

    let client = s.client().await;
    let templates_api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &s.ns,
        &resource("MetricTemplate", "metrictemplates"),
    );
    let canaries_api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &s.ns, &resource("Canary", "canaries"));
    let prometheus = sandbox().prometheus_url.clone();

    let templates = cases / 3 + 1;
    let mut refused: BTreeMap<&str, usize> = BTreeMap::new();
    let mut samples = Vec::new();
    for t in 0..templates {
        let mut spec = template_spec(&mut rng, &prometheus);
        if rng.random_bool(ODD) {
            mutate(&mut rng, &mut spec);
        }
        if let Err(why) = create(&templates_api, "MetricTemplate", &format!("mt-{t}"), spec).await {
            *refused.entry("MetricTemplate").or_default() += 1;
            samples.push(why);
        }
    }
    let mut accepted = Vec::new();
    for k in 0..cases {
        let target = format!("tgt-{k}");
        if rng.random_bool(0.5) {
            let manifest = podinfo("6.0.0", &[])
                .replace("name: podinfo\n", &format!("name: {target}\n"))
                .replace("app: podinfo", &format!("app: {target}"));
            s.apply(&manifest);
        }
        let mut spec = canary_spec(&mut rng, &target, templates);
        if rng.random_bool(0.1) {
            mutate(&mut rng, &mut spec);
        }
        let name = format!("fz-{k}");
        match create(&canaries_api, "Canary", &name, spec).await {
            Ok(()) => accepted.push(name),
            Err(why) => {
                *refused.entry("Canary").or_default() += 1;
                samples.push(why);
            }
        }
        if let Err(e) = ready(s.metrics_port).await {
            panic!(
                "serin not ready after case {k}: {e}\nlog tail:\n{}",
                s.log_tail()
            );
        }
    }
    eprintln!(
        "fuzz: {} Canaries accepted, refused by the schema: {refused:?}",
        accepted.len()
    );
    for why in samples.iter().take(8) {
        eprintln!(
            "fuzz: refused: {}",
            why.chars().take(300).collect::<String>()
        );
    }
    assert!(
        accepted.len() * 4 >= cases,
        "fewer than a quarter of the generated Canaries were accepted: the generator \
         tests the schema only"
    );

    // Each accepted Canary gets a phase or a condition.
    let typed: Api<Canary> = Api::namespaced(client.clone(), &s.ns);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut silent = accepted.clone();
    while !silent.is_empty() {
        let mut still = Vec::new();
        for name in silent {
            let st = typed.get(&name).await.ok().and_then(|c| c.status);
            if !st.is_some_and(|st| st.phase.is_some() || !st.conditions.is_empty()) {
                still.push(name);
            }
        }
        silent = still;
        if !silent.is_empty() && Instant::now() > deadline {
            panic!(
                "accepted Canaries with neither a phase nor a condition after 60s: {silent:?}\nlog tail:\n{}",
                s.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(!s.exited(0), "serin exited:\n{}", s.log_tail());
    if let Err(e) = ready(s.metrics_port).await {
        panic!(
            "serin not ready after the fuzz: {e}\nlog tail:\n{}",
            s.log_tail()
        );
    }
    let log = std::fs::read_to_string(std::env::temp_dir().join(format!("serin-{}.log", s.ns)))
        .unwrap_or_default();
    assert!(
        !log.contains("panicked"),
        "serin panicked:\n{}",
        s.log_tail()
    );
    // The healthy Canary was not held up by the others.
    s.wait_phase("podinfo", Phase::Succeeded, 180).await;
}

use super::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;

use crate::mesh::classes::TrafficClass;
use crate::mesh::routing::ServingRevisions;

fn object<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> std::sync::Arc<T> {
    std::sync::Arc::new(serde_json::from_value(value).expect("object"))
}

fn pair(serving: &ServingRevisions) -> Cluster<'_> {
    let svc = |name: &str| {
        object::<Service>(serde_json::json!({
            "metadata": {"name": name, "namespace": "ns"}, "spec": {"selector": {"app": name}}
        }))
    };
    let dep = |name: &str, error_rate: &str| {
        object::<Deployment>(serde_json::json!({
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"selector": {}, "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [
                {"name": "c", "env": [{"name": "SANDBOX_ERROR_RATE", "value": error_rate}]}]}}},
            "status": {"readyReplicas": 1}
        }))
    };
    Cluster::new(
        [svc("primary"), svc("canary")],
        [dep("primary", "0"), dep("canary", "0.3")],
        serving,
    )
}

fn vs(yaml: &str) -> CompiledVs {
    CompiledVs::compile(serde_saphyr::from_str(yaml).expect("spec")).expect("compiles")
}

/// Requests counted by `reporter` on `workload` with `code`, from sources
/// whose label contains `source`.
fn count(text: &str, reporter: &str, workload: &str, code: &str, source: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("istio_requests_total{{reporter=\"{reporter}\"")))
        .filter(|l| l.contains(&format!("destination_workload=\"{workload}\"")))
        .filter(|l| code.is_empty() || l.contains(&format!("response_code=\"{code}\"")))
        .filter(|l| l.contains(&format!("source_workload=\"{source}")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Runs `ticks` ticks of 100 ms at 20 requests/s.
fn run(
    generator: &mut Generator,
    vs: &CompiledVs,
    classes: &ClassSet,
    cluster: &Cluster<'_>,
    ticks: usize,
    population: &mut Population,
) -> Registry {
    let hosts = [HostTraffic {
        key: "ns/app/app".into(),
        host: "app",
        namespace: "ns",
        vs,
        rps: 20.0,
    }];
    let input = TickInput {
        classes,
        cluster,
        seconds: 0.1,
    };
    let mut registry = Registry::default();
    for _ in 0..ticks {
        generator.tick(&hosts, &input, &mut registry, population);
    }
    registry
}

#[test]
fn weights_and_error_rates_are_exact() {
    let spec = vs(
        "http: [{route: [{destination: {host: primary}, weight: 80}, {destination: {host: canary}, weight: 20}]}]",
    );
    let serving = ServingRevisions::default();
    let cluster = pair(&serving);
    // 100 s of 100 ms ticks: 2000 requests.
    let text = run(
        &mut Generator::default(),
        &spec,
        &ClassSet::new(&[]),
        &cluster,
        1000,
        &mut Population::default(),
    )
    .render();
    let dest = |w, c| count(&text, "destination", w, c, "loadgenerator\"");
    assert_eq!(dest("primary", "200"), 1600);
    assert_eq!(dest("primary", "500"), 0);
    assert_eq!(dest("canary", "500"), 120);
    assert_eq!(dest("canary", "200"), 280);
    assert_eq!(count(&text, "source", "canary", "", "loadgenerator\""), 400);
}

#[test]
fn mirrored_copies_reach_the_mirror_at_its_percentage_and_spare_the_user() {
    let spec = vs(r#"
http:
  - route: [{destination: {host: primary}, weight: 100}, {destination: {host: canary}, weight: 0}]
    mirror: {host: canary}
    mirrorPercentage: {value: 50}
"#);
    let serving = ServingRevisions::default();
    let cluster = pair(&serving);
    let text = run(
        &mut Generator::default(),
        &spec,
        &ClassSet::new(&[]),
        &cluster,
        1000,
        &mut Population::default(),
    )
    .render();
    assert_eq!(count(&text, "destination", "primary", "200", ""), 2000);
    // Half the requests are copied; the canary's 30% of errors show on it.
    assert_eq!(count(&text, "destination", "canary", "", ""), 1000);
    assert_eq!(count(&text, "destination", "canary", "500", ""), 300);
    // The user sees the primary's answers only.
    assert_eq!(count(&text, "source", "canary", "", ""), 0);
    assert_eq!(count(&text, "source", "primary", "500", ""), 0);
    assert!(text.contains("destination_service=\"app-shadow\""));
}

#[test]
fn a_class_matching_the_ab_route_reaches_only_the_canary_under_its_own_source() {
    let spec = vs(r#"
http:
  - match: [{headers: {cookie: {regex: ".*canary=always.*"}}}]
    route: [{destination: {host: primary}, weight: 0}, {destination: {host: canary}, weight: 100}]
  - route: [{destination: {host: primary}, weight: 100}]
"#);
    let serving = ServingRevisions::default();
    let cluster = pair(&serving);
    let ab: TrafficClass = "cookie:canary=always,source:insiders:0.25"
        .parse()
        .expect("class");
    let text = run(
        &mut Generator::default(),
        &spec,
        &ClassSet::new(&[ab]),
        &cluster,
        1000,
        &mut Population::default(),
    )
    .render();
    assert_eq!(count(&text, "destination", "canary", "", "insiders\""), 500);
    assert_eq!(count(&text, "destination", "primary", "", "insiders\""), 0);
    assert_eq!(
        count(&text, "destination", "primary", "", "loadgenerator\""),
        1500
    );
    assert_eq!(
        count(&text, "destination", "canary", "", "loadgenerator\""),
        0
    );
}

/// Flagger's session-affinity shape at canary weight 10.
const STICKY_RUN: &str = r#"
http:
  - name: sticky-route
    match: [{headers: {Cookie: {regex: ".*flagger-cookie.*XyZ.*"}}}]
    route: [{destination: {host: primary}, weight: 0}, {destination: {host: canary}, weight: 100}]
  - route:
      - {destination: {host: primary}, weight: 90}
      - destination: {host: canary}
        weight: 10
        headers: {response: {add: {Set-Cookie: "flagger-cookie=XyZ; Max-Age=3600"}}}
"#;

/// After promotion: the old cookie's route now expires it.
const STICKY_DONE: &str = r#"
http:
  - name: sticky-route
    match: [{headers: {Cookie: {regex: ".*flagger-cookie.*XyZ.*"}}}]
    headers: {response: {add: {Set-Cookie: "flagger-cookie=XyZ; Max-Age=-1"}}}
    route: [{destination: {host: primary}, weight: 100}, {destination: {host: canary}, weight: 0}]
  - route: [{destination: {host: primary}, weight: 100}, {destination: {host: canary}, weight: 0}]
"#;

#[test]
fn clients_sent_to_the_canary_stay_there_until_the_cookie_expires() {
    let serving = ServingRevisions::default();
    let cluster = pair(&serving);
    let classes = ClassSet::new(&[]);
    let mut population = Population::default();
    population.resize(20);
    let mut generator = Generator::default();
    // 20 s: every client sends 20 requests.
    run(
        &mut generator,
        &vs(STICKY_RUN),
        &classes,
        &cluster,
        200,
        &mut population,
    );
    let view = population.view();
    let clients = &view.hosts[0].clients;
    let sticky: Vec<_> = clients
        .iter()
        .filter(|c| c.last.iter().any(|o| o.workload == "canary"))
        .collect();
    assert!(!sticky.is_empty() && sticky.len() < clients.len());
    for client in &sticky {
        let first = client.last.iter().position(|o| o.workload == "canary");
        let after = &client.last[first.unwrap_or(0)..];
        assert!(after.iter().all(|o| o.workload == "canary"), "{client:?}");
        assert_eq!(client.cookies["flagger-cookie"], "XyZ");
    }
    run(
        &mut generator,
        &vs(STICKY_DONE),
        &classes,
        &cluster,
        20,
        &mut population,
    );
    let view = population.view();
    for client in &view.hosts[0].clients {
        assert!(client.cookies.is_empty(), "{client:?}");
        assert_eq!(
            client.last.last().map(|o| o.workload.as_str()),
            Some("primary")
        );
    }
}

#[test]
fn a_cookie_past_its_max_age_no_longer_matches() {
    let serving = ServingRevisions::default();
    let cluster = pair(&serving);
    let classes = ClassSet::new(&[]);
    let mut population = Population::default();
    population.resize(1);
    let mut generator = Generator::default();
    let setting = vs(&STICKY_RUN.replace("Max-Age=3600", "Max-Age=2"));
    let mut ticks = 0;
    while population
        .view()
        .hosts
        .first()
        .is_none_or(|h| h.clients[0].cookies.is_empty())
    {
        run(
            &mut generator,
            &setting,
            &classes,
            &cluster,
            1,
            &mut population,
        );
        ticks += 1;
        assert!(ticks < 1000, "the weighted route never set the cookie");
    }
    // From now on no response sets the cookie again.
    let holding = vs(r#"
http:
  - match: [{headers: {Cookie: {regex: ".*flagger-cookie.*XyZ.*"}}}]
    route: [{destination: {host: canary}}]
  - route: [{destination: {host: primary}}]
"#);
    let last = |population: &Population| {
        let view = population.view();
        let client = &view.hosts[0].clients[0];
        (client.last.last().cloned(), client.cookies.len())
    };
    run(
        &mut generator,
        &holding,
        &classes,
        &cluster,
        10,
        &mut population,
    );
    let (outcome, cookies) = last(&population);
    assert_eq!(
        (outcome.map(|o| o.workload), cookies),
        (Some("canary".into()), 1)
    );
    run(
        &mut generator,
        &holding,
        &classes,
        &cluster,
        15,
        &mut population,
    );
    let (outcome, cookies) = last(&population);
    assert_eq!(
        (outcome.map(|o| o.workload), cookies),
        (Some("primary".into()), 0)
    );
}

#[test]
fn accumulators_keep_remainders_over_idle_ticks_then_forget() {
    let mut acc = Accumulators::default();
    assert_eq!(acc.take("a", 0.6), 0);
    acc.end_tick();
    acc.end_tick();
    assert_eq!(acc.take("a", 0.6), 1);
    for _ in 0..=KEEP_TICKS {
        acc.end_tick();
    }
    assert!(acc.values.is_empty());
}

#[test]
fn flows_are_kept_for_an_epoch_and_recomputed_when_it_moves() {
    let spec = vs(
        "http: [{route: [{destination: {host: primary}, weight: 50}, {destination: {host: canary}, weight: 50}]}]",
    );
    let serving = ServingRevisions::default();
    let both = pair(&serving);
    // The same cluster without the canary Deployment: its half answers 503 `UH`.
    let primary_only = |epoch| Cluster {
        objects: std::sync::Arc::new(routing::ClusterObjects::new(
            both.objects_services(),
            both.objects_deployments()
                .into_iter()
                .filter(|d| d.metadata.name.as_deref() == Some("primary")),
        )),
        serving: &serving,
        epoch,
    };
    let mut generator = Generator::default();
    let classes = ClassSet::new(&[]);
    let mut population = Population::default();
    let at = |epoch| Cluster {
        objects: both.objects.clone(),
        serving: &serving,
        epoch,
    };
    let to_canary = |text: &str| count(text, "destination", "canary", "", "loadgenerator\"");
    let first = run(
        &mut generator,
        &spec,
        &classes,
        &at(Some(1)),
        10,
        &mut population,
    );
    assert_eq!(to_canary(&first.render()), 10);
    // Same epoch: the kept flows still reach the canary.
    let kept = run(
        &mut generator,
        &spec,
        &classes,
        &primary_only(Some(1)),
        10,
        &mut population,
    );
    assert_eq!(to_canary(&kept.render()), 10);
    // A new epoch routes again, and so does a cluster that keeps nothing.
    for epoch in [Some(2), None] {
        let moved = run(
            &mut generator,
            &spec,
            &classes,
            &primary_only(epoch),
            10,
            &mut population,
        );
        assert_eq!(to_canary(&moved.render()), 0, "epoch {epoch:?}");
    }
}

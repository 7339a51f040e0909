//! The Canary a backtest replays, with what its queries need: from a YAML file (and the
//! MetricTemplates that follow it there), or from the cluster (with its MetricTemplates
//! and their Secrets). Read once, up front, so that planning the queries stays pure.

use std::collections::BTreeMap;

use kube::api::Api;

use super::replay::JudgeSpec;
use super::source::{Comparison, CounterQueries};
use super::{BacktestArgs, Error};
use crate::api::{Canary, CanaryMetric, JudgeCompare, MetricJudge, MetricTemplate};
use crate::decide::{Provider, Settings, SpecError};
use crate::judge::JudgeConfig;
use crate::metrics::query::{self, Planned, QueryError};

/// serin's default `--metrics-server`.
const DEFAULT_PROMETHEUS: &str = "http://prometheus:9090";

/// A Canary and what its queries refer to.
#[derive(Debug)]
pub(super) struct Loaded {
    pub(super) canary: Canary,
    pub(super) name: String,
    pub(super) namespace: String,
    pub(super) target: String,
    templates: Vec<MetricTemplate>,
    secrets: BTreeMap<(String, String), Result<BTreeMap<String, String>, QueryError>>,
}

/// Reads the Canary named by the flags.
pub(super) async fn load(args: &BacktestArgs) -> Result<Loaded, Error> {
    match (&args.file, &args.name) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::Canary(format!("cannot read {}: {e}", path.display())))?;
            from_yaml(&text, args.namespace.as_deref())
                .map_err(|e| Error::Canary(format!("{}: {e}", path.display())))
        }
        (None, Some(name)) => from_cluster(args, name).await,
        (None, None) => Err(Error::Args(
            "give the Canary: -f FILE or --name NAME".into(),
        )),
    }
}

/// The Canary of a YAML stream, and the MetricTemplates in it.
fn from_yaml(text: &str, namespace: Option<&str>) -> Result<Loaded, String> {
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(text).map_err(|e| format!("not YAML: {e}"))?;
    let kind = |d: &serde_json::Value, k: &str| d.get("kind").and_then(|v| v.as_str()) == Some(k);
    let mut canaries = docs.iter().filter(|d| kind(d, "Canary"));
    let doc = canaries.next().ok_or("no Canary in the file")?;
    if canaries.next().is_some() {
        return Err("more than one Canary in the file: keep one per backtest".into());
    }
    let mut canary: Canary =
        serde_json::from_value(doc.clone()).map_err(|e| format!("invalid Canary: {e}"))?;
    let ns = namespace
        .map(str::to_string)
        .or_else(|| canary.metadata.namespace.clone())
        .unwrap_or_else(|| "default".into());
    canary.metadata.namespace = Some(ns.clone());
    let mut templates = Vec::new();
    for d in docs.iter().filter(|d| kind(d, "MetricTemplate")) {
        let mut t: MetricTemplate = serde_json::from_value(d.clone())
            .map_err(|e| format!("invalid MetricTemplate: {e}"))?;
        if t.metadata.namespace.is_none() {
            t.metadata.namespace = Some(ns.clone());
        }
        templates.push(t);
    }
    Loaded::new(canary, templates, BTreeMap::new())
}

async fn from_cluster(args: &BacktestArgs, name: &str) -> Result<Loaded, Error> {
    let client = client(args).await?;
    let ns = args
        .namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_string());
    let canaries: Api<Canary> = Api::namespaced(client.clone(), &ns);
    let canary = canaries
        .get_opt(name)
        .await
        .map_err(|e| Error::Canary(format!("cannot read Canary {name}.{ns}: {e}")))?
        .ok_or_else(|| Error::Canary(format!("Canary {name}.{ns} not found")))?;
    let mut templates = Vec::new();
    let mut secrets = BTreeMap::new();
    let refs = canary
        .spec
        .analysis
        .iter()
        .flat_map(|a| a.metrics.iter())
        .filter_map(|m| m.template_ref.as_ref());
    for r in refs {
        let tns = r.namespace.clone().unwrap_or_else(|| ns.clone());
        let api: Api<MetricTemplate> = Api::namespaced(client.clone(), &tns);
        // A missing template is reported by the check that needs it, as serin does.
        let Ok(Some(t)) = api.get_opt(&r.name).await else {
            continue;
        };
        if let Some(s) = &t.spec.provider.secret_ref {
            let key = (tns.clone(), s.name.clone());
            secrets.insert(key, secret(&client, &tns, &s.name).await);
        }
        templates.push(t);
    }
    Loaded::new(canary, templates, secrets).map_err(Error::Canary)
}

async fn client(args: &BacktestArgs) -> Result<kube::Client, Error> {
    let config = match &args.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path).map_err(|e| {
                Error::Canary(format!("cannot read kubeconfig {}: {e}", path.display()))
            })?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .map_err(|e| Error::Canary(format!("kubeconfig {}: {e}", path.display())))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| Error::Canary(format!("no Kubernetes configuration found: {e}")))?,
    };
    kube::Client::try_from(config)
        .map_err(|e| Error::Canary(format!("cannot build a Kubernetes client: {e}")))
}

async fn secret(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> Result<BTreeMap<String, String>, QueryError> {
    use k8s_openapi::api::core::v1::Secret;
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    match api.get_opt(name).await {
        Ok(Some(s)) => Ok(s
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
            .collect()),
        Ok(None) => Err(QueryError::SecretNotFound {
            name: name.into(),
            namespace: ns.into(),
        }),
        Err(e) => Err(QueryError::SecretUnreadable {
            name: name.into(),
            namespace: ns.into(),
            message: e.to_string(),
        }),
    }
}

impl Loaded {
    fn new(
        canary: Canary,
        templates: Vec<MetricTemplate>,
        secrets: BTreeMap<(String, String), Result<BTreeMap<String, String>, QueryError>>,
    ) -> Result<Loaded, String> {
        let name = canary
            .metadata
            .name
            .clone()
            .ok_or("the Canary has no metadata.name")?;
        let namespace = canary.metadata.namespace.clone().unwrap_or_default();
        let target = canary.spec.target_ref.name.clone();
        Ok(Loaded {
            canary,
            name,
            namespace,
            target,
            templates,
            secrets,
        })
    }

    /// The Canary's `metricsServer`, else its first MetricTemplate's address, else serin's
    /// default.
    pub(super) fn default_prometheus(&self) -> String {
        self.canary
            .spec
            .metrics_server
            .clone()
            .or_else(|| {
                self.templates
                    .iter()
                    .find_map(|t| t.spec.provider.address.clone())
            })
            .unwrap_or_else(|| DEFAULT_PROMETHEUS.into())
    }

    /// The analysis settings serin would run the Canary with.
    pub(super) fn settings(&self, args: &BacktestArgs) -> Result<Settings, Error> {
        let mut s = Settings::from_spec(&self.canary.spec, &args.mesh_provider, args.min_interval)
            .map_err(|e: SpecError| {
                Error::Canary(format!("Canary {}.{}: {e}", self.name, self.namespace))
            })?;
        if let Some(i) = args.interval {
            s.interval = i;
        }
        Ok(s)
    }

    /// The queries of the threshold checks, rendered as serin renders them. With
    /// `replace`, every query goes to `address` (keeping its headers and credentials).
    pub(super) fn plan(&self, address: &str, replace: bool, provider: Provider) -> Vec<Planned> {
        let router = crate::router::for_provider(provider);
        let templates = |ns: &str, name: &str| self.template(ns, name);
        let secret = |ns: &str, name: &str| {
            self.secrets
                .get(&(ns.to_string(), name.to_string()))
                .cloned()
                .unwrap_or_else(|| {
                    Err(QueryError::SecretNotFound {
                        name: name.into(),
                        namespace: ns.into(),
                    })
                })
        };
        // A metric with a judge has no threshold: the judge replays it.
        let mut thresholds = self.canary.clone();
        if let Some(a) = thresholds.spec.analysis.as_mut() {
            a.metrics.retain(|m| m.judge.is_none());
        }
        let mut planned = query::plan(&thresholds, router, address, &templates, &secret);
        if replace {
            for p in &mut planned {
                if let Ok((_, ep)) = &mut p.query {
                    ep.address = address.to_string();
                }
            }
        }
        planned
    }

    /// The judges to replay: the Canary's metrics with a `judge`, or, when it has none,
    /// a what-if error-rate judge with the flags' settings; none with `--no-judge`.
    pub(super) fn judges(
        &self,
        args: &BacktestArgs,
        provider: Provider,
    ) -> Result<Vec<(Comparison, JudgeSpec)>, Error> {
        if args.no_judge {
            return Ok(Vec::new());
        }
        if self.what_if(args) {
            let config = JudgeConfig::new(args.alpha, args.margin, args.min_requests)
                .map_err(|e| Error::Args(format!("judge: {e}")))?;
            let metric = CanaryMetric {
                name: WHAT_IF.into(),
                judge: Some(MetricJudge {
                    compare: Some(JudgeCompare::ErrorRate),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let comparison = self.comparison(&metric, provider)?;
            return Ok(vec![(
                comparison,
                JudgeSpec {
                    metric: WHAT_IF.into(),
                    config,
                },
            )]);
        }
        let analysis = self.canary.spec.analysis.as_ref();
        let mut out = Vec::new();
        for m in self.metrics().filter(|m| m.judge.is_some()) {
            let Some(config) = crate::decide::evidence::judge_config(analysis, m) else {
                continue;
            };
            let config =
                config.map_err(|e| Error::Canary(format!("metric {}: judge: {e}", m.name)))?;
            out.push((
                self.comparison(m, provider)?,
                JudgeSpec {
                    metric: m.name.clone(),
                    config,
                },
            ));
        }
        Ok(out)
    }

    /// No metric of the Canary has a judge: the backtest shows what the builtin
    /// error-rate judge would have done.
    pub(super) fn what_if(&self, args: &BacktestArgs) -> bool {
        !args.no_judge && !self.metrics().any(|m| m.judge.is_some())
    }

    fn metrics(&self) -> impl Iterator<Item = &CanaryMetric> {
        self.canary
            .spec
            .analysis
            .iter()
            .flat_map(|a| a.metrics.iter())
    }

    /// The counters a metric's judge compares: the builtin ones of `compare`, or its
    /// pair of MetricTemplates rendered for each version.
    fn comparison(&self, metric: &CanaryMetric, provider: Provider) -> Result<Comparison, Error> {
        let names = crate::build::Names::of(&self.canary);
        let judge = metric.judge.clone().unwrap_or_default();
        let version = |workload: &str, version: &str| -> Result<CounterQueries, Error> {
            match (
                judge.compare,
                &judge.requests_template_ref,
                &judge.bad_template_ref,
            ) {
                (Some(JudgeCompare::ErrorRate), _, _) => {
                    Ok(error_rate(provider, &self.namespace, workload))
                }
                (Some(JudgeCompare::SlowRate), _, _) => {
                    let bound = judge.latency_bound.as_deref().unwrap_or_default();
                    let ms = crate::decide::evidence::latency_bound_ms(bound).map_err(|e| {
                        Error::Canary(format!("metric {}: judge.latencyBound: {e}", metric.name))
                    })?;
                    Ok(slow_rate(provider, &self.namespace, workload, ms))
                }
                (None, Some(requests), Some(bad)) => {
                    let mut vars = query::variables(&self.canary, metric);
                    vars.insert("workload".into(), workload.into());
                    vars.insert("version".into(), version.into());
                    let render = |r: &crate::api::TemplateRef| {
                        let ns = r
                            .namespace
                            .clone()
                            .unwrap_or_else(|| self.namespace.clone());
                        let t = self.template(&ns, &r.name).ok_or_else(|| {
                            Error::Canary(format!(
                                "metric {}: MetricTemplate {}.{ns} not found",
                                metric.name, r.name
                            ))
                        })?;
                        query::render(&t.spec.query, &vars).map_err(|e| {
                            Error::Canary(format!("metric {}: {}: {e}", metric.name, r.name))
                        })
                    };
                    Ok(CounterQueries {
                        requests: render(requests)?,
                        bad: render(bad)?,
                    })
                }
                _ => Err(Error::Canary(format!(
                    "metric {}: judge needs either compare or both requestsTemplateRef and badTemplateRef",
                    metric.name
                ))),
            }
        };
        Ok(Comparison {
            metric: metric.name.clone(),
            canary: version(&self.target, "canary")?,
            primary: version(&names.primary, "primary")?,
        })
    }

    fn template(&self, ns: &str, name: &str) -> Option<MetricTemplate> {
        self.templates
            .iter()
            .find(|t| {
                t.metadata.name.as_deref() == Some(name)
                    && t.metadata.namespace.as_deref() == Some(ns)
            })
            .cloned()
    }
}

/// Name of the judge the backtest adds to a Canary without one.
const WHAT_IF: &str = "error-rate (what if)";

fn selector(provider: Provider, namespace: &str, workload: &str) -> String {
    let reporter = match provider {
        Provider::Istio => r#"reporter="destination""#,
        Provider::GatewayApi => r#"reporter=~"destination|waypoint""#,
    };
    format!(
        "{reporter},destination_workload_namespace={},destination_workload={}",
        super::promql_string(namespace),
        super::promql_string(workload)
    )
}

/// Cumulative requests and 5xx responses of one workload, from Istio's standard metrics
/// (which the Gateway API router reads too, with waypoints as reporters).
fn error_rate(provider: Provider, namespace: &str, workload: &str) -> CounterQueries {
    let selector = selector(provider, namespace, workload);
    CounterQueries {
        requests: format!("sum(istio_requests_total{{{selector}}})"),
        // No 5xx series yet means no 5xx response yet.
        bad: format!(
            r#"sum(istio_requests_total{{{selector},response_code=~"5.*"}}) or vector(0)"#
        ),
    }
}

/// Cumulative requests and requests slower than `bound_ms` of one workload, from the
/// request-duration histogram (the bound must be one of its bucket bounds).
fn slow_rate(provider: Provider, namespace: &str, workload: &str, bound_ms: f64) -> CounterQueries {
    let selector = selector(provider, namespace, workload);
    let count = format!("sum(istio_request_duration_milliseconds_count{{{selector}}})");
    // `le` is spelled "500" by some exporters and "500.0" by others.
    let le = format!("{bound_ms}").replace('.', r"\\.");
    CounterQueries {
        requests: count.clone(),
        bad: format!(
            r#"{count} - sum(istio_request_duration_milliseconds_bucket{{{selector},le=~"{le}(\\.0+)?"}})"#
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
apiVersion: serin.dev/v1beta1
kind: Canary
metadata: {name: podinfo}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  analysis:
    interval: 30s
    threshold: 3
    stepWeight: 20
    metrics:
    - name: latency
      templateRef: {name: latency}
      thresholdRange: {max: 500}
---
apiVersion: serin.dev/v1beta1
kind: MetricTemplate
metadata: {name: latency}
spec:
  provider: {type: prometheus, address: "http://prom.monitoring:9090"}
  query: histogram_quantile(0.99, rate(x{ns="{{ namespace }}"}[{{ interval }}]))
"#;

    #[test]
    fn a_file_brings_its_templates_and_their_address() {
        let loaded = from_yaml(FILE, Some("shop")).unwrap();
        assert_eq!(
            (loaded.name.as_str(), loaded.namespace.as_str()),
            ("podinfo", "shop")
        );
        assert_eq!(loaded.default_prometheus(), "http://prom.monitoring:9090");
        let planned = loaded.plan("http://localhost:9090", false, Provider::Istio);
        let (q, ep) = planned[0].query.clone().unwrap();
        assert_eq!(q, r#"histogram_quantile(0.99, rate(x{ns="shop"}[1m]))"#);
        assert_eq!(ep.address, "http://prom.monitoring:9090");
        let replaced = loaded.plan("http://localhost:9090", true, Provider::Istio);
        assert_eq!(
            replaced[0].query.clone().unwrap().1.address,
            "http://localhost:9090"
        );
    }

    #[test]
    fn a_file_without_exactly_one_canary_is_refused() {
        assert!(
            from_yaml("kind: MetricTemplate\n", None)
                .unwrap_err()
                .contains("no Canary")
        );
        let two = format!("{FILE}\n---\n{}", FILE.split("---").next().unwrap());
        assert!(from_yaml(&two, None).unwrap_err().contains("more than one"));
        assert!(from_yaml("{{{", None).is_err());
    }

    #[test]
    fn the_judge_compares_the_target_with_its_primary() {
        let loaded = from_yaml(FILE, None).unwrap();
        let args = <BacktestArgs as clap::FromArgMatches>::from_arg_matches(
            &<crate::cli::Cli as clap::CommandFactory>::command()
                .try_get_matches_from(["serin", "backtest", "-f", "x"])
                .unwrap()
                .subcommand_matches("backtest")
                .unwrap()
                .clone(),
        )
        .unwrap();
        let judges = loaded.judges(&args, Provider::Istio).unwrap();
        let (c, spec) = &judges[0];
        assert_eq!(spec.config, JudgeConfig::default());
        assert_eq!(spec.metric, WHAT_IF);
        assert!(
            c.canary
                .requests
                .contains(r#"destination_workload="podinfo""#)
        );
        assert!(
            c.primary
                .bad
                .contains(r#"destination_workload="podinfo-primary""#)
        );
        assert!(c.primary.bad.ends_with("or vector(0)"));
    }

    const JUDGED: &str = r#"
apiVersion: serin.dev/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: shop}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  analysis:
    stepWeight: 20
    metrics:
    - name: request-success-rate
      thresholdRange: {min: 99}
    - name: errors
      judge: {compare: error-rate, alpha: 0.05}
    - name: slow
      judge: {compare: slow-rate, latencyBound: 500ms}
    - name: custom
      judge:
        requestsTemplateRef: {name: reqs}
        badTemplateRef: {name: bads}
---
apiVersion: serin.dev/v1beta1
kind: MetricTemplate
metadata: {name: reqs}
spec: {provider: {}, query: 'sum(http_total{app="{{ workload }}"})'}
---
apiVersion: serin.dev/v1beta1
kind: MetricTemplate
metadata: {name: bads}
spec: {provider: {}, query: 'sum(http_total{app="{{ workload }}",v="{{ version }}",code=~"5.."})'}
"#;

    #[test]
    fn each_judge_metric_is_replayed_with_its_own_counters_and_settings() {
        let loaded = from_yaml(JUDGED, None).unwrap();
        let args = <BacktestArgs as clap::FromArgMatches>::from_arg_matches(
            &<crate::cli::Cli as clap::CommandFactory>::command()
                .try_get_matches_from(["serin", "backtest", "-f", "x"])
                .unwrap()
                .subcommand_matches("backtest")
                .unwrap()
                .clone(),
        )
        .unwrap();
        assert!(!loaded.what_if(&args));
        let judges = loaded.judges(&args, Provider::Istio).unwrap();
        let names: Vec<_> = judges.iter().map(|(_, s)| s.metric.as_str()).collect();
        assert_eq!(names, vec!["errors", "slow", "custom"]);
        assert_eq!(judges[0].1.config.alpha(), 0.05);
        assert!(
            judges[1].0.canary.bad.contains(r#"le=~"500(\\.0+)?""#),
            "{}",
            judges[1].0.canary.bad
        );
        assert_eq!(
            judges[2].0.canary.requests,
            r#"sum(http_total{app="podinfo"})"#
        );
        assert_eq!(
            judges[2].0.primary.bad,
            r#"sum(http_total{app="podinfo-primary",v="primary",code=~"5.."})"#
        );
        // Only the threshold check is planned as a query.
        let planned = loaded.plan("http://p:9090", false, Provider::Istio);
        assert_eq!(planned.len(), 1);
        assert!(planned[0].query.is_ok());
    }
}

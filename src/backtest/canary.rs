//! The Canary a backtest replays, with what its queries need: from a YAML file (and the
//! MetricTemplates that follow it there), or from the cluster (with its MetricTemplates
//! and their Secrets). Read once, up front, so that planning the queries stays pure.

use std::collections::BTreeMap;

use kube::api::Api;

use super::replay::JudgeSpec;
use super::{BacktestArgs, Error};
use crate::api::{Canary, CanaryMetric, JudgeCompare, MetricJudge, MetricTemplate};
use crate::decide::{Provider, Settings, SpecError};
use crate::judge::JudgeConfig;
use crate::metrics::counters;
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

    /// Every metric's queries, planned by [`crate::metrics::query::plan`] as serin plans
    /// them (threshold checks, their request counts, the judges' counters), plus the
    /// what-if judge (see [`Loaded::what_if`]). With `replace`, every query goes to
    /// `address` (keeping its headers and credentials).
    pub(super) fn plan(
        &self,
        args: &BacktestArgs,
        address: &str,
        replace: bool,
        provider: Provider,
    ) -> Vec<Planned> {
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
        let mut canary = self.canary.clone();
        if args.no_judge
            && let Some(a) = canary.spec.analysis.as_mut()
        {
            a.metrics.retain(|m| m.judge.is_none());
        }
        let mut planned = query::plan(&canary, router, address, &templates, &secret);
        if self.what_if(args) {
            let metric = what_if_metric();
            let counters =
                counters::plan(&self.canary, &metric, router, address, &templates, &secret);
            planned.push(Planned {
                metric,
                query: counters.display(),
                requests: None,
                counters: Some(counters),
            });
        }
        if replace {
            for p in &mut planned {
                let queries = p
                    .counters
                    .iter_mut()
                    .flat_map(|c| c.0.iter_mut())
                    .chain(p.requests.iter_mut())
                    .chain(std::iter::once(&mut p.query));
                for (_, ep) in queries.flatten() {
                    ep.address = address.to_string();
                }
            }
        }
        planned
    }

    /// The judges to replay, in the order of their counters in `planned`: the Canary's
    /// metrics with a `judge`, or the what-if judge with the flags' settings.
    pub(super) fn judges(
        &self,
        args: &BacktestArgs,
        planned: &[Planned],
    ) -> Result<Vec<JudgeSpec>, Error> {
        let analysis = self.canary.spec.analysis.as_ref();
        let mut out = Vec::new();
        for p in planned.iter().filter(|p| p.counters.is_some()) {
            let config = if p.metric.name == WHAT_IF {
                JudgeConfig::new(args.alpha, args.margin, args.min_requests)
                    .map_err(|e| Error::Args(format!("judge: {e}")))?
            } else {
                let metric = self
                    .metrics()
                    .find(|m| m.name == p.metric.name)
                    .unwrap_or(&p.metric);
                match crate::decide::evidence::judge_config(analysis, metric) {
                    Some(Ok(c)) => c,
                    Some(Err(e)) => {
                        return Err(Error::Canary(format!(
                            "metric {}: judge: {e}",
                            p.metric.name
                        )));
                    }
                    None => continue,
                }
            };
            out.push(JudgeSpec {
                metric: p.metric.name.clone(),
                config,
            });
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

/// The what-if judge: the router's builtin error-rate counters.
fn what_if_metric() -> CanaryMetric {
    CanaryMetric {
        name: WHAT_IF.into(),
        judge: Some(MetricJudge {
            compare: Some(JudgeCompare::ErrorRate),
            ..Default::default()
        }),
        ..Default::default()
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

    fn args(extra: &[&str]) -> BacktestArgs {
        let argv = [&["serin", "backtest", "-f", "x"][..], extra].concat();
        let matches = <crate::cli::Cli as clap::CommandFactory>::command()
            .try_get_matches_from(argv)
            .unwrap();
        let sub = matches.subcommand_matches("backtest").unwrap();
        <BacktestArgs as clap::FromArgMatches>::from_arg_matches(sub).unwrap()
    }

    #[test]
    fn a_file_brings_its_templates_and_their_address() {
        let loaded = from_yaml(FILE, Some("shop")).unwrap();
        assert_eq!(
            (loaded.name.as_str(), loaded.namespace.as_str()),
            ("podinfo", "shop")
        );
        assert_eq!(loaded.default_prometheus(), "http://prom.monitoring:9090");
        let no_judge = args(&["--no-judge"]);
        let planned = loaded.plan(&no_judge, "http://localhost:9090", false, Provider::Istio);
        assert_eq!(planned.len(), 1);
        let (q, ep) = planned[0].query.clone().unwrap();
        assert_eq!(q, r#"histogram_quantile(0.99, rate(x{ns="shop"}[1m]))"#);
        assert_eq!(ep.address, "http://prom.monitoring:9090");
        let replaced = loaded.plan(&no_judge, "http://localhost:9090", true, Provider::Istio);
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
    fn a_canary_without_a_judge_gets_the_what_if_error_rate_judge() {
        let loaded = from_yaml(FILE, None).unwrap();
        let args = args(&["--alpha", "0.05"]);
        assert!(loaded.what_if(&args));
        let planned = loaded.plan(&args, "http://p:9090", false, Provider::Istio);
        let counters = planned[1].counters.as_ref().unwrap();
        let (canary_bad, _) = counters.0[1].clone().unwrap();
        assert!(
            canary_bad.contains(r#"destination_workload="podinfo""#),
            "{canary_bad}"
        );
        assert!(
            canary_bad.contains(r#"response_code=~"5.*""#),
            "{canary_bad}"
        );
        let (primary_requests, _) = counters.0[2].clone().unwrap();
        assert!(
            primary_requests.contains(r#"destination_workload="podinfo-primary""#),
            "{primary_requests}"
        );
        let judges = loaded.judges(&args, &planned).unwrap();
        assert_eq!(judges.len(), 1);
        assert_eq!(judges[0].metric, WHAT_IF);
        assert_eq!(judges[0].config.alpha(), 0.05);
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
        let args = args(&[]);
        assert!(!loaded.what_if(&args));
        let planned = loaded.plan(&args, "http://p:9090", false, Provider::Istio);
        assert_eq!(planned.len(), 3);
        assert!(planned[0].counters.is_none());
        let judges = loaded.judges(&args, &planned).unwrap();
        let names: Vec<_> = judges.iter().map(|s| s.metric.as_str()).collect();
        assert_eq!(names, vec!["errors", "custom"]);
        assert_eq!(judges[0].config.alpha(), 0.05);
        let custom = planned[2].counters.as_ref().unwrap();
        assert_eq!(
            custom.0[3].clone().unwrap().0,
            r#"sum(http_total{app="podinfo-primary",v="primary",code=~"5.."})"#
        );
        let none = loaded.plan(&args_no_judge(), "http://p:9090", false, Provider::Istio);
        assert_eq!(none.len(), 1);
    }

    fn args_no_judge() -> BacktestArgs {
        args(&["--no-judge"])
    }
}

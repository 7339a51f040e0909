//! The `Canary` kind: which Deployment to roll out progressively, how traffic reaches it,
//! and how each step is analysed. Field names and defaults are Flagger's.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::refs::TemplateRef;
use super::schema::{any_object, any_object_list, int_or_string, interval};
use super::status::CanaryStatus;
use super::webhook::{CanaryAlert, CanaryWebhook};

/// Default of `progressDeadlineSeconds`, as in Flagger.
pub const DEFAULT_PROGRESS_DEADLINE_SECONDS: i32 = 600;
/// Default analysis interval, as in Flagger.
pub const DEFAULT_INTERVAL: &str = "60s";
/// Default query window of a metric, as in Flagger.
pub const DEFAULT_METRIC_INTERVAL: &str = "1m";

/// A Canary rolls out every new revision of its target Deployment progressively: it keeps a
/// stable `<target>-primary` copy, shifts traffic to the new revision step by step while
/// checking metrics, then promotes it or rolls it back.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "serin.dev",
    version = "v1beta1",
    kind = "Canary",
    namespaced,
    status = "CanaryStatus",
    shortname = "canary",
    category = "all",
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Weight","type":"integer","jsonPath":".status.canaryWeight"}"#,
    printcolumn = r#"{"name":"FailedChecks","type":"integer","jsonPath":".status.failedChecks"}"#,
    printcolumn = r#"{"name":"LastTransitionTime","type":"string","jsonPath":".status.lastTransitionTime"}"#,
    printcolumn = r#"{"name":"Suspended","type":"boolean","jsonPath":".spec.suspend","priority":1}"#,
    printcolumn = r#"{"name":"Interval","type":"string","jsonPath":".spec.analysis.interval","priority":1}"#,
    printcolumn = r#"{"name":"StepWeight","type":"string","jsonPath":".spec.analysis.stepWeight","priority":1}"#,
    printcolumn = r#"{"name":"StepWeights","type":"string","jsonPath":".spec.analysis.stepWeights","priority":1}"#,
    printcolumn = r#"{"name":"MaxWeight","type":"string","jsonPath":".spec.analysis.maxWeight","priority":1}"#,
    printcolumn = r#"{"name":"Iterations","type":"integer","jsonPath":".status.iterations","priority":1}"#,
    printcolumn = r#"{"name":"Mirror","type":"boolean","jsonPath":".spec.analysis.mirror","priority":1}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.lastFailedCheck","priority":1}"#,
    printcolumn = r#"{"name":"Awaiting","type":"string","jsonPath":".status.awaiting.gate","priority":1}"#,
    printcolumn = r#"{"name":"PausedBy","type":"string","jsonPath":".status.paused.by","priority":1}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.service.name) || size(self.targetRef.name) <= 55 && self.targetRef.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')").message("targetRef.name also names the Services and the VirtualService, so it must be a DNS-1035 label (lower case letters, digits and '-', starting with a letter) of at most 55 characters, leaving room for -primary and -canary; otherwise set service.name"))]
pub struct CanarySpec {
    /// Service mesh or ingress that shifts the traffic; overrides `--mesh-provider`.
    /// serin implements `istio`; other Flagger providers are accepted and reported as unsupported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,

    /// Prometheus address for the builtin metrics; overrides `--metrics-server`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_server: Option<String>,

    /// The Deployment to roll out. It becomes the canary; serin creates `<name>-primary`.
    pub target_ref: TargetRef,

    /// HorizontalPodAutoscaler or KEDA ScaledObject of the target; serin keeps a copy,
    /// `<name>-primary`, that scales the primary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaler_ref: Option<super::AutoscalerRef>,

    /// NGINX Ingress reference (not supported yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_object")]
    pub ingress_ref: Option<Value>,

    /// APISIX route reference (not supported yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_object")]
    pub route_ref: Option<Value>,

    /// Gloo upstream reference (not supported yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_object")]
    pub upstream_ref: Option<Value>,

    /// Seconds each wait (canary ready, primary rollout, promotion) may last before the
    /// rollout fails; counted from when that wait began. Default 600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 2147483647))]
    pub progress_deadline_seconds: Option<i32>,

    /// Promote every new revision without analysis (readiness and deadlines still apply).
    #[serde(default)]
    pub skip_analysis: bool,

    /// Freeze the canary as it is: no step, no promotion, no rollback.
    #[serde(default)]
    pub suspend: bool,

    /// On deletion of the Canary, restore the target's replicas and any Service or
    /// VirtualService serin took over.
    #[serde(default)]
    pub revert_on_deletion: bool,

    /// How the workload is exposed: Services, DestinationRules and the VirtualService.
    pub service: CanaryService,

    /// How each step is analysed. Without it, every revision is promoted without analysis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<CanaryAnalysis>,
}

/// Reference to the target workload.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetRef {
    /// API version of the target, `apps/v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the target; serin implements `Deployment`.
    #[x_kube(validation = Rule::new("self in ['Deployment', 'DaemonSet', 'Service']").message("targetRef.kind must be Deployment, DaemonSet or Service"))]
    #[schemars(length(max = 63))]
    pub kind: String,
    /// Name of the target, in the Canary's namespace.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub name: String,
}

/// Labels and annotations put on a generated object.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
pub struct CustomMetadata {
    /// Labels to set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations to set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The Services, DestinationRules and VirtualService serin generates.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryService {
    /// Name of the apex Service and VirtualService; default the target's name. A DNS-1035
    /// label of at most 55 characters, leaving room for `-primary` and `-canary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 55),
        regex(pattern = r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub name: Option<String>,
    /// Port the Services expose.
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// Name of that port; default `http`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_name: Option<String>,
    /// Container port (number or name) the Services send to; default `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "int_or_string")]
    pub target_port: Option<Value>,
    /// Application protocol of the Services' port (e.g. `grpc`: with Gateway API, the
    /// route is then a GRPCRoute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
    /// Expose every container port (not supported yet).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub port_discovery: bool,
    /// Headless Services (not supported yet).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub headless: bool,
    /// Istio gateways of the VirtualService; default `[mesh]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    /// Hosts of the VirtualService; the apex name is always added.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Istio HTTPMatchRequest list of the route.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_object_list")]
    pub match_: Option<Value>,
    /// Istio HTTPRetry of the route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_object")]
    pub retries: Option<Value>,
    /// Timeout of the route, e.g. `30s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Timeout of one request from the gateway to a backend, e.g. `10s` (Gateway API
    /// `timeouts.backendRequest`; provider `gatewayapi:v1` only, as in Flagger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_timeout: Option<String>,
    /// Istio Headers operations of the route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_object")]
    pub headers: Option<Value>,
    /// Istio CorsPolicy of the route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_object")]
    pub cors_policy: Option<Value>,
    /// Istio TrafficPolicy of the DestinationRules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_object")]
    pub traffic_policy: Option<Value>,
    /// Istio HTTPRewrite of the route (`uri`, `authority`; with Gateway API also `type`:
    /// `ReplacePrefixMatch`, else the full path is replaced, as in Flagger). Not supported
    /// yet by the Istio router.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_object")]
    pub rewrite: Option<Value>,
    /// Istio delegate VirtualService (not supported yet).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delegation: bool,
    /// Gateway API parents of the HTTPRoute or GRPCRoute (provider `gatewayapi:v1`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub gateway_refs: Vec<super::GatewayRef>,
    /// Gateway API RequestMirror filters (`backendRef`: `name`, `namespace`, `port`,
    /// `group`, `kind`) added to the route (provider `gatewayapi:v1`; not supported by the
    /// Istio router yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_object_list")]
    pub mirror: Option<Value>,
    /// Keys of labels and annotations serin leaves alone (not supported yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_object")]
    pub unmanaged_metadata: Option<Value>,
    /// Metadata of the apex Service (and of the VirtualService).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apex: Option<CustomMetadata>,
    /// Metadata of the `-primary` Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<CustomMetadata>,
    /// Metadata of the `-canary` Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CustomMetadata>,
}

/// The analysis schedule.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.stepWeight) && self.stepWeight > 0 || has(self.stepWeights) && size(self.stepWeights) > 0 || has(self.iterations) && self.iterations > 0").message("analysis needs stepWeight > 0, stepWeights or iterations"))]
#[x_kube(validation = Rule::new("!has(self.stepWeights) || self.stepWeights.isSorted()").message("stepWeights must be increasing"))]
#[x_kube(validation = Rule::new("!has(self.maxWeight) || !has(self.stepWeight) || self.stepWeight <= self.maxWeight").message("stepWeight must not exceed maxWeight"))]
pub struct CanaryAnalysis {
    /// Time between two steps, e.g. `1m`. Default 60s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "interval")]
    pub interval: Option<String>,
    /// Failed checks after which the rollout is rolled back. Default 1 when unset or 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 2147483647))]
    pub threshold: Option<i32>,
    /// serin: consecutive checks whose query errored (metrics server unreachable, query
    /// refused) after which the rollout is rolled back; default 5. Such checks hold the
    /// step without counting as failed checks; the rollout is also rolled back once
    /// `progressDeadlineSeconds` passed since the first of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub metric_error_limit: Option<i32>,
    /// serin: count errored checks as failed checks, as Flagger does (a metrics outage
    /// then rolls back healthy releases after `threshold` checks).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub metric_errors_as_failures: bool,
    /// serin: canary requests a metric check's window must hold before its verdict
    /// counts; with fewer, the check is `Insufficient` and the step holds (at most
    /// `progressDeadlineSeconds`). Default 0 for threshold checks (Flagger's behaviour)
    /// and 100 for the judge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000000000))]
    pub min_requests: Option<i64>,
    /// Largest canary weight before promotion. Default 100 (or the last of `stepWeights`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub max_weight: Option<i32>,
    /// Weight added at each step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub step_weight: Option<i32>,
    /// Absolute weights of the steps, increasing (takes precedence over `stepWeight`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.all(w, w >= 1 && w <= 100)").message("stepWeights must be between 1 and 100"))]
    #[schemars(length(max = 100), extend("x-kubernetes-list-type" = "set"))]
    pub step_weights: Option<Vec<i32>>,
    /// Weight moved back to the primary per step during promotion; 0 means all at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub step_weight_promotion: Option<i32>,
    /// Number of checks of an A/B testing (with `match`) or blue/green run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 2147483647))]
    pub iterations: Option<i32>,
    /// A/B testing: Istio HTTPMatchRequests whose requests go to the canary (at most 16).
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub match_: Option<Vec<super::http_match::HttpMatchRequest>>,
    /// Blue/green: mirror the primary's requests to the canary during the iterations.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mirror: bool,
    /// Percent of the primary's requests mirrored; default 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub mirror_weight: Option<i32>,
    /// Percent of the primary's updated replicas that must be available; default 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub primary_ready_threshold: Option<i32>,
    /// Percent of the canary's updated replicas that must be available; default 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub canary_ready_threshold: Option<i32>,
    /// Cookie-based session affinity of the weighted canary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_affinity: Option<super::session_affinity::SessionAffinity>,
    /// Metric checks run at every step (at most 32).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub metrics: Vec<CanaryMetric>,
    /// Webhooks called at points of the rollout: gates, load tests, event sinks (at most 32).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub webhooks: Vec<CanaryWebhook>,
    /// Alert destinations, each an AlertProvider with a least severity (at most 16).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub alerts: Vec<CanaryAlert>,
    /// serin: gates that wait for a person's approval (`kubectl serin approve`, a
    /// CanaryAction) without any webhook: `confirm-rollout`, `confirm-traffic-increase`,
    /// `confirm-promotion`. Each is opened per revision (per step for a traffic increase).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 3))]
    pub manual_approval: Vec<super::ManualGate>,
}

/// One metric check.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.templateRef) || self.name in ['request-success-rate', 'request-duration'] || has(self.query) || has(self.judge)").message("a metric needs a templateRef unless it is the builtin request-success-rate or request-duration, or has a judge"))]
#[x_kube(validation = Rule::new("!has(self.judge) || !has(self.templateRef) && !has(self.query) && !has(self.thresholdRange) && !has(self.threshold)").message("a metric with a judge takes no templateRef, query, thresholdRange or threshold: the judge compares the canary with the primary"))]
pub struct CanaryMetric {
    /// Name of the metric; `request-success-rate` and `request-duration` are builtin.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Query window, e.g. `1m`. Default 1m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "interval")]
    pub interval: Option<String>,
    /// Accepted range of the value; request-duration is in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_range: Option<ThresholdRange>,
    /// Deprecated single threshold: a minimum for request-success-rate, a maximum otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Deprecated inline PromQL query against the global metrics server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// MetricTemplate that holds the query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_ref: Option<TemplateRef>,
    /// Values for `{{ variables.X }}` in the template's query.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub template_variables: BTreeMap<String, String>,
    /// serin: how the check takes part in the decision: `gate` (default), `hold` or
    /// `observe`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<super::MetricMode>,
    /// serin: canary requests the check's window must hold before its verdict counts;
    /// overrides `analysis.minRequests`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000000000))]
    pub min_requests: Option<i64>,
    /// serin: compare the canary with the primary sequentially instead of with a threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<super::MetricJudge>,
}

/// Accepted range of a metric value.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("has(self.min) || has(self.max)").message("thresholdRange needs min or max"))]
#[x_kube(validation = Rule::new("!has(self.min) || !has(self.max) || self.min <= self.max").message("thresholdRange min must not exceed max"))]
pub struct ThresholdRange {
    /// Smallest accepted value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Largest accepted value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

//! serin's own metric fields (none of them exists in Flagger, so a Flagger manifest
//! means what it meant): how a metric takes part in the decision (`mode`), how many
//! canary requests a check needs before it may decide (`minRequests`), and the evidence
//! judge (`judge`), which compares the canary with the live primary sequentially.
//! The method is in docs/judge.md; the statistics in `crate::judge`.

use serde::{Deserialize, Serialize};

use super::refs::TemplateRef;

/// Largest `minRequests`: a billion requests per check is more than any service serves
/// in one interval, and keeps the number exact wherever it is used.
pub const MAX_MIN_REQUESTS: i64 = 1_000_000_000;

/// serin: how a metric takes part in the decision.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum MetricMode {
    /// A failed check counts towards `threshold` (Flagger's behaviour; the default).
    #[default]
    Gate,
    /// A failed check holds the step (no weight increase) without counting towards
    /// `threshold`; the hold is bounded by `progressDeadlineSeconds`.
    Hold,
    /// Measured and reported in status and events, never decides (a dry run).
    Observe,
}

impl MetricMode {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricMode::Gate => "gate",
            MetricMode::Hold => "hold",
            MetricMode::Observe => "observe",
        }
    }
}

/// What the builtin comparison counts as a bad event.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum JudgeCompare {
    /// Responses with a 5xx status code, out of all requests.
    #[serde(rename = "error-rate")]
    ErrorRate,
    /// Requests slower than `latencyBound`, read from the request-duration histogram.
    #[serde(rename = "slow-rate")]
    SlowRate,
}

impl JudgeCompare {
    pub fn as_str(self) -> &'static str {
        match self {
            JudgeCompare::ErrorRate => "error-rate",
            JudgeCompare::SlowRate => "slow-rate",
        }
    }
}

/// serin: the evidence judge of a metric. At each step it reads the cumulative request
/// and bad-event counters of the canary and of the primary, and tests sequentially
/// whether the canary's bad-event rate exceeds the primary's. Either `compare` (the
/// router's builtin counters) or both `requestsTemplateRef` and `badTemplateRef`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, kube::KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.compare) != (has(self.requestsTemplateRef) && has(self.badTemplateRef))").message("judge needs either compare or both requestsTemplateRef and badTemplateRef"))]
#[x_kube(validation = Rule::new("has(self.requestsTemplateRef) == has(self.badTemplateRef)").message("judge.requestsTemplateRef and judge.badTemplateRef go together"))]
#[x_kube(validation = Rule::new("!has(self.compare) || self.compare != 'slow-rate' || has(self.latencyBound)").message("judge.latencyBound is required with compare: slow-rate"))]
pub struct MetricJudge {
    /// Builtin comparison: `error-rate` (5xx responses) or `slow-rate` (requests slower
    /// than `latencyBound`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare: Option<JudgeCompare>,
    /// Bound on the probability of a wrong abort (and of a wrong early promotion),
    /// whatever the number of looks; the judge acts when its evidence reaches 1/alpha.
    /// Between 0 and 0.5 (exclusive); default 0.01.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 0.5), extend("exclusiveMinimum" = true, "exclusiveMaximum" = true))]
    pub alpha: Option<f64>,
    /// Tolerated margin δ: a canary whose bad-event rate is below (1 + δ) times the
    /// primary's may be promoted early. From 0 to 15; default 0.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 15.0))]
    pub margin: Option<f64>,
    /// With `compare: slow-rate`: a request slower than this is a bad event, e.g.
    /// `500ms`. It must be a bucket bound of the request-duration histogram (Istio's
    /// defaults: 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000 ms, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::schema::interval")]
    pub latency_bound: Option<String>,
    /// Promote as soon as the evidence that the canary is within the margin reaches
    /// 1/alpha (the remaining steps are skipped). Default false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub early_promotion: bool,
    /// Roll back as soon as the evidence that the canary is worse than the primary
    /// reaches 1/alpha. Default false: the check then fails (and counts towards
    /// `threshold` in `gate` mode).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub early_abort: bool,
    /// MetricTemplate whose query returns the cumulative request counter of one version;
    /// `{{ workload }}` is `<target>` for the canary and `<target>-primary` for the
    /// primary, `{{ version }}` is `canary` or `primary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_template_ref: Option<TemplateRef>,
    /// MetricTemplate whose query returns the cumulative bad-event counter of one
    /// version, with the same variables as `requestsTemplateRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bad_template_ref: Option<TemplateRef>,
}

/// serin: what the evidence checks of the current run found so far.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceStatus {
    /// Since when the step has held for want of canary requests (a check was
    /// `Insufficient`); the hold ends in a rollback once `progressDeadlineSeconds` passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insufficient_since: Option<chrono::DateTime<chrono::Utc>>,
    /// One entry per metric with a judge.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub judges: Vec<JudgeStatus>,
}

/// serin: the evidence judge of one metric, kept so that a restart resumes the same test.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JudgeStatus {
    /// Metric name.
    pub name: String,
    /// Revision (`lastAppliedSpec`) the evidence is about; another revision starts afresh.
    pub revision: String,
    /// Last verdict: `Insufficient`, `Continue`, `Abort` or `Promote`.
    pub verdict: String,
    /// The verdict in words, with its numbers.
    pub message: String,
    /// Evidence that the canary is worse than the primary (abort at `bar`).
    pub abort_evidence: f64,
    /// Evidence that the canary is within the margin (early promotion at `bar`).
    pub promote_evidence: f64,
    /// 1/alpha: the evidence at which the judge acts.
    pub bar: f64,
    /// Estimate of the canary's bad-event rate over the primary's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    /// Lower bound on the ratio, valid at every look (confidence 1 - alpha).
    pub ratio_lower: f64,
    /// Upper bound on the ratio, if the data bound it yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio_upper: Option<f64>,
    /// Counters since the judge started, and the e-processes' state.
    pub state: crate::judge::JudgeState,
}

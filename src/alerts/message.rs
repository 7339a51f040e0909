//! The content of an alert and its recipients.

use crate::api::{AlertSeverity, CanaryAlert, CanarySpec, DEFAULT_PROGRESS_DEADLINE_SECONDS};

/// Flagger's alert messages, so that people (and their chat filters) see the same words.
pub mod messages {
    pub const NEW_REVISION: &str = "New revision detected, progressing canary analysis.";
    pub const SUCCEEDED: &str = "Canary analysis completed successfully, promotion finished.";
    pub const SKIPPED: &str = "Canary analysis was skipped, promotion finished.";
    pub const WAITING_APPROVAL: &str = "Canary is waiting for approval.";
    pub const WAITING_TRAFFIC: &str = "Canary traffic increase is waiting for approval.";
    pub const WAITING_PROMOTION: &str = "Canary promotion is waiting for approval.";
    pub const MANUAL_ROLLBACK: &str = "Rolling back manual webhook invoked";

    /// "New Deployment detected, initialization completed."
    pub fn initialized(kind: &str) -> String {
        format!("New {kind} detected, initialization completed.")
    }

    /// "Failed checks threshold reached 5"
    pub fn threshold_reached(failed_checks: i32) -> String {
        format!("Failed checks threshold reached {failed_checks}")
    }

    /// "Progress deadline exceeded <why>"
    pub fn deadline_exceeded(why: &str) -> String {
        format!("Progress deadline exceeded {why}")
    }

    /// "Promotion failed, primary not ready: <why>"
    pub fn promotion_failed(why: &str) -> String {
        format!("Promotion failed, primary not ready: {why}")
    }
}

/// A name and value shown under the message.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub name: String,
    pub value: String,
}

impl Field {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Field {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// One alert about one Canary.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// Name of the Canary (Flagger calls it the workload).
    pub workload: String,
    pub namespace: String,
    pub message: String,
    pub fields: Vec<Field>,
    pub severity: AlertSeverity,
}

/// The numbers behind a failed check, which Flagger's alerts leave out.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// Name of the metric (or webhook) that failed.
    pub metric: String,
    /// Its value; none when the query returned no data.
    pub value: Option<f64>,
    /// Accepted range.
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Verdict {
    /// `Metric`, `Value` and `Threshold` fields, e.g. `request-success-rate`, `91.5`,
    /// `>= 99`.
    pub fn fields(&self) -> Vec<Field> {
        let value = self.value.map_or_else(|| "no data".to_owned(), number);
        let threshold = match (self.min, self.max) {
            (Some(min), Some(max)) => format!("{} to {}", number(min), number(max)),
            (Some(min), None) => format!(">= {}", number(min)),
            (None, Some(max)) => format!("<= {}", number(max)),
            (None, None) => "none".to_owned(),
        };
        vec![
            Field::new("Metric", &self.metric),
            Field::new("Value", value),
            Field::new("Threshold", threshold),
        ]
    }
}

/// Numbers as people write them: `99`, `91.5`, `0.123`, never `99.0` or 17 digits.
fn number(n: f64) -> String {
    let rounded = (n * 1000.0).round() / 1000.0;
    format!("{rounded}")
}

/// Flagger's metadata fields of a Canary: Target, Failed checks threshold, Progress
/// deadline and Traffic routing. Unlike Flagger, the max weight shown is the one in
/// effect (100 when unset), not the raw field.
pub fn metadata_fields(spec: &CanarySpec, namespace: &str) -> Vec<Field> {
    let target = &spec.target_ref;
    let analysis = spec.analysis.clone().unwrap_or_default();
    let threshold = analysis.threshold.filter(|t| *t > 0).unwrap_or(1);
    let deadline = spec
        .progress_deadline_seconds
        .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECONDS);
    let mut fields = vec![
        Field::new(
            "Target",
            format!("{}/{}.{namespace}", target.kind, target.name),
        ),
        Field::new("Failed checks threshold", threshold.to_string()),
        Field::new("Progress deadline", format!("{deadline}s")),
    ];
    let iterations = analysis.iterations.unwrap_or(0) > 0;
    let matches = analysis.match_.as_ref().is_some_and(|m| !m.is_empty());
    let steps = analysis.step_weights.clone().unwrap_or_default();
    let max = analysis.max_weight.or(steps.last().copied()).unwrap_or(100);
    let routing = if iterations && matches {
        Some("A/B Testing".to_owned())
    } else if iterations {
        Some("Blue/Green".to_owned())
    } else if let Some(step) = analysis.step_weight.filter(|s| *s > 0) {
        Some(format!("Weight step: {step} max: {max}"))
    } else if !steps.is_empty() {
        let list: Vec<String> = steps.iter().map(i32::to_string).collect();
        Some(format!("Weight steps: {} max: {max}", list.join(",")))
    } else {
        None
    };
    if let Some(routing) = routing {
        fields.push(Field::new("Traffic routing", routing));
    }
    fields
}

/// Whether an alert subscribed at `subscribed` receives one of `severity`: info receives
/// everything, warn receives warn and error, error only error (as Flagger).
pub fn receives(subscribed: AlertSeverity, severity: AlertSeverity) -> bool {
    severity >= subscribed
}

/// The Canary's alerts that receive an alert of `severity`.
pub fn recipients(
    alerts: &[CanaryAlert],
    severity: AlertSeverity,
) -> impl Iterator<Item = &CanaryAlert> {
    alerts
        .iter()
        .filter(move |a| receives(a.severity, severity))
}

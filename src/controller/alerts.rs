//! Alerts: turns the events of a recorded decision into `analysis.alerts` notifications.
//!
//! Which events alert, and at which severity, is Flagger's choice (new revision, waiting
//! for approval, promotion as info; every rollback and failure as error), plus every
//! failure Flagger keeps silent about. Delivery runs in a spawned task, at most
//! [`MAX_IN_FLIGHT`] at once: an alert never delays a reconcile, and when too many are
//! in flight a new one is logged and dropped instead of queueing without bound. The
//! AlertProvider and its Secret are read when the alert is sent, so a rotated address is
//! picked up without a restart.

use std::sync::{Arc, LazyLock};

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use tokio::sync::Semaphore;

use super::Ctx;
use crate::alerts::{self, Alert, AlertSender, messages};
use crate::api::{
    AlertProvider, AlertSeverity, Canary, CanaryAlert, CanaryStatus, Verdict, reasons,
};
use crate::decide::{Decision, Note};

/// Alert deliveries in flight across all Canaries.
const MAX_IN_FLIGHT: usize = 32;

static IN_FLIGHT: LazyLock<Arc<Semaphore>> =
    LazyLock::new(|| Arc::new(Semaphore::new(MAX_IN_FLIGHT)));

/// The alert an event gives, if any: its severity and Flagger's message.
pub(crate) fn alert_for(note: &Note) -> Option<(AlertSeverity, String)> {
    let m = &note.message;
    let info = |text: &str| Some((AlertSeverity::Info, text.to_string()));
    match note.reason {
        reasons::NEW_REVISION => info(messages::NEW_REVISION),
        reasons::SUCCEEDED if m.contains("skipped") => info(messages::SKIPPED),
        reasons::SUCCEEDED => info(messages::SUCCEEDED),
        reasons::WAITING if m.contains("traffic increase") => info(messages::WAITING_TRAFFIC),
        reasons::WAITING if m.contains("promotion") => info(messages::WAITING_PROMOTION),
        reasons::WAITING => info(messages::WAITING_APPROVAL),
        reasons::ROLLBACK if m.contains("manual webhook invoked") => {
            Some((AlertSeverity::Error, messages::MANUAL_ROLLBACK.to_string()))
        }
        reasons::ROLLBACK
        | reasons::PROMOTION_FAILED
        | reasons::PRIMARY_NOT_READY
        | reasons::WEBHOOK_FAILED => Some((AlertSeverity::Error, m.clone())),
        _ => None,
    }
}

/// The numbers behind a rollback for failed checks: each metric of the decided status
/// that did not pass (`Metric`, `Value`, `Threshold`). Other alerts get none: their cause
/// is not a metric.
pub(crate) fn verdict_fields(note: &Note, status: &CanaryStatus) -> Vec<alerts::Field> {
    if note.reason != reasons::ROLLBACK || !note.message.contains("failed checks threshold") {
        return Vec::new();
    }
    status
        .metrics
        .iter()
        .filter(|m| m.verdict != Verdict::Pass)
        .flat_map(|m| {
            alerts::Verdict {
                metric: m.name.clone(),
                value: m.value,
                min: m.min,
                max: m.max,
            }
            .fields()
        })
        .collect()
}

/// Sends the alerts the decision's events call for, in the background.
pub(super) fn notify(canary: &Canary, ctx: &Ctx, decision: &Decision) {
    let events = decision.events.as_slice();
    let Some(analysis) = &canary.spec.analysis else {
        return;
    };
    if analysis.alerts.is_empty() {
        global(canary, ctx, decision);
        return;
    }
    let namespace = canary.namespace().unwrap_or_default();
    let muted = |note: &&Note| {
        analysis.webhooks.iter().any(|h| {
            h.mute_alert
                && note.reason == reasons::WEBHOOK_FAILED
                && note.message.contains(&format!(" hook {} failed", h.name))
        })
    };
    for note in events.iter().filter(|n| !muted(n)) {
        let Some((severity, message)) = alert_for(note) else {
            continue;
        };
        let recipients: Vec<CanaryAlert> = alerts::recipients(&analysis.alerts, severity)
            .cloned()
            .collect();
        if recipients.is_empty() {
            continue;
        }
        let Ok(permit) = IN_FLIGHT.clone().try_acquire_owned() else {
            tracing::warn!(%message, "too many alerts in flight; alert dropped");
            continue;
        };
        let mut fields = fields(canary, ctx, &namespace);
        fields.extend(verdict_fields(note, &decision.status));
        let alert = Alert {
            workload: canary.spec.target_ref.name.clone(),
            namespace: namespace.clone(),
            message,
            fields,
            severity,
        };
        let (client, sender) = (ctx.client.clone(), ctx.config.alerts.clone());
        let namespace = namespace.clone();
        tokio::spawn(async move {
            for to in recipients {
                deliver(&client, &sender, &namespace, &to, &alert).await;
            }
            drop(permit);
        });
    }
}

fn fields(canary: &Canary, ctx: &Ctx, namespace: &str) -> Vec<alerts::Field> {
    let mut fields = alerts::metadata_fields(&canary.spec, namespace);
    if let Some(cluster) = &ctx.config.cluster_name {
        fields.push(alerts::Field::new("Cluster", cluster));
    }
    fields
}

/// Every alert to the providers of the global flags, for a Canary with no alerts of its
/// own (its own alerts override them, as in Flagger).
fn global(canary: &Canary, ctx: &Ctx, decision: &Decision) {
    if ctx.config.global_alerts.is_empty() {
        return;
    }
    let namespace = canary.namespace().unwrap_or_default();
    for note in &decision.events {
        let Some((severity, message)) = alert_for(note) else {
            continue;
        };
        let Ok(permit) = IN_FLIGHT.clone().try_acquire_owned() else {
            tracing::warn!(%message, "too many alerts in flight; alert dropped");
            continue;
        };
        let mut fields = fields(canary, ctx, &namespace);
        fields.extend(verdict_fields(note, &decision.status));
        let alert = Alert {
            workload: canary.spec.target_ref.name.clone(),
            namespace: namespace.clone(),
            message,
            fields,
            severity,
        };
        let (providers, sender) = (ctx.config.global_alerts.clone(), ctx.config.alerts.clone());
        tokio::spawn(async move {
            for spec in providers {
                let address = spec.address.clone().unwrap_or_default();
                match alerts::delivery(&spec, &address, None, &alert) {
                    Ok(delivery) => {
                        sender.send(&delivery).await;
                    }
                    Err(error) => tracing::warn!(%error, "global alert dropped"),
                }
            }
            drop(permit);
        });
    }
}

async fn deliver(
    client: &kube::Client,
    sender: &AlertSender,
    namespace: &str,
    to: &CanaryAlert,
    alert: &Alert,
) {
    let ns = to.provider_ref.namespace.as_deref().unwrap_or(namespace);
    let name = &to.provider_ref.name;
    let provider = match Api::<AlertProvider>::namespaced(client.clone(), ns)
        .get(name)
        .await
    {
        Ok(p) => p,
        Err(error) => {
            tracing::warn!(alert = %to.name, provider = %name, %error, "cannot read the AlertProvider; alert dropped");
            return;
        }
    };
    let (address, token) = match address(client, ns, &provider).await {
        Ok(found) => found,
        Err(error) => {
            tracing::warn!(alert = %to.name, provider = %name, %error, "alert dropped");
            return;
        }
    };
    match alerts::delivery(&provider.spec, &address, token.as_deref(), alert) {
        Ok(delivery) => {
            sender.send(&delivery).await;
        }
        Err(error) => {
            tracing::warn!(alert = %to.name, provider = %name, %error, "alert dropped");
        }
    }
}

/// The provider's address and token: from its spec, or from its Secret's `address` and
/// `token` keys.
async fn address(
    client: &kube::Client,
    ns: &str,
    provider: &AlertProvider,
) -> Result<(String, Option<String>), String> {
    let Some(secret_ref) = &provider.spec.secret_ref else {
        let address = provider.spec.address.clone().unwrap_or_default();
        return Ok((address, None));
    };
    let secret = Api::<Secret>::namespaced(client.clone(), ns)
        .get(&secret_ref.name)
        .await
        .map_err(|e| format!("cannot read Secret {ns}/{}: {e}", secret_ref.name))?;
    let data = secret.data.unwrap_or_default();
    let key = |k: &str| {
        data.get(k)
            .map(|v| String::from_utf8_lossy(&v.0).trim().to_string())
    };
    let address = key("address")
        .or_else(|| provider.spec.address.clone())
        .ok_or_else(|| format!("Secret {ns}/{} has no key address", secret_ref.name))?;
    Ok((address, key("token")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(warning: bool, reason: &'static str, message: &str) -> Note {
        Note {
            warning,
            reason,
            message: message.into(),
        }
    }

    #[test]
    fn flagger_transitions_alert_at_their_severity_and_every_failure_is_an_error() {
        let cases = [
            (
                reasons::NEW_REVISION,
                "New revision detected! Scaling up podinfo.test",
                Some(AlertSeverity::Info),
            ),
            (
                reasons::SUCCEEDED,
                "Promotion completed! Scaling down podinfo.test",
                Some(AlertSeverity::Info),
            ),
            (
                reasons::WAITING,
                "Halt podinfo.test advancement waiting for promotion approval: …",
                Some(AlertSeverity::Info),
            ),
            (
                reasons::ROLLBACK,
                "Rolling back podinfo.test failed checks threshold reached 3",
                Some(AlertSeverity::Error),
            ),
            (
                reasons::PROMOTION_FAILED,
                "Promotion of podinfo.test failed",
                Some(AlertSeverity::Error),
            ),
            (
                reasons::WEBHOOK_FAILED,
                "post-rollout hook n failed: HTTP 500",
                Some(AlertSeverity::Error),
            ),
            (
                reasons::ADVANCE,
                "Advance podinfo.test canary weight 20",
                None,
            ),
            (
                reasons::FAILED,
                "Canary failed! Scaling down podinfo.test",
                None,
            ),
        ];
        for (reason, message, severity) in cases {
            let got = alert_for(&note(false, reason, message)).map(|(s, _)| s);
            assert_eq!(got, severity, "{reason}: {message}");
        }
        let (_, text) = alert_for(&note(
            true,
            reasons::ROLLBACK,
            "Rolling back podinfo.test manual webhook invoked",
        ))
        .unwrap();
        assert_eq!(text, messages::MANUAL_ROLLBACK);
    }

    #[test]
    fn a_rollback_for_failed_checks_names_the_failing_metric_with_its_numbers() {
        let check = |name: &str, value: Option<f64>, verdict: Verdict| crate::api::MetricStatus {
            name: name.into(),
            value,
            min: Some(99.0),
            max: None,
            verdict,
            query: "q".into(),
            message: None,
            checked_at: chrono::DateTime::UNIX_EPOCH,
            mode: None,
            requests_seen: None,
            requests_needed: None,
        };
        let status = CanaryStatus {
            metrics: vec![
                check("request-success-rate", Some(91.5), Verdict::Fail),
                check("latency", Some(120.0), Verdict::Pass),
                check("errors", None, Verdict::NoData),
            ],
            ..CanaryStatus::default()
        };
        let rollback = note(
            true,
            reasons::ROLLBACK,
            "Rolling back podinfo.test failed checks threshold reached 3",
        );
        let fields: Vec<(String, String)> = verdict_fields(&rollback, &status)
            .into_iter()
            .map(|f| (f.name, f.value))
            .collect();
        let pair = |n: &str, v: &str| (n.to_string(), v.to_string());
        assert_eq!(
            fields,
            [
                pair("Metric", "request-success-rate"),
                pair("Value", "91.5"),
                pair("Threshold", ">= 99"),
                pair("Metric", "errors"),
                pair("Value", "no data"),
                pair("Threshold", ">= 99"),
            ]
        );
        let manual = note(
            true,
            reasons::ROLLBACK,
            "Rolling back podinfo.test manual webhook invoked",
        );
        assert!(verdict_fields(&manual, &status).is_empty());
    }
}

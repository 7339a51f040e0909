//! `analysis.webhooks[]` and `analysis.alerts[]` of a Canary, typed as Flagger's
//! `CanaryWebhook` and `CanaryAlert` so that a Flagger manifest keeps its meaning.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::duration::parse_duration;
use super::refs::TemplateRef;
use super::schema::{alert_severity, hook_timeout, hook_type};

/// Timeout of a webhook call when `timeout` is unset, as in Flagger.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest timeout the schema accepts (see [`super::schema::hook_timeout`]).
pub const MAX_HOOK_TIMEOUT: Duration = Duration::from_secs(3600);
/// Most retries of one webhook call; more would only delay the verdict.
pub const MAX_HOOK_RETRIES: i32 = 10;

/// When a webhook runs and what its answer means.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum HookType {
    /// Before a new revision is scaled up; a closed gate keeps the Canary Waiting.
    ConfirmRollout,
    /// Before traffic shifts to the canary; a failure counts as a failed check.
    PreRollout,
    /// At every analysis step, like a metric check. Flagger's empty type means this.
    #[default]
    #[serde(alias = "")]
    Rollout,
    /// Before each weight increase; closed holds the weight where it is.
    ConfirmTrafficIncrease,
    /// Before promotion; closed keeps the Canary WaitingPromotion.
    ConfirmPromotion,
    /// After the rollout Succeeded or Failed, with that phase.
    PostRollout,
    /// Any success while the rollout is under way rolls it back.
    Rollback,
    /// Receives every event of the Canary.
    Event,
}

impl HookType {
    /// The name used in the API and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            HookType::ConfirmRollout => "confirm-rollout",
            HookType::PreRollout => "pre-rollout",
            HookType::Rollout => "rollout",
            HookType::ConfirmTrafficIncrease => "confirm-traffic-increase",
            HookType::ConfirmPromotion => "confirm-promotion",
            HookType::PostRollout => "post-rollout",
            HookType::Rollback => "rollback",
            HookType::Event => "event",
        }
    }
}

/// An HTTP call made at a point of the rollout (Flagger's `CanaryWebhook`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryWebhook {
    /// Name of the webhook, used in events and status.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// When it runs: confirm-rollout, pre-rollout, rollout (also the empty string),
    /// confirm-traffic-increase, confirm-promotion, post-rollout, rollback or event.
    #[serde(default, rename = "type")]
    #[schemars(schema_with = "hook_type")]
    pub type_: HookType,
    /// Address the payload is POSTed to.
    #[x_kube(validation = Rule::new("self.startsWith('http://') || self.startsWith('https://')").message("webhook url must start with http:// or https://"))]
    #[schemars(length(min = 1, max = 2048))]
    pub url: String,
    /// Time one attempt may take, e.g. `30s`; default 10s, at most 1h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "hook_timeout")]
    pub timeout: Option<String>,
    /// Further attempts after a failed one (with backoff); default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10))]
    pub retries: Option<i32>,
    /// Accept any TLS certificate of the webhook's server.
    #[serde(
        default,
        rename = "disableTLS",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub disable_tls: bool,
    /// Send no alert for this webhook's failures.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mute_alert: bool,
    /// Key-value pairs sent in the payload's `metadata` (at most 64), e.g. the
    /// loadtester's `type` and `cmd`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 64))]
    pub metadata: BTreeMap<String, String>,
}

impl CanaryWebhook {
    /// Time one attempt may take. Flagger treats a timeout shorter than two characters
    /// as unset; a value the schema would refuse also falls back to the default, and
    /// anything beyond [`MAX_HOOK_TIMEOUT`] is capped, so a call is always bounded.
    pub fn timeout(&self) -> Duration {
        self.timeout
            .as_deref()
            .filter(|t| t.len() >= 2)
            .and_then(|t| parse_duration(t).ok())
            .filter(|t| !t.is_zero())
            .map_or(DEFAULT_HOOK_TIMEOUT, |t| t.min(MAX_HOOK_TIMEOUT))
    }

    /// Further attempts after a failed one, within `0..=MAX_HOOK_RETRIES`.
    pub fn retries(&self) -> u32 {
        self.retries.unwrap_or(0).clamp(0, MAX_HOOK_RETRIES) as u32
    }
}

/// Which alerts a provider receives.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
#[serde(rename_all = "lowercase")]
pub enum AlertSeverity {
    /// Everything. Flagger's empty severity means this.
    #[default]
    #[serde(alias = "")]
    Info,
    /// Warnings and errors.
    Warn,
    /// Errors only.
    Error,
}

impl AlertSeverity {
    /// The name used in the API and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertSeverity::Info => "info",
            AlertSeverity::Warn => "warn",
            AlertSeverity::Error => "error",
        }
    }
}

/// An alert destination of a Canary (Flagger's `CanaryAlert`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryAlert {
    /// Name of the alert.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Least severity sent: info (everything, the default), warn or error.
    #[serde(default)]
    #[schemars(schema_with = "alert_severity")]
    pub severity: AlertSeverity,
    /// The AlertProvider; namespace defaults to the Canary's.
    pub provider_ref: TemplateRef,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flagger_webhook_parses_with_its_defaults() {
        let hook: CanaryWebhook = serde_json::from_value(json!({
            "name": "load", "url": "http://flagger-loadtester.test/", "type": "",
            "timeout": "5s", "retries": 3, "disableTLS": true, "muteAlert": true,
            "metadata": {"type": "cmd", "cmd": "hey -z 1m http://podinfo-canary.test:9898/"}
        }))
        .unwrap();
        assert_eq!(hook.type_, HookType::Rollout);
        assert_eq!(hook.timeout(), Duration::from_secs(5));
        assert_eq!(hook.retries(), 3);
        assert!(hook.disable_tls && hook.mute_alert);
        assert_eq!(hook.metadata["type"], "cmd");

        let bare: CanaryWebhook =
            serde_json::from_value(json!({"name": "gate", "url": "http://x/"})).unwrap();
        assert_eq!(bare.type_, HookType::Rollout);
        assert_eq!(bare.timeout(), DEFAULT_HOOK_TIMEOUT);
        assert_eq!(bare.retries(), 0);
    }

    #[test]
    fn every_flagger_hook_type_round_trips() {
        for name in [
            "confirm-rollout",
            "pre-rollout",
            "rollout",
            "confirm-traffic-increase",
            "confirm-promotion",
            "post-rollout",
            "rollback",
            "event",
        ] {
            let t: HookType = serde_json::from_value(json!(name)).unwrap();
            assert_eq!(t.as_str(), name);
            assert_eq!(serde_json::to_value(t).unwrap(), json!(name));
        }
    }

    #[test]
    fn timeouts_are_always_bounded() {
        let with = |t: &str| CanaryWebhook {
            timeout: Some(t.into()),
            ..Default::default()
        };
        assert_eq!(with("1").timeout(), DEFAULT_HOOK_TIMEOUT);
        assert_eq!(with("0s").timeout(), DEFAULT_HOOK_TIMEOUT);
        assert_eq!(with("bad").timeout(), DEFAULT_HOOK_TIMEOUT);
        assert_eq!(with("2h").timeout(), MAX_HOOK_TIMEOUT);
        assert_eq!(with("1m30s").timeout(), Duration::from_secs(90));
    }

    #[test]
    fn alert_severity_defaults_to_info() {
        let alert: CanaryAlert = serde_json::from_value(json!({
            "name": "on-call", "severity": "", "providerRef": {"name": "slack"}
        }))
        .unwrap();
        assert_eq!(alert.severity, AlertSeverity::Info);
        let alert: CanaryAlert = serde_json::from_value(json!({
            "name": "on-call", "severity": "error",
            "providerRef": {"name": "slack", "namespace": "flagger"}
        }))
        .unwrap();
        assert_eq!(alert.severity, AlertSeverity::Error);
        assert_eq!(alert.provider_ref.namespace.as_deref(), Some("flagger"));
    }
}

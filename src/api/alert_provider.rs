//! The `AlertProvider` kind: a chat or webhook target for alerts, as Flagger's.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::metric_template::SecretRef;

/// Channel when `channel` is unset, as in Flagger.
pub const DEFAULT_ALERT_CHANNEL: &str = "general";
/// Bot name when `username` is unset. Flagger uses `flagger`; serin names itself, so a
/// channel shared by both tells their messages apart.
pub const DEFAULT_ALERT_USERNAME: &str = "serin";

/// A chat or webhook target for alerts. Its address is either in the spec or in a
/// Secret (key `address`, and optionally `token`, sent as a bearer token).
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "serin.dev",
    version = "v1beta1",
    kind = "AlertProvider",
    namespaced,
    category = "all",
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".spec.type"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.address) != has(self.secretRef)").message("an AlertProvider needs exactly one of address or secretRef"))]
pub struct AlertProviderSpec {
    /// slack, msteams, discord, rocket or gchat.
    #[serde(rename = "type")]
    pub type_: AlertProviderType,
    /// Channel (Slack, Discord, Rocket.Chat); default `general`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Bot user name (Slack, Discord, Rocket.Chat); default `serin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Incoming-webhook address of the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// HTTP or HTTPS proxy the alerts go through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// Secret in the provider's namespace holding `address` and optionally `token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretRef>,
}

impl AlertProviderSpec {
    /// The channel, or [`DEFAULT_ALERT_CHANNEL`].
    pub fn channel(&self) -> &str {
        non_empty(&self.channel).unwrap_or(DEFAULT_ALERT_CHANNEL)
    }

    /// The user name, or [`DEFAULT_ALERT_USERNAME`].
    pub fn username(&self) -> &str {
        non_empty(&self.username).unwrap_or(DEFAULT_ALERT_USERNAME)
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

/// The chat systems serin formats alerts for, with Flagger's payload shapes.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum AlertProviderType {
    /// Slack incoming webhook: one attachment with colour and author.
    #[default]
    Slack,
    /// Microsoft Teams incoming webhook: a MessageCard.
    Msteams,
    /// Discord, through its Slack-compatible endpoint (`<address>/slack`).
    Discord,
    /// Rocket.Chat incoming webhook, in Slack's format.
    Rocket,
    /// Google Chat incoming webhook: a card.
    Gchat,
}

impl AlertProviderType {
    /// The name used in the API and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertProviderType::Slack => "slack",
            AlertProviderType::Msteams => "msteams",
            AlertProviderType::Discord => "discord",
            AlertProviderType::Rocket => "rocket",
            AlertProviderType::Gchat => "gchat",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flagger_provider_parses_with_defaults() {
        let spec: AlertProviderSpec = serde_json::from_value(json!({
            "type": "msteams", "secretRef": {"name": "teams-url"}
        }))
        .unwrap();
        assert_eq!(spec.type_, AlertProviderType::Msteams);
        assert_eq!((spec.channel(), spec.username()), ("general", "serin"));
        assert!(serde_json::from_value::<AlertProviderSpec>(json!({"type": "pager"})).is_err());
    }
}

//! Provider payloads, shaped as Flagger's notifiers send them, so a webhook set up for
//! Flagger renders serin's alerts the same way.
//!
//! Differences, on purpose: the bot name defaults to `serin`, and the Google Chat card
//! is titled `serin` with no image (Flagger links its own logo).

use serde_json::{Value, json};

use super::message::{Alert, Field};
use crate::api::{AlertProviderSpec, AlertProviderType, AlertSeverity};

/// The JSON body for a provider type.
pub fn payload(provider: AlertProviderType, channel: &str, username: &str, alert: &Alert) -> Value {
    let subject = format!("{}.{}", alert.workload, alert.namespace);
    let error = alert.severity == AlertSeverity::Error;
    match provider {
        AlertProviderType::Slack | AlertProviderType::Discord => {
            let color = if error { "danger" } else { "good" };
            slack(channel, username, color, &subject, alert)
        }
        AlertProviderType::Rocket => {
            let color = if error { "#FF0000" } else { "#0076D7" };
            slack(channel, username, color, &subject, alert)
        }
        AlertProviderType::Msteams => teams(error, &subject, alert),
        AlertProviderType::Gchat => gchat(&subject, alert),
    }
}

/// Slack's incoming-webhook message: one attachment (also Discord's and Rocket.Chat's).
fn slack(channel: &str, username: &str, color: &str, subject: &str, alert: &Alert) -> Value {
    let fields: Vec<Value> = alert
        .fields
        .iter()
        .map(|f| json!({"title": f.name, "value": f.value, "short": false}))
        .collect();
    json!({
        "channel": channel,
        "username": username,
        "icon_url": "",
        "icon_emoji": ":rocket:",
        "attachments": [{
            "color": color,
            "author_name": subject,
            "text": alert.message,
            "mrkdwn_in": ["text"],
            "fields": fields,
        }],
    })
}

/// A Microsoft Teams MessageCard.
fn teams(error: bool, subject: &str, alert: &Alert) -> Value {
    let facts: Vec<Value> = alert
        .fields
        .iter()
        .map(|f| json!({"name": f.name, "value": f.value}))
        .collect();
    json!({
        "@type": "MessageCard",
        "@context": "http://schema.org/extensions",
        "themeColor": if error { "FF0000" } else { "0076D7" },
        "summary": subject,
        "sections": [{
            "activityTitle": alert.message,
            "activitySubtitle": subject,
            "facts": facts,
        }],
    })
}

/// A Google Chat card: the message, then one section per field.
fn gchat(subject: &str, alert: &Alert) -> Value {
    let paragraph = |text: String| json!({"widgets": [{"textParagraph": {"text": text}}]});
    let mut sections = vec![paragraph(format!(
        "<font color=#848484><strong>{}</strong></font>",
        alert.message
    ))];
    sections.extend(alert.fields.iter().map(|Field { name, value }| {
        paragraph(format!(
            "{name}<br><font color=#848484><strong>{value}</strong></font>"
        ))
    }));
    json!({
        "cards": [{
            "header": {"title": "serin", "subtitle": subject},
            "sections": sections,
        }],
    })
}

/// Everything needed to post one alert to one provider.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    pub provider: AlertProviderType,
    /// Where to POST; for Discord, its Slack-compatible endpoint.
    pub url: reqwest::Url,
    /// Bearer token (Slack only, as Flagger).
    pub token: Option<String>,
    pub proxy: Option<String>,
    pub body: Value,
}

/// Prepares an alert for a provider. `address` and `token` come from the spec or from
/// its Secret (the caller reads it). The error says why the alert cannot be sent.
pub fn delivery(
    spec: &AlertProviderSpec,
    address: &str,
    token: Option<&str>,
    alert: &Alert,
) -> Result<Delivery, String> {
    let mut url = reqwest::Url::parse(address.trim())
        .map_err(|e| format!("invalid {} address: {e}", spec.type_.as_str()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "invalid {} address: the scheme is not http or https",
            spec.type_.as_str()
        ));
    }
    if spec.type_ == AlertProviderType::Discord && !url.path().ends_with("/slack") {
        // Discord renders Slack's format at `<webhook>/slack`.
        let path = format!("{}/slack", url.path().trim_end_matches('/'));
        url.set_path(&path);
    }
    let token = token
        .filter(|t| !t.is_empty() && spec.type_ == AlertProviderType::Slack)
        .map(str::to_owned);
    Ok(Delivery {
        provider: spec.type_,
        url,
        token,
        proxy: spec.proxy.clone().filter(|p| !p.is_empty()),
        body: payload(spec.type_, spec.channel(), spec.username(), alert),
    })
}

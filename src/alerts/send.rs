//! Delivery of alerts: a few attempts with backoff, then a log line. An alert is a
//! courtesy to people; a chat outage must never hold or fail a rollout, so nothing here
//! returns an error to the caller.

use std::time::Duration;

use reqwest::Client;

use super::format::Delivery;
use crate::hooks::client::install_crypto_provider;

/// Attempts and bounds of one delivery.
#[derive(Clone, Debug)]
pub struct SendPolicy {
    /// Attempts in all; at least one is made.
    pub attempts: u32,
    /// Time one attempt may take (Flagger's 5 s).
    pub timeout: Duration,
    /// Wait before the second attempt; doubles after each.
    pub first_backoff: Duration,
}

impl Default for SendPolicy {
    /// Three attempts over about three seconds ride out a provider's brief hiccup
    /// without piling up alerts behind a long outage.
    fn default() -> Self {
        SendPolicy {
            attempts: 3,
            timeout: Duration::from_secs(5),
            first_backoff: Duration::from_secs(1),
        }
    }
}

/// What became of an alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    Delivered {
        attempts: u32,
    },
    /// Given up after `attempts`; `error` is the last failure.
    Dropped {
        error: String,
        attempts: u32,
    },
}

/// Posts alerts; cheap to clone.
#[derive(Clone, Debug)]
pub struct AlertSender {
    client: Client,
    policy: SendPolicy,
}

impl AlertSender {
    pub fn new(client: Client, policy: SendPolicy) -> Self {
        AlertSender { client, policy }
    }

    /// Posts `delivery`, retrying failures; logs and returns the outcome.
    pub async fn send(&self, delivery: &Delivery) -> SendOutcome {
        let outcome = self.try_send(delivery).await;
        let provider = delivery.provider.as_str();
        let host = delivery.url.host_str().unwrap_or_default();
        match &outcome {
            SendOutcome::Delivered { attempts } => {
                tracing::debug!(provider, host, attempts, "alert delivered");
            }
            SendOutcome::Dropped { error, attempts } => {
                tracing::warn!(provider, host, attempts, %error, "alert dropped");
            }
        }
        outcome
    }

    async fn try_send(&self, delivery: &Delivery) -> SendOutcome {
        let client = match &delivery.proxy {
            None => self.client.clone(),
            Some(proxy) => match proxied(proxy) {
                Ok(client) => client,
                Err(error) => return SendOutcome::Dropped { error, attempts: 0 },
            },
        };
        let attempts = self.policy.attempts.max(1);
        let mut backoff = self.policy.first_backoff;
        let mut last = String::new();
        for attempt in 1..=attempts {
            match self.attempt(&client, delivery).await {
                Ok(()) => return SendOutcome::Delivered { attempts: attempt },
                Err(error) => last = error,
            }
            if attempt < attempts {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        SendOutcome::Dropped {
            error: last,
            attempts,
        }
    }

    async fn attempt(&self, client: &Client, delivery: &Delivery) -> Result<(), String> {
        let mut request = client.post(delivery.url.clone()).json(&delivery.body);
        if let Some(token) = &delivery.token {
            request = request.bearer_auth(token);
        }
        let exchange = async {
            let response = request.send().await.map_err(|e| chain(&e))?;
            let status = response.status();
            if status.is_success() {
                return Ok(());
            }
            let body = response.text().await.unwrap_or_default();
            let body: String = body.trim().chars().take(256).collect();
            match body.is_empty() {
                true => Err(format!("HTTP {}", status.as_u16())),
                false => Err(format!("HTTP {}: {body}", status.as_u16())),
            }
        };
        tokio::time::timeout(self.policy.timeout, exchange)
            .await
            .map_err(|_| format!("no answer within {:?}", self.policy.timeout))?
    }
}

/// A client that goes through `proxy`, as the provider's `proxy` field asks.
fn proxied(proxy: &str) -> Result<Client, String> {
    install_crypto_provider();
    let proxy = reqwest::Proxy::all(proxy).map_err(|e| format!("invalid proxy {proxy:?}: {e}"))?;
    Client::builder()
        .proxy(proxy)
        .user_agent(concat!("serin/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build a client for proxy: {e}"))
}

/// An error with its causes, on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

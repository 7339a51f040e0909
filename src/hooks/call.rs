//! One webhook call: POST the payload as JSON, retry what may pass on a second try,
//! and report a verdict that explains itself.
//!
//! As in Flagger, 200, 201 and 202 pass and every other answer fails; the answer's body
//! (a closed gate's "Forbidden", a failed command's output) is kept for the event, cut to
//! [`CallPolicy::body_limit`] bytes. Unlike Flagger, the whole call is bounded: each
//! attempt has the hook's timeout (reading the body included), attempts are at most
//! `retries + 1`, and the backoff between them is capped.

use std::time::Duration;

use reqwest::StatusCode;

use super::client::HookClients;
use super::payload::HookPayload;
use crate::api::CanaryWebhook;

/// Bounds of a call other than the hook's own timeout and retries.
#[derive(Clone, Debug)]
pub struct CallPolicy {
    /// Wait before the first retry; doubles for each further one.
    pub first_backoff: Duration,
    /// Longest wait between two attempts.
    pub max_backoff: Duration,
    /// Bytes of the response body kept in the outcome; the rest is not even read.
    pub body_limit: usize,
}

impl Default for CallPolicy {
    /// The backoff of Flagger's HTTP client (1s doubling up to 30s); 1 KiB of body is
    /// enough to explain a failure in an event without flooding it.
    fn default() -> Self {
        CallPolicy {
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            body_limit: 1024,
        }
    }
}

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    #[error("{0}")]
    InvalidUrl(String),
    #[error("cannot resolve host {host:?}")]
    Dns { host: String },
    #[error("connection refused by {host:?}")]
    Refused { host: String },
    #[error("cannot connect to {host:?}: {detail}")]
    Connect { host: String, detail: String },
    #[error("no answer within {after:?}")]
    Timeout { after: Duration },
    #[error("HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("request failed: {0}")]
    Request(String),
}

impl HookError {
    /// A fixed name of the kind of failure, for metrics labels and event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            HookError::InvalidUrl(_) => "InvalidURL",
            HookError::Dns { .. } => "DNS",
            HookError::Refused { .. } => "ConnectionRefused",
            HookError::Connect { .. } => "Connect",
            HookError::Timeout { .. } => "Timeout",
            HookError::Status { .. } => "HTTPStatus",
            HookError::Request(_) => "Request",
        }
    }

    /// Whether another attempt may pass: transport failures, 429 and 5xx other than
    /// 501, as Flagger's retrying client decides. A 403 from a closed gate is an answer.
    fn retryable(&self) -> bool {
        match self {
            HookError::InvalidUrl(_) => false,
            HookError::Status { status, .. } => {
                *status == 429 || (*status >= 500 && *status != 501)
            }
            _ => true,
        }
    }
}

/// The verdict of a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookOutcome {
    /// 200-202; `body` is the (truncated) answer, e.g. a command's output.
    Passed {
        status: u16,
        body: String,
        attempts: u32,
    },
    /// Anything else, after `attempts` tries.
    Failed { error: HookError, attempts: u32 },
}

impl HookOutcome {
    pub fn passed(&self) -> bool {
        matches!(self, HookOutcome::Passed { .. })
    }

    /// One line for an event or a log: what happened, and after how many attempts.
    pub fn message(&self) -> String {
        match self {
            HookOutcome::Passed { status, .. } => format!("HTTP {status}"),
            HookOutcome::Failed {
                error,
                attempts: 0 | 1,
            } => error.to_string(),
            HookOutcome::Failed { error, attempts } => format!("{error} ({attempts} attempts)"),
        }
    }
}

/// Calls `hook` with `payload` under the default [`CallPolicy`].
pub async fn call(
    clients: &HookClients,
    hook: &CanaryWebhook,
    payload: &HookPayload,
) -> HookOutcome {
    call_with(clients, hook, payload, &CallPolicy::default()).await
}

/// Calls `hook` with `payload`: at most `retries + 1` attempts of at most `timeout` each.
pub async fn call_with(
    clients: &HookClients,
    hook: &CanaryWebhook,
    payload: &HookPayload,
    policy: &CallPolicy,
) -> HookOutcome {
    let url = match clients.url(&hook.url) {
        Ok(url) => url,
        Err(text) => {
            return HookOutcome::Failed {
                error: HookError::InvalidUrl(text),
                attempts: 0,
            };
        }
    };
    let _permit = clients.permit().await;
    let client = clients.client(hook.disable_tls);
    let (timeout, tries) = (hook.timeout(), hook.retries() + 1);
    let mut backoff = policy.first_backoff;
    let mut attempt = 1;
    loop {
        let result = attempt_once(client, &url, payload, timeout, policy.body_limit).await;
        let error = match result {
            Ok(outcome) => {
                return HookOutcome::Passed {
                    status: outcome.0,
                    body: outcome.1,
                    attempts: attempt,
                };
            }
            Err(error) => error,
        };
        if attempt >= tries || !error.retryable() {
            return HookOutcome::Failed {
                error,
                attempts: attempt,
            };
        }
        tracing::debug!(hook = %hook.name, attempt, %error, "webhook attempt failed; retrying");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(policy.max_backoff);
        attempt += 1;
    }
}

/// One POST, with the body read under the same timeout.
async fn attempt_once(
    client: &reqwest::Client,
    url: &reqwest::Url,
    payload: &HookPayload,
    timeout: Duration,
    body_limit: usize,
) -> Result<(u16, String), HookError> {
    let host = url.host_str().unwrap_or_default().to_owned();
    let exchange = async {
        let response = client
            .post(url.clone())
            .json(payload)
            .send()
            .await
            .map_err(|e| classify(&e, &host))?;
        let status = response.status();
        let body = read_bounded(response, body_limit).await;
        Ok::<_, HookError>((status, body))
    };
    let (status, body) = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| HookError::Timeout { after: timeout })??;
    if matches!(
        status,
        StatusCode::OK | StatusCode::CREATED | StatusCode::ACCEPTED
    ) {
        Ok((status.as_u16(), body))
    } else {
        Err(HookError::Status {
            status: status.as_u16(),
            body,
        })
    }
}

/// Reads at most `limit` bytes of the body as text, marking a cut. A body that breaks
/// off midway keeps what arrived: the status already decided the verdict.
async fn read_bounded(mut response: reqwest::Response, limit: usize) -> String {
    let mut bytes = Vec::new();
    let mut cut = false;
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = limit.saturating_sub(bytes.len());
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if chunk.len() > room {
            cut = true;
            break;
        }
    }
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if cut {
        // A multi-byte character cut in half became U+FFFD; drop it.
        if text.ends_with('\u{FFFD}') {
            text.pop();
        }
        text.push_str(" …(truncated)");
    }
    text.trim_end().to_owned()
}

/// Names a transport failure by what a person can act on.
fn classify(error: &reqwest::Error, host: &str) -> HookError {
    let host = host.to_owned();
    let mut chain = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(error);
    let mut refused = false;
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            refused |= io.kind() == std::io::ErrorKind::ConnectionRefused;
        }
        chain.push_str(&e.to_string());
        chain.push_str(": ");
        source = e.source();
    }
    let chain = chain.trim_end_matches(": ").to_owned();
    if refused {
        HookError::Refused { host }
    } else if chain.contains("dns error") || chain.contains("failed to lookup address") {
        HookError::Dns { host }
    } else if error.is_connect() {
        HookError::Connect {
            host,
            detail: chain,
        }
    } else {
        HookError::Request(chain)
    }
}

//! Calling the webhooks a decision asked for ([`Request::hooks`](crate::decide::Request)).
//!
//! The calls of one reconcile run side by side, each bounded by its timeout and retries
//! and by the shared permit pool of [`HookClients`](crate::hooks::HookClients); they run
//! inside this Canary's reconcile only, so a slow hook delays no other Canary.

use chrono::Utc;
use futures::future::join_all;
use kube::ResourceExt;

use super::Ctx;
use crate::api::{Canary, CanaryWebhook, HookType};
use crate::decide::{Decision, HookCall, HookSet};
use crate::hooks::{self, HookOutcome, HookPayload};

/// Calls the Canary's webhooks whose type is in `types`, with Flagger's payload;
/// `checksum` identifies the revision.
pub(super) async fn call(
    canary: &Canary,
    ctx: &Ctx,
    types: HookSet,
    checksum: &str,
) -> Vec<HookCall> {
    let Some(analysis) = &canary.spec.analysis else {
        return Vec::new();
    };
    let (name, namespace) = (canary.name_any(), canary.namespace().unwrap_or_default());
    let phase = canary
        .status
        .as_ref()
        .map(|s| s.phase())
        .unwrap_or_default();
    let calls = analysis
        .webhooks
        .iter()
        .filter(|h| types.contains(h.type_))
        .map(|hook| {
            let payload = hooks::payload(&name, &namespace, phase, checksum, &hook.metadata);
            let clients = &ctx.config.hooks;
            async move {
                let outcome = hooks::call(clients, hook, &payload).await;
                let message = match &outcome {
                    HookOutcome::Passed { status, .. } => format!("HTTP {status}"),
                    HookOutcome::Failed { .. } => outcome.message(),
                };
                if !outcome.passed() {
                    tracing::info!(hook = %hook.name, kind = hook.type_.as_str(), %message, "webhook did not pass");
                }
                HookCall {
                    name: hook.name.clone(),
                    type_: hook.type_,
                    passed: outcome.passed(),
                    message,
                    at: Utc::now(),
                }
            }
        });
    join_all(calls).await
}

/// Event deliveries in flight across all Canaries; beyond it an event's delivery is
/// dropped with a log line rather than queued without bound.
const MAX_EVENT_DELIVERIES: usize = 32;

static EVENT_DELIVERIES: std::sync::LazyLock<std::sync::Arc<tokio::sync::Semaphore>> =
    std::sync::LazyLock::new(|| {
        std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_EVENT_DELIVERIES))
    });

/// Sends the decision's events to the Canary's `event` hooks and to `--event-webhook`,
/// in order, in the background: a slow receiver never delays a reconcile.
pub(super) fn send_events(canary: &Canary, ctx: &Ctx, decision: &Decision) {
    if decision.events.is_empty() {
        return;
    }
    let mut targets: Vec<CanaryWebhook> = canary
        .spec
        .analysis
        .iter()
        .flat_map(|a| &a.webhooks)
        .filter(|h| h.type_ == HookType::Event)
        .cloned()
        .collect();
    if let Some(url) = &ctx.config.event_webhook {
        targets.push(CanaryWebhook {
            name: "event-webhook".into(),
            type_: HookType::Event,
            url: url.clone(),
            ..Default::default()
        });
    }
    if targets.is_empty() {
        return;
    }
    let Ok(permit) = EVENT_DELIVERIES.clone().try_acquire_owned() else {
        tracing::warn!("too many event deliveries in flight; events not sent to webhooks");
        return;
    };
    let (name, namespace) = (canary.name_any(), canary.namespace().unwrap_or_default());
    let phase = decision.status.phase();
    let checksum = decision
        .status
        .last_applied_spec
        .clone()
        .unwrap_or_default();
    let now = Utc::now().timestamp_millis();
    let mut payloads: Vec<(CanaryWebhook, HookPayload)> = Vec::new();
    for note in &decision.events {
        let kind = if note.warning { "Warning" } else { "Normal" };
        for hook in &targets {
            let body = hooks::event_payload(
                &name,
                &namespace,
                phase,
                &checksum,
                &hook.metadata,
                &note.message,
                kind,
                now,
            );
            payloads.push((hook.clone(), body));
        }
    }
    let clients = ctx.config.hooks.clone();
    tokio::spawn(async move {
        for (hook, body) in payloads {
            let outcome = hooks::call(&clients, &hook, &body).await;
            if !outcome.passed() {
                tracing::info!(hook = %hook.name, message = %outcome.message(), "event webhook did not pass");
            }
        }
        drop(permit);
    });
}

//! Calling the webhooks a decision asked for ([`Request::hooks`](crate::decide::Request)).
//!
//! The calls of one reconcile run side by side, each bounded by its timeout and retries
//! and by the shared permit pool of [`HookClients`](crate::hooks::HookClients); they run
//! inside this Canary's reconcile only, so a slow hook delays no other Canary.

use chrono::Utc;
use futures::future::join_all;
use kube::ResourceExt;

use super::Ctx;
use crate::api::Canary;
use crate::decide::{HookCall, HookSet};
use crate::hooks::{self, HookOutcome};

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

//! Record: writes the new status (only when it changed, with optimistic concurrency so a
//! decision made on a stale cache is never written) and then publishes its events.
//!
//! Events go out after the status is stored: a crash in between loses an event rather
//! than repeating a step's event twice.

use kube::api::{Api, PostParams};
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use tracing::{info, warn};

use super::{Ctx, Error};
use crate::api::Canary;
use crate::decide::Decision;

pub(super) async fn record(canary: &Canary, ctx: &Ctx, decision: &Decision) -> Result<(), Error> {
    let old = canary.status.clone().unwrap_or_default();
    if decision.status != old {
        let api: Api<Canary> =
            Api::namespaced(ctx.client.clone(), &canary.namespace().unwrap_or_default());
        let mut next = canary.clone();
        next.status = Some(decision.status.clone());
        // replace_status carries the cached resourceVersion: a 409 means the cache was
        // stale, and the reconcile is retried on the fresh object instead.
        api.replace_status(&canary.name_any(), &PostParams::default(), &next)
            .await
            .map_err(Error::Kube)?;
    }
    let reference = canary.object_ref(&());
    for note in &decision.events {
        if note.warning {
            warn!(reason = note.reason, "{}", note.message);
        } else {
            info!(reason = note.reason, "{}", note.message);
        }
        let event = Event {
            type_: if note.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: note.reason.to_string(),
            // The API refuses notes over 1 KiB; status.metrics keeps the whole query.
            note: Some(truncate(&note.message, 1024)),
            // The recorder merges events with equal (reason, action) into one series, so
            // the action carries the message: each step stays its own event.
            action: note.message.chars().take(128).collect(),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&event, &reference).await {
            // An event that cannot be written is not worth failing the step for.
            warn!(error = %e, "could not publish event");
        }
    }
    super::alerts::notify(canary, ctx, decision);
    super::hooks::send_events(canary, ctx, decision);
    Ok(())
}

/// Cuts `text` to at most `max` bytes on a character boundary, marking the cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max - 3;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    #[test]
    fn notes_fit_the_api_limit() {
        let long = "é".repeat(1000);
        let cut = super::truncate(&long, 1024);
        assert!(cut.len() <= 1024 && cut.ends_with("..."));
        assert_eq!(super::truncate("short", 1024), "short");
    }
}

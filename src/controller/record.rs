//! Record: writes the new status (only when it changed, with optimistic concurrency so a
//! decision made on a stale cache is never written) and then publishes its events.
//!
//! The events of a transition are written into the status with it (`status.eventLog`)
//! and published after it under deterministic names ([`super::events`]): a crash or a
//! refused event write in between delays an event, never loses or repeats it.

use kube::ResourceExt;
use kube::api::{Api, PostParams};
use tracing::{debug, warn};

use super::{Ctx, Error, events};
use crate::api::{Canary, CanaryStatus};
use crate::decide::Decision;

/// Records the decision. Returns false when some event could not be published yet (the
/// caller reconciles again soon to retry).
pub(super) async fn record(canary: &Canary, ctx: &Ctx, decision: &Decision) -> Result<bool, Error> {
    let old = canary.status.clone().unwrap_or_default();
    let uid = canary.uid().unwrap_or_default();
    // Events the stored status lists and this process has not seen published: left by a
    // crash or a refused write. They go out before the events of this decision.
    let mut all_published =
        events::publish(canary, &ctx.client, &ctx.published, &old.event_log).await;
    let mut next = decision.status.clone();
    if next != old || !decision.events.is_empty() {
        let (log, dropped) =
            events::append(&old.event_log, &ctx.published.of(&uid), &decision.events);
        for lost in dropped {
            warn!(seq = lost.seq, reason = %lost.reason, message = %lost.message, "event dropped: too many unpublished events");
        }
        next.event_log = log;
    }
    if next != old {
        let api: Api<Canary> =
            Api::namespaced(ctx.client.clone(), &canary.namespace().unwrap_or_default());
        let mut object = canary.clone();
        object.status = Some(next.clone());
        if tracing::enabled!(tracing::Level::DEBUG) {
            debug!(changed = ?changed_fields(&old, &next), events = decision.events.len(), "status write");
        }
        // replace_status carries the cached resourceVersion: a 409 means the cache was
        // stale, and the reconcile is retried on the fresh object instead. Until the cache
        // has seen this write, the next reconcile waits for it ([`super::pending`]).
        let against = canary.resource_version();
        let written = api
            .replace_status(&canary.name_any(), &PostParams::default(), &object)
            .await
            .map_err(Error::Kube)?;
        ctx.pending.status_wrote(
            &super::key(canary),
            against.as_deref(),
            written.resource_version().as_deref(),
        );
        ctx.published.keep_only(&uid, &next.event_log);
        all_published &=
            events::publish(canary, &ctx.client, &ctx.published, &next.event_log).await;
    }
    super::alerts::notify(canary, ctx, decision);
    super::hooks::send_events(canary, ctx, decision);
    Ok(all_published)
}

/// The status fields a write changes, for the debug log.
fn changed_fields(old: &CanaryStatus, next: &CanaryStatus) -> Vec<String> {
    let (Ok(serde_json::Value::Object(old)), Ok(serde_json::Value::Object(next))) =
        (serde_json::to_value(old), serde_json::to_value(next))
    else {
        return Vec::new();
    };
    let mut keys: Vec<String> = old
        .keys()
        .chain(next.keys())
        .filter(|k| old.get(*k) != next.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
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

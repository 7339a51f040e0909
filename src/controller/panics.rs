//! A panic inside one reconcile must never take serin down: it becomes that Canary's
//! error. The reconcile future is polled under `catch_unwind`; a panic is reported on the
//! Canary (a `Reconciled=False` condition and a Warning event, both only when the message
//! changes, so a Canary that panics on every retry does not flood the events) and retried
//! with the per-object backoff. The other Canaries go on, since the controller keeps
//! running and only this one reconcile failed.
//!
//! `AssertUnwindSafe` is sound here: a reconcile shares only the caches (read-only), the
//! pending-writes map and the backoff (mutexes that tolerate poisoning), and its own
//! status is recomputed from the stored object on the next attempt.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use kube::api::{Api, PostParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use tracing::{error, warn};

use super::notices::Notice;
use super::record::truncate;
use super::{Ctx, Error};
use crate::api::{Canary, conditions, reasons};

/// The longest panic message kept: it goes into a condition, an event and a log line.
const MAX_MESSAGE: usize = 512;

/// Runs `reconcile`, turning a panic into [`Error::Panicked`].
pub(super) async fn catch<F>(reconcile: F) -> Result<Action, Error>
where
    F: Future<Output = Result<Action, Error>>,
{
    match AssertUnwindSafe(reconcile).catch_unwind().await {
        Ok(result) => result,
        Err(payload) => Err(Error::Panicked(message(payload.as_ref()))),
    }
}

/// The text a panic carries (`panic!("...")` gives a `&str` or a `String`).
fn message(payload: &(dyn Any + Send)) -> String {
    let text = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    };
    truncate(&text, MAX_MESSAGE)
}

/// Reports a failed reconcile on the Canary when the user can act on it or must know:
/// a panic, or a write the API server refused (e.g. an invalid derived name), with the
/// API server's own message. Transient failures (conflicts, throttling, 5xx) are only
/// logged and retried.
pub(super) async fn report_failure(canary: &Canary, ctx: &Ctx, error: &Error) {
    let (reason, message) = match error {
        Error::Panicked(panic) => {
            error!(canary = %canary.name_any(), namespace = %canary.namespace().unwrap_or_default(), panic, "reconcile panicked; retried with backoff");
            (
                reasons::RECONCILE_PANICKED,
                format!("serin failed on this Canary (a bug; retried with backoff): {panic}"),
            )
        }
        Error::Kube(kube::Error::Api(s)) if refused(s.code) => (
            reasons::WRITE_REFUSED,
            format!(
                "the API server refused a write (HTTP {}, {}): {}; retried with backoff",
                s.code, s.reason, s.message
            ),
        ),
        Error::Kube(_) => return,
    };
    report(canary, ctx, reason, &truncate(&message, MAX_MESSAGE * 2)).await;
}

/// Whether an API status code means the request itself was refused, so retrying it
/// unchanged will not help: 400 (bad request), 403 (forbidden), 404 on a write, 422
/// (invalid). Conflicts, throttling and server errors pass on their own.
fn refused(code: u16) -> bool {
    matches!(code, 400 | 403 | 404 | 422)
}

/// Sets `Reconciled=False` with `message` and publishes a Warning event, both only when
/// the message changed, so a Canary that fails on every retry floods nothing.
async fn report(canary: &Canary, ctx: &Ctx, reason: &'static str, message: &str) {
    let message = message.to_string();
    let mut status = canary.status.clone().unwrap_or_default();
    let same = status
        .condition(conditions::RECONCILED)
        .is_some_and(|c| c.message == message);
    // Already reported, or the cache has not seen serin's own last status write (this
    // write would be refused with 409): the retry after the backoff reports it.
    if same
        || ctx
            .pending
            .status_stale(&super::key(canary), canary.resource_version().as_deref())
    {
        return;
    }
    status.set_condition(
        conditions::RECONCILED,
        conditions::FALSE,
        reason,
        &message,
        canary.metadata.generation,
        chrono::Utc::now(),
    );
    let api: Api<Canary> =
        Api::namespaced(ctx.client.clone(), &canary.namespace().unwrap_or_default());
    let mut next = canary.clone();
    next.status = Some(status);
    match api
        .replace_status(&canary.name_any(), &PostParams::default(), &next)
        .await
    {
        Ok(written) => ctx.pending.status_wrote(
            &super::key(canary),
            canary.resource_version().as_deref(),
            written.resource_version().as_deref(),
        ),
        Err(e) => warn!(error = %e, "could not record the panic in status"),
    }
    let notice = Notice {
        warning: true,
        reason,
        action: "Reconcile",
        note: truncate(&message, 1024),
    };
    if let Err(e) = ctx.notices.publish(&canary.object_ref(&()), notice).await {
        warn!(error = %e, "could not publish event");
    }
}

/// Removes `Reconciled=False` once a whole reconcile (record and converge) succeeded.
/// A merge patch without a resourceVersion: the status was just written by this
/// reconcile, and the list sent is that status's conditions minus this one.
pub(super) async fn clear(canary: &Canary, ctx: &Ctx, status: &crate::api::CanaryStatus) {
    if status.condition(conditions::RECONCILED).is_none() {
        return;
    }
    let mut status = status.clone();
    status.remove_condition(conditions::RECONCILED);
    let api: Api<Canary> =
        Api::namespaced(ctx.client.clone(), &canary.namespace().unwrap_or_default());
    let patch = serde_json::json!({"status": {"conditions": status.conditions}});
    // A merge patch, on top of the status record() may just have written: both versions
    // are stale for the next reconcile until the cache has seen this one.
    match api
        .patch_status(
            &canary.name_any(),
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
    {
        Ok(written) => ctx.pending.status_wrote(
            &super::key(canary),
            canary.resource_version().as_deref(),
            written.resource_version().as_deref(),
        ),
        Err(e) => warn!(error = %e, "could not clear the Reconciled condition"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_reconcile_becomes_an_error() {
        let boom = catch(async { panic!("index out of bounds") }).await;
        assert!(
            matches!(&boom, Err(Error::Panicked(m)) if m == "index out of bounds"),
            "{boom:?}"
        );
        let formatted = catch(async { panic!("value {}", 7) }).await;
        assert!(matches!(&formatted, Err(Error::Panicked(m)) if m == "value 7"));
        let fine = catch(async { Ok(Action::await_change()) }).await;
        assert!(fine.is_ok());
    }

    #[test]
    fn only_refusals_are_reported_on_the_canary() {
        assert!(refused(422) && refused(400) && refused(403));
        assert!(!refused(409) && !refused(429) && !refused(500) && !refused(503));
    }

    #[test]
    fn long_panic_messages_are_cut() {
        let long: Box<dyn Any + Send> = Box::new("x".repeat(10_000));
        assert!(message(long.as_ref()).len() <= MAX_MESSAGE);
        let odd: Box<dyn Any + Send> = Box::new(42u8);
        assert_eq!(message(odd.as_ref()), "a panic without a message");
    }
}

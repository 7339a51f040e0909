//! CanaryActions on the controller's side: reading a Canary's pending actions for the
//! decision ([`pending`]), writing each one's outcome once the Canary's status holds it
//! ([`report`]), and the actions' own lifecycle ([`run`]): an action naming no Canary is
//! refused, and every decided action is deleted [`RETENTION`] after it was decided.
//!
//! Order matters for a restart: the Canary's status (with the action's uid) is written
//! first, then the action's status. A crash in between leaves the action pending; the
//! next reconcile finds its uid in the Canary's status and only writes the recorded
//! outcome, never applying it twice.
//!
//! Why delete rather than own them by the Canary: actions pile up with every click, and
//! an owner reference would keep them until the Canary goes. The Canary's status keeps
//! the last ten decisions (who, what, when, why, outcome) and its events tell the
//! story; the action itself only has to live long enough for `kubectl serin` to read its
//! outcome.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;
use tracing::{debug, warn};

use super::Ctx;
use crate::api::{ActionOutcome, Canary, CanaryAction};
use crate::decide::{ActionResult, Decision, PendingAction};

/// How long a decided action is kept before serin deletes it: long enough for the
/// person (or `kubectl serin`, which waits for the outcome) to read what became of it.
pub(super) const RETENTION: Duration = Duration::from_secs(300);

/// The Canary's actions that serin has not decided yet, oldest first.
pub(super) fn pending(canary: &Canary, ctx: &Ctx) -> Vec<PendingAction> {
    let ns = canary.namespace();
    let name = canary.name_any();
    let mut actions: Vec<Arc<CanaryAction>> = ctx
        .actions
        .state()
        .into_iter()
        .filter(|a| a.namespace() == ns && a.spec.canary == name)
        .filter(|a| undecided(a))
        .filter(|a| a.metadata.deletion_timestamp.is_none())
        .collect();
    actions.sort_by(|a, b| {
        let at = |x: &CanaryAction| x.metadata.creation_timestamp.as_ref().map(|t| t.0);
        at(a)
            .cmp(&at(b))
            .then_with(|| a.name_any().cmp(&b.name_any()))
    });
    actions
        .into_iter()
        .map(|a| PendingAction {
            uid: a.uid().unwrap_or_else(|| a.name_any()),
            name: a.name_any(),
            spec: a.spec.clone(),
        })
        .collect()
}

fn undecided(a: &CanaryAction) -> bool {
    a.status.as_ref().and_then(|s| s.outcome).is_none()
}

/// Writes each decided action's outcome (after the Canary's status was recorded).
/// A failure is logged, not returned: the decision is already recorded, and the next
/// reconcile writes the outcome again from the Canary's status.
pub(super) async fn report(canary: &Canary, ctx: &Ctx, decision: &Decision) {
    let ns = canary.namespace().unwrap_or_default();
    let api: Api<CanaryAction> = Api::namespaced(ctx.client.clone(), &ns);
    for result in &decision.actions {
        if let Err(e) = write_outcome(&api, result, Utc::now()).await {
            warn!(action = %result.name, error = %e, "could not write the action's outcome");
        }
    }
}

async fn write_outcome(
    api: &Api<CanaryAction>,
    result: &ActionResult,
    now: DateTime<Utc>,
) -> Result<(), kube::Error> {
    let patch = json!({
        "status": {
            "outcome": result.outcome,
            "message": result.message,
            "decidedAt": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    });
    match api
        .patch_status(&result.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        // Deleted by its author meanwhile: nothing left to tell.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// What the lifecycle of one action calls for.
#[derive(Debug, Clone, PartialEq)]
enum Lifecycle {
    /// Decided long enough ago: delete it.
    Delete,
    /// Decided: delete it after this long.
    KeepFor(Duration),
    /// Names no Canary that serin can steer: refuse it with this message.
    Refuse(String),
    /// Its Canary's reconcile decides it.
    Wait,
}

/// Pure: what to do with `action`, given whether its Canary exists (Some(Err) when it
/// cannot be read).
fn lifecycle(
    action: &CanaryAction,
    canary: Option<Result<(), String>>,
    now: DateTime<Utc>,
) -> Lifecycle {
    let status = action.status.clone().unwrap_or_default();
    if status.outcome.is_some() {
        let decided = status
            .decided_at
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(now);
        let age = (now - decided).to_std().unwrap_or(Duration::ZERO);
        return match RETENTION.checked_sub(age) {
            Some(left) if !left.is_zero() => Lifecycle::KeepFor(left),
            _ => Lifecycle::Delete,
        };
    }
    let ns = action.namespace().unwrap_or_default();
    match canary {
        None => Lifecycle::Refuse(format!(
            "no such Canary: {} in namespace {ns}",
            action.spec.canary
        )),
        Some(Err(why)) => Lifecycle::Refuse(format!(
            "the Canary {} cannot be read: {why}",
            action.spec.canary
        )),
        Some(Ok(())) => Lifecycle::Wait,
    }
}

struct LifecycleCtx {
    client: Client,
    canaries: Store<DeserializeGuard<Canary>>,
    synced: Arc<AtomicBool>,
}

async fn reconcile(
    action: Arc<CanaryAction>,
    lc: Arc<LifecycleCtx>,
) -> Result<Action, kube::Error> {
    if !lc.synced.load(Ordering::SeqCst) {
        return Ok(Action::requeue(Duration::from_millis(500)));
    }
    let ns = action.namespace().unwrap_or_default();
    let key = ObjectRef::<DeserializeGuard<Canary>>::new(&action.spec.canary).within(&ns);
    let canary = lc.canaries.get(&key).map(|g| match &g.0 {
        Ok(_) => Ok(()),
        Err(e) => Err(e.to_string()),
    });
    let api: Api<CanaryAction> = Api::namespaced(lc.client.clone(), &ns);
    match lifecycle(&action, canary, Utc::now()) {
        Lifecycle::Wait => Ok(Action::await_change()),
        Lifecycle::KeepFor(left) => Ok(Action::requeue(left)),
        Lifecycle::Delete => {
            debug!(action = %action.name_any(), namespace = %ns, "deleting a decided CanaryAction");
            match api
                .delete(&action.name_any(), &DeleteParams::default())
                .await
            {
                Ok(_) => Ok(Action::await_change()),
                Err(kube::Error::Api(s)) if s.code == 404 => Ok(Action::await_change()),
                Err(e) => Err(e),
            }
        }
        Lifecycle::Refuse(message) => {
            let result = ActionResult {
                uid: action.uid().unwrap_or_default(),
                name: action.name_any(),
                outcome: ActionOutcome::Refused,
                message,
            };
            write_outcome(&api, &result, Utc::now()).await?;
            Ok(Action::await_change())
        }
    }
}

fn error_policy(action: Arc<CanaryAction>, error: &kube::Error, _: Arc<LifecycleCtx>) -> Action {
    warn!(action = %action.name_any(), error = %error, "CanaryAction lifecycle failed");
    Action::requeue(Duration::from_secs(5))
}

/// Runs the actions' lifecycle (refusing orphans, deleting decided ones) on a watch of
/// its own, until the returned future is dropped.
pub(super) async fn run(
    api: Api<CanaryAction>,
    canaries: Store<DeserializeGuard<Canary>>,
    ctx: Arc<Ctx>,
) {
    let lc = Arc::new(LifecycleCtx {
        client: ctx.client.clone(),
        canaries,
        synced: ctx.synced.clone(),
    });
    Controller::new(api, watcher::Config::default().any_semantic())
        .run(reconcile, error_policy, lc)
        .for_each(|_| async {})
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ActionKind, CanaryActionSpec, CanaryActionStatus};

    fn action(status: Option<CanaryActionStatus>) -> CanaryAction {
        let mut a = CanaryAction::new(
            "approve-1",
            CanaryActionSpec {
                canary: "podinfo".into(),
                action: ActionKind::Approve,
                requested_by: "alice@example.com".into(),
                ..Default::default()
            },
        );
        a.metadata.namespace = Some("test".into());
        a.status = status;
        a
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn an_action_for_no_canary_is_refused_with_its_name() {
        let now = at("2026-01-01T00:00:00Z");
        assert_eq!(
            lifecycle(&action(None), None, now),
            Lifecycle::Refuse("no such Canary: podinfo in namespace test".into())
        );
        assert_eq!(lifecycle(&action(None), Some(Ok(())), now), Lifecycle::Wait);
    }

    #[test]
    fn a_decided_action_is_deleted_after_the_retention() {
        let decided = Some(CanaryActionStatus {
            outcome: Some(ActionOutcome::Applied),
            message: Some("opened".into()),
            decided_at: Some("2026-01-01T00:00:00Z".into()),
        });
        let a = action(decided);
        assert_eq!(
            lifecycle(&a, Some(Ok(())), at("2026-01-01T00:01:00Z")),
            Lifecycle::KeepFor(RETENTION - Duration::from_secs(60))
        );
        assert_eq!(
            lifecycle(&a, None, at("2026-01-01T00:05:00Z")),
            Lifecycle::Delete
        );
    }
}

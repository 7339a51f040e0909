//! A stored Canary serin cannot decode (e.g. `progressDeadlineSeconds: 2147483648` written
//! by an older server): reported on the object where possible, in one log line of bounded
//! size and in a metric, then skipped until it changes. It never blocks the other Canaries
//! or the start, because the watch decodes through `DeserializeGuard`.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::core::error_boundary::InvalidObject;
use kube::runtime::controller::Action;
use tracing::warn;

use super::Ctx;
use super::notices::Notice;
use super::record::truncate;
use crate::api::reasons;

/// The longest decoding error logged or put in an event: a huge object must not make a
/// huge log line.
const MAX_ERROR: usize = 512;

pub(super) async fn report(invalid: &InvalidObject, ctx: &Ctx) -> Action {
    let meta = &invalid.metadata;
    let error = truncate(&invalid.error, MAX_ERROR);
    ctx.telemetry.invalid_object();
    warn!(
        canary = meta.name.as_deref().unwrap_or_default(),
        namespace = meta.namespace.as_deref().unwrap_or_default(),
        error = %error,
        "cannot decode the stored Canary: skipped until it changes"
    );
    if let (Some(name), Some(namespace)) = (&meta.name, &meta.namespace) {
        let reference = ObjectReference {
            api_version: Some(format!("{}/v1beta1", crate::api::GROUP)),
            kind: Some("Canary".into()),
            name: Some(name.clone()),
            namespace: Some(namespace.clone()),
            uid: meta.uid.clone(),
            resource_version: meta.resource_version.clone(),
            ..Default::default()
        };
        let notice = Notice {
            warning: true,
            reason: reasons::INVALID_OBJECT,
            action: "Decode",
            note: format!("serin cannot decode this Canary: {error}"),
        };
        if let Err(e) = ctx.notices.publish(&reference, notice).await {
            warn!(error = %e, "could not publish event");
        }
    }
    Action::await_change()
}

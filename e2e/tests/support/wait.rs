//! Waits with deadlines, and small readings of API answers.

use super::is_remote;
use anyhow::{Context, Result, anyhow};
use std::future::Future;
use std::time::{Duration, Instant};

/// The usual deadline of a wait (generous: a real cluster is slower).
pub const WAIT: Duration = Duration::from_secs(20);

/// How long a real garbage collector may take to delete dependents of custom
/// resources: it learns of a new CRD kind only at its next discovery resync
/// (every 30 s), so it may take that long to start. The sandbox collects at once.
pub const GC_WAIT_REMOTE: Duration = Duration::from_secs(60);

/// The deadline of a wait for the garbage collector: [`GC_WAIT_REMOTE`] against
/// a real cluster, `local` against the sandbox.
pub fn gc_wait_or(local: Duration) -> Duration {
    if is_remote() { GC_WAIT_REMOTE } else { local }
}

/// The deadline of a wait for the garbage collector, with [`WAIT`] locally.
pub fn gc_wait() -> Duration {
    gc_wait_or(WAIT)
}

/// Polls `probe` every 50 ms until it yields `Some`, failing after `timeout`
/// with the last error the probe returned.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match probe().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => String::from("condition not met"),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() >= deadline {
            return Err(anyhow!(
                "timed out after {timeout:?} waiting for {what}: {last}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The API error status of a failed call (`code`, `reason`, `message`).
pub fn api_error<T: std::fmt::Debug>(result: kube::Result<T>) -> Result<kube::core::Status> {
    match result {
        Err(kube::Error::Api(status)) => Ok(*status),
        other => Err(anyhow!("expected an API error, got {other:?}")),
    }
}

/// The `resourceVersion` of an object as a number: etcd revisions grow
/// monotonically across all kinds, and so must the sandbox's.
pub fn rv_number(rv: Option<&String>) -> Result<u64> {
    let rv = rv.ok_or_else(|| anyhow!("no resourceVersion"))?;
    rv.parse()
        .with_context(|| format!("resourceVersion {rv:?} is not a number"))
}

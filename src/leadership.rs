//! Leadership: only the holder of a coordination.k8s.io Lease (kube-lease-manager) runs
//! the controller. A replica that loses the Lease stops acting at once and stands by,
//! competing again with fresh watches when it next wins it. Because every step's start is
//! in the Canary's status, the new leader neither repeats nor rushes a step. Without
//! leader election the controller simply runs until shutdown.
//!
//! Load cannot starve the renewal: kube-lease-manager renews from a task and timer of its
//! own, not behind the Controller's reconcile concurrency or any lock a reconcile takes;
//! it shares the client, whose connection pool opens another connection rather than
//! queue a request behind the reconciles' (at most a few dozen in flight).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How to take part in the election.
#[derive(Debug, Clone)]
pub struct Election {
    pub namespace: String,
    pub lease_name: String,
    pub identity: String,
    pub duration: Duration,
}

/// A running election: `is_leader` follows the Lease.
pub struct Candidate {
    pub is_leader: watch::Receiver<bool>,
    task: JoinHandle<Result<kube_lease_manager::LeaseManager, LeaseManagerError>>,
}

impl Election {
    pub async fn join(&self, client: kube::Client) -> Result<Candidate, LeaseManagerError> {
        let secs = self.duration.as_secs().max(2);
        // Renew well before expiry: the grace is a third of the lease, at least a second.
        let grace = (secs / 3).max(1);
        let manager = LeaseManagerBuilder::new(client, &self.lease_name)
            .with_namespace(&self.namespace)
            .with_identity(&self.identity)
            .with_duration(secs)
            .with_grace(grace)
            .build()
            .await?;
        let (is_leader, task) = manager.watch().await;
        Ok(Candidate { is_leader, task })
    }
}

impl Candidate {
    /// Waits until this replica holds the Lease.
    pub async fn leading(&mut self) -> bool {
        self.is_leader.wait_for(|l| *l).await.is_ok()
    }

    /// Resolves when this replica no longer holds the Lease.
    pub async fn lost(mut rx: watch::Receiver<bool>) {
        let _ = rx.wait_for(|l| !*l).await;
    }

    /// Gives the Lease up so another replica takes over without waiting for it to expire.
    pub async fn release(self) {
        drop(self.is_leader);
        let _ = tokio::time::timeout(Duration::from_secs(3), self.task).await;
    }
}

/// This replica's identity: the pod name when known, else host name and process id.
pub fn identity() -> String {
    if let Ok(pod) = std::env::var("POD_NAME")
        && !pod.is_empty()
    {
        return pod;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}-{}", host.trim(), std::process::id())
}

/// Runs the controller (under the Lease when `election` is given) until `shutdown`.
pub async fn run(
    client: kube::Client,
    config: crate::controller::Config,
    telemetry: Arc<crate::telemetry::Telemetry>,
    ready: Arc<AtomicBool>,
    election: Option<Election>,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    tokio::pin!(shutdown);
    let mut candidate = None;
    if let Some(election) = election {
        tracing::info!(lease = %election.lease_name, namespace = %election.namespace, identity = %election.identity, "joining leader election");
        candidate = Some(election.join(client.clone()).await?);
    }
    loop {
        if let Some(c) = candidate.as_mut() {
            // A standby is healthy and ready; it just does not act.
            ready.store(true, std::sync::atomic::Ordering::SeqCst);
            tokio::select! {
                leading = c.leading() => if !leading { anyhow::bail!("leader election stopped") },
                _ = &mut shutdown => break,
            }
            tracing::info!("leading");
            ready.store(false, std::sync::atomic::Ordering::SeqCst);
        }
        match lead(
            &client,
            &config,
            &telemetry,
            &ready,
            candidate.as_ref(),
            &mut shutdown,
        )
        .await
        {
            Term::Shutdown => break,
            Term::LostLease => {
                tracing::warn!("lost the leader Lease: stopped acting, standing by");
            }
            Term::Stopped => anyhow::bail!("the controller stopped unexpectedly"),
        }
    }
    if let Some(c) = candidate {
        c.release().await;
    }
    Ok(())
}

/// How a term of running the controller ended.
enum Term {
    Shutdown,
    LostLease,
    Stopped,
}

/// Runs the controller until shutdown, the loss of the Lease, or its own end. Each term
/// starts from fresh watches, so a replica that leads again acts on current state only.
async fn lead(
    client: &kube::Client,
    config: &crate::controller::Config,
    telemetry: &Arc<crate::telemetry::Telemetry>,
    ready: &Arc<AtomicBool>,
    candidate: Option<&Candidate>,
    shutdown: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> Term {
    let lost = candidate.map(|c| Candidate::lost(c.is_leader.clone()));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(crate::controller::run(
        client.clone(),
        config.clone(),
        telemetry.clone(),
        Arc::new(crate::metrics::Prometheus::with_mappings(
            config.hooks.mappings().to_vec(),
        )),
        ready.clone(),
        async move {
            let _ = stop_rx.await;
        },
    ));
    tokio::pin!(controller);
    let lost = async move {
        match lost {
            Some(l) => l.await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(lost);
    let term = tokio::select! {
        r = &mut controller => {
            if let Err(e) = r {
                tracing::error!(error = %e, "the controller stopped unexpectedly");
            }
            return Term::Stopped;
        }
        _ = shutdown.as_mut() => {
            tracing::info!("shutting down");
            Term::Shutdown
        }
        _ = &mut lost => Term::LostLease,
    };
    let _ = stop_tx.send(());
    // In-flight reconciles get a moment to finish; an unreachable API server must not
    // hold the process hostage. Past that, the task is aborted: a replica without the
    // Lease must not act.
    if tokio::time::timeout(Duration::from_secs(5), &mut controller)
        .await
        .is_err()
    {
        controller.abort();
    }
    term
}

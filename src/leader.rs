//! Leader election on a coordination.k8s.io Lease (kube-lease-manager). Only the holder
//! of the Lease runs the controller; a replica that loses the Lease stops acting at once
//! and stands by, competing again with fresh watches when it next wins the Lease. Because every step's
//! start is in the Canary's status, the new leader neither repeats nor rushes a step.

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

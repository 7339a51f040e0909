//! Kubelet stand-in: makes Deployments behave as if their pods ran.
//!
//! It watches every Deployment and writes the status a real deployment
//! controller and kubelets would report (see [`rollout`] for the model),
//! through the status subresource and only when the status really changes.
//! Pods of a new template or a scale-up become ready after
//! [`KubeletConfig::ready_delay`]; a template whose containers set
//! `SANDBOX_NEVER_READY=true` never does, and its rollout fails with
//! `ProgressDeadlineExceeded` after the Deployment's `progressDeadlineSeconds`.
//! The Deployment annotation [`READY_REPLICAS_ANNOTATION`] (`"2"`) lets only that many
//! of its current pods get ready, as if the others failed their readiness probe; it
//! can be changed at any time.
//!
//! It talks to the API server only through a kube `Client`, so it runs as well
//! against a real API server that has no controller manager.

mod rollout;
mod status;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use rollout::Track;

/// Environment variable that makes a revision's pods never ready.
pub const NEVER_READY_ENV: &str = "SANDBOX_NEVER_READY";

/// Annotation of a Deployment: at most this many of its current pods are ready.
pub const READY_REPLICAS_ANNOTATION: &str = "kubelet.sandbox.serin.dev/ready-replicas";

/// Field manager of the stand-in's status writes.
const FIELD_MANAGER: &str = "serin-sandbox-kubelet";

/// Pause before writing a status again after a failed write.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Settings of the kubelet stand-in.
#[derive(Clone, Debug)]
pub struct KubeletConfig {
    /// Time between a template change or a scale-up and the pods being ready.
    pub ready_delay: Duration,
}

impl Default for KubeletConfig {
    fn default() -> Self {
        Self {
            ready_delay: Duration::from_millis(300),
        }
    }
}

/// `namespace/name` of a Deployment.
type Key = (String, String);

/// Runs the stand-in until `shutdown` completes.
pub async fn run(
    client: Client,
    cfg: KubeletConfig,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let api: Api<Deployment> = Api::all(client.clone());
    let mut events = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let (wake_tx, mut wake_rx) = mpsc::unbounded_channel();
    let mut kubelet = Kubelet {
        client,
        cfg,
        wake_tx,
        deployments: HashMap::new(),
        listed: None,
    };
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            event = events.next() => match event {
                Some(Ok(event)) => kubelet.on_event(event).await,
                // The backoff retries the watch; a failure is worth a line, not an exit.
                Some(Err(error)) => tracing::warn!(%error, "deployment watch failed"),
                None => break,
            },
            Some(key) = wake_rx.recv() => kubelet.reconcile(&key).await,
        }
    }
    kubelet.stop_timers();
    Ok(())
}

struct Kubelet {
    client: Client,
    cfg: KubeletConfig,
    wake_tx: mpsc::UnboundedSender<Key>,
    deployments: HashMap<Key, Tracked>,
    /// Deployments seen since the watch started a new list: the others were
    /// deleted while the watch was down.
    listed: Option<HashSet<Key>>,
}

struct Tracked {
    latest: Deployment,
    track: Track,
    timer: Option<AbortHandle>,
    /// Status written and not yet seen back in a watch event: an older event
    /// arriving meanwhile must not cause a second write.
    unacknowledged: Option<rollout::Status>,
}

impl Kubelet {
    async fn on_event(&mut self, event: watcher::Event<Deployment>) {
        match event {
            watcher::Event::Apply(d) | watcher::Event::InitApply(d) => {
                let key = (d.namespace().unwrap_or_default(), d.name_any());
                if let Some(listed) = self.listed.as_mut() {
                    listed.insert(key.clone());
                }
                self.remember(key.clone(), d);
                self.reconcile(&key).await;
            }
            watcher::Event::Delete(d) => {
                self.forget(&(d.namespace().unwrap_or_default(), d.name_any()));
            }
            watcher::Event::Init => self.listed = Some(HashSet::new()),
            watcher::Event::InitDone => {
                let listed = self.listed.take().unwrap_or_default();
                let gone: Vec<Key> = self
                    .deployments
                    .keys()
                    .filter(|k| !listed.contains(*k))
                    .cloned()
                    .collect();
                gone.iter().for_each(|key| self.forget(key));
            }
        }
    }

    fn forget(&mut self, key: &Key) {
        if let Some(timer) = self.deployments.remove(key).and_then(|t| t.timer) {
            timer.abort();
        }
    }

    fn remember(&mut self, key: Key, deployment: Deployment) {
        let now = Instant::now();
        let same_object = |t: &Tracked| t.latest.metadata.uid == deployment.metadata.uid;
        match self.deployments.get_mut(&key) {
            Some(tracked) if same_object(tracked) => tracked.latest = deployment,
            // New, or deleted and created again under the same name.
            _ => {
                self.forget(&key);
                let spec = status::spec_of(&deployment);
                let complete = status::shows_complete(&deployment, &spec);
                let track = Track::new(&spec, complete, now);
                let tracked = Tracked {
                    latest: deployment,
                    track,
                    timer: None,
                    unacknowledged: None,
                };
                self.deployments.insert(key, tracked);
            }
        }
    }

    /// Brings one Deployment's status up to date and arms its timer for the
    /// next change that needs no event (end of a delay, a deadline).
    async fn reconcile(&mut self, key: &Key) {
        let Some(tracked) = self.deployments.get_mut(key) else {
            return;
        };
        let now = Instant::now();
        let spec = status::spec_of(&tracked.latest);
        tracked.track.observe(&spec, now);
        tracked.track.settle(&spec, self.cfg.ready_delay, now);
        let desired = tracked.track.status(&spec, now);
        let next = tracked.track.next_change(&spec, self.cfg.ready_delay, now);
        self.arm(key, next);
        let Some(tracked) = self.deployments.get_mut(key) else {
            return;
        };
        let current = status::observed(&tracked.latest);
        if tracked.unacknowledged.as_ref() == Some(&current) {
            tracked.unacknowledged = None;
        }
        if current == desired || tracked.unacknowledged.as_ref() == Some(&desired) {
            return;
        }
        let patch = status::merge_patch(&desired, tracked.latest.status.as_ref());
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), &key.0);
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        match api
            .patch_status(&key.1, &params, &Patch::Merge(&patch))
            .await
        {
            Ok(_) => tracked.unacknowledged = Some(desired),
            // Deleted meanwhile: its Delete event may never come.
            Err(kube::Error::Api(status)) if status.is_not_found() => self.forget(key),
            Err(error) => {
                tracing::warn!(%error, namespace = %key.0, name = %key.1, "status patch failed");
                // No event may follow a failed write: try again on our own.
                let retry = Instant::now() + RETRY_AFTER;
                self.arm(key, Some(next.map_or(retry, |at| at.min(retry))));
            }
        }
    }

    /// Replaces the Deployment's timer by one firing at `at`.
    fn arm(&mut self, key: &Key, at: Option<Instant>) {
        let Some(tracked) = self.deployments.get_mut(key) else {
            return;
        };
        if let Some(timer) = tracked.timer.take() {
            timer.abort();
        }
        if let Some(at) = at {
            let (tx, key) = (self.wake_tx.clone(), key.clone());
            let task = tokio::spawn(async move {
                tokio::time::sleep_until(at).await;
                let _ = tx.send(key);
            });
            tracked.timer = Some(task.abort_handle());
        }
    }

    fn stop_timers(&mut self) {
        for timer in self.deployments.values_mut().filter_map(|t| t.timer.take()) {
            timer.abort();
        }
    }
}

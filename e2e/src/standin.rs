//! What the stand-ins (mesh, autoscalers) share: tasks that end when their stand-in stops,
//! and stores fed from watches.

use std::future::Future;

use futures::{Stream, StreamExt};
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Spawns `task`, ending it when `stop` turns true.
pub(crate) fn spawn_until(
    stop: &watch::Sender<bool>,
    task: impl Future<Output = ()> + Send + 'static,
) -> JoinHandle<()> {
    let mut stopped = stop.subscribe();
    tokio::spawn(async move {
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => {}
            () = task => {}
        }
    })
}

/// Feeds a store from a watch; errors are logged with `who` and retried with backoff.
pub(crate) async fn reflect<K>(
    who: &'static str,
    writer: Writer<K>,
    stream: impl Stream<Item = watcher::Result<watcher::Event<K>>> + Send,
) where
    K: kube::Resource + Clone + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    let events = reflector::reflector(writer, stream).default_backoff();
    events
        .for_each(|event| async move {
            if let Err(error) = event {
                tracing::warn!(%error, kind = std::any::type_name::<K>(), "{who} watch failed");
            }
        })
        .await;
}

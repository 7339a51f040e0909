//! What the stand-ins (mesh, autoscalers) share: tasks that end when their stand-in stops,
//! and stores fed from watches.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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
    reflect_counted(who, writer, stream, Vec::new()).await;
}

/// [`reflect`], also counting every event in `changes`, after the store has taken it:
/// a reader that sees a count unchanged since its last look knows the store is too, and
/// need not read it again.
pub(crate) async fn reflect_counted<K>(
    who: &'static str,
    writer: Writer<K>,
    stream: impl Stream<Item = watcher::Result<watcher::Event<K>>> + Send,
    changes: Vec<Arc<AtomicU64>>,
) where
    K: kube::Resource + Clone + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    let changes = &changes;
    let events = reflector::reflector(writer, stream).default_backoff();
    events
        .for_each(|event| async move {
            match event {
                Ok(_) => changes
                    .iter()
                    .for_each(|c| _ = c.fetch_add(1, Ordering::Release)),
                Err(error) => {
                    tracing::warn!(%error, kind = std::any::type_name::<K>(), "{who} watch failed")
                }
            }
        })
        .await;
}

//! `get` and `status`, once or live. Live views are fed by watches (kube-runtime
//! reflectors): each change redraws at once, and a one-second tick redraws from the
//! same caches so that "next step in 2s" counts down without asking the API server.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};

use super::errors::{PluginError, explain};
use super::render;
use crate::api::Canary;

/// Clears a terminal and puts the cursor home, before each redraw.
const CLEAR: &str = "\x1b[H\x1b[2J";

fn canaries_api(client: &kube::Client, namespace: Option<&str>) -> Api<Canary> {
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// `kubectl serin get [-A] [-w]`.
pub async fn get(
    client: &kube::Client,
    namespace: Option<&str>,
    watch: bool,
) -> Result<(), PluginError> {
    let api = canaries_api(client, namespace);
    let scope = namespace.unwrap_or("(all namespaces)");
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| explain(e, "list", "canaries.serin.dev", scope))?;
    let all = namespace.is_none();
    if !watch {
        let items: Vec<&Canary> = list.items.iter().collect();
        print!("{}", render::table(&items, all, chrono::Utc::now()));
        return Ok(());
    }
    let (store, writer) = reflector::store();
    let changes = reflector::reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .touched_objects()
        .map(|_| ());
    let draw = || {
        let items = store.state();
        let refs: Vec<&Canary> = items.iter().map(AsRef::as_ref).collect();
        render::table(&refs, all, chrono::Utc::now())
    };
    redraw_loop(changes, &store, draw).await;
    Ok(())
}

/// `kubectl serin status NAME [-w]`.
pub async fn status(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    watch: bool,
) -> Result<(), PluginError> {
    let api: Api<Canary> = Api::namespaced(client.clone(), namespace);
    let canary = api
        .get_opt(name)
        .await
        .map_err(|e| explain(e, "get", "canaries.serin.dev", namespace))?
        .ok_or_else(|| PluginError::NoCanary {
            name: name.to_string(),
            namespace: namespace.to_string(),
        })?;
    let events_api: Api<Event> = Api::namespaced(client.clone(), namespace);
    let about = format!("involvedObject.name={name},involvedObject.kind=Canary");
    if !watch {
        // Events are evidence, not essential: a person without `list events` still
        // gets the page.
        let events = events_api
            .list(&ListParams::default().fields(&about))
            .await
            .map(|l| l.items)
            .unwrap_or_default();
        let refs: Vec<&Event> = events.iter().collect();
        print!("{}", render::status_page(&canary, &refs, chrono::Utc::now()));
        return Ok(());
    }
    let (canaries, writer) = reflector::store();
    let canary_changes = reflector::reflector(
        writer,
        watcher(api, watcher::Config::default().fields(&format!("metadata.name={name}"))),
    )
    .default_backoff()
    .touched_objects()
    .map(|_| ());
    let (events, writer) = reflector::store();
    let event_changes = reflector::reflector(
        writer,
        watcher(events_api, watcher::Config::default().fields(&about)),
    )
    .default_backoff()
    .touched_objects()
    .map(|_| ());
    let changes = stream::select(canary_changes, event_changes);
    let draw = || {
        let list = events.state();
        let refs: Vec<&Event> = list.iter().map(AsRef::as_ref).collect();
        match canaries.state().first() {
            Some(c) => render::status_page(c, &refs, chrono::Utc::now()),
            None => format!("Canary {namespace}/{name} is gone.\n"),
        }
    };
    redraw_loop(changes, &canaries, draw).await;
    Ok(())
}

/// Draws once the first list is in, then on every change and every second, until the
/// watch ends (Ctrl-C). Off a terminal, prints a new frame only when the text changed.
async fn redraw_loop<S>(changes: S, ready: &Store<Canary>, draw: impl Fn() -> String)
where
    S: futures::Stream<Item = ()> + Send,
{
    let tty = std::io::stdout().is_terminal();
    let mut changes = std::pin::pin!(changes);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last = String::new();
    let mut synced = false;
    loop {
        tokio::select! {
            change = changes.next() => {
                if change.is_none() {
                    return;
                }
            }
            _ = tick.tick() => {
                if !tty {
                    // Off a terminal only changes are worth a new frame.
                    if !synced { synced = ready.wait_until_ready().await.is_ok(); }
                    continue;
                }
            }
        }
        if !synced {
            synced = ready.wait_until_ready().await.is_ok();
        }
        let frame = draw();
        if frame == last && !tty {
            continue;
        }
        let mut out = std::io::stdout().lock();
        let written = if tty {
            write!(out, "{CLEAR}{frame}")
        } else {
            writeln!(out, "{frame}")
        };
        if written.and_then(|()| out.flush()).is_err() {
            // The reader went away (a closed pipe): nothing more to show.
            return;
        }
        last = frame;
    }
}

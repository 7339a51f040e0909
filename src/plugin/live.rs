//! `get` and `status`, once or live. Live views are fed by watches (kube-runtime
//! reflectors): each change redraws at once, and a one-second tick redraws from the
//! same caches so that "next step in 2s" counts down without asking the API server.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use futures::{Stream, StreamExt, future, stream};
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams};
use kube::runtime::reflector;
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
    let changes = beats(
        watcher(api, watcher::Config::default())
            .default_backoff()
            .reflect(writer),
        true,
    );
    let draw = || {
        let items = store.state();
        let refs: Vec<&Canary> = items.iter().map(AsRef::as_ref).collect();
        render::table(&refs, all, chrono::Utc::now())
    };
    redraw_loop(changes, draw).await;
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
        print!(
            "{}",
            render::status_page(&canary, &refs, chrono::Utc::now())
        );
        return Ok(());
    }
    let (canaries, writer) = reflector::store();
    let by_name = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let canary_changes = beats(
        watcher(api, by_name).default_backoff().reflect(writer),
        true,
    );
    let (events, writer) = reflector::store();
    // The page waits for the Canary's watch only: events are evidence, and a person
    // without `watch events` still gets the page.
    let event_changes = beats(
        watcher(events_api, watcher::Config::default().fields(&about))
            .default_backoff()
            .reflect(writer),
        false,
    );
    let changes = stream::select(canary_changes, event_changes);
    let draw = || {
        let list = events.state();
        let refs: Vec<&Event> = list.iter().map(AsRef::as_ref).collect();
        match canaries.state().first() {
            Some(c) => render::status_page(c, &refs, chrono::Utc::now()),
            None => format!("Canary {namespace}/{name} is gone.\n"),
        }
    };
    redraw_loop(changes, draw).await;
    Ok(())
}

/// What a watch says that matters for the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Beat {
    /// The first list (or a relist) is complete: the cache is whole.
    Synced,
    /// Something changed after that.
    Changed,
}

/// The beats of a reflected watch; `gates` says whether the view waits for its list.
fn beats<K, S>(events: S, gates: bool) -> impl Stream<Item = Beat> + Send
where
    S: Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send,
{
    events.filter_map(move |e| {
        future::ready(match e {
            Ok(watcher::Event::InitDone) if gates => Some(Beat::Synced),
            Ok(watcher::Event::InitDone | watcher::Event::Apply(_) | watcher::Event::Delete(_)) => {
                Some(Beat::Changed)
            }
            // Pages of a list are drawn once it is whole; errors are retried with
            // backoff by the watcher.
            _ => None,
        })
    })
}

/// Draws once the first list is in, then on every change and (on a terminal) every
/// second, until the watch ends (Ctrl-C). Off a terminal, prints a new frame only when
/// the text changed.
async fn redraw_loop<S>(changes: S, draw: impl Fn() -> String)
where
    S: Stream<Item = Beat> + Send,
{
    let tty = std::io::stdout().is_terminal();
    let mut changes = std::pin::pin!(changes);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last = String::new();
    let mut synced = false;
    loop {
        tokio::select! {
            beat = changes.next() => match beat {
                None => return,
                Some(Beat::Synced) => synced = true,
                Some(Beat::Changed) => {}
            },
            _ = tick.tick() => {
                if !tty {
                    // Off a terminal only changes are worth a new frame.
                    continue;
                }
            }
        }
        if !synced {
            continue;
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

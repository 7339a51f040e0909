//! Watch streams: newline-delimited JSON watch events over a chunked response.
//!
//! A watch starts either from a resourceVersion (replaying the kept history after it, or one
//! `ERROR` event with a 410 Status when that is older than the history) or from "now" with a
//! synthetic `ADDED` per current object. Selectors apply to transitions as on a real server
//! (an object that stops matching is `DELETED`, one that starts matching is `ADDED`).
//! Bookmarks go out every second when asked for, and once more when `timeoutSeconds` ends.

use std::borrow::Cow;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use super::read::Filter;
use crate::apiserver::error::{ApiError, ApiResult};
use crate::apiserver::http::response::{As, error_response, render_one, served_as_stored, view};
use crate::apiserver::http::server::{Req, Server, Target};
use crate::apiserver::storage::registry::ResourceDef;
use crate::apiserver::storage::store::{Change, ChangeKind, Feed, Obj, rv_of};
use crate::apiserver::table::IncludeObject;

const BOOKMARK_EVERY: Duration = Duration::from_secs(1);
/// A real server picks 30-60 minutes when the client sets no timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// How one watcher renders and filters events.
struct Watcher {
    def: Arc<ResourceDef>,
    version: String,
    filter: Filter,
    how: As,
    include: IncludeObject,
    bookmarks: bool,
    tx: mpsc::Sender<Bytes>,
    last_rv: u64,
}

enum Start {
    Now {
        objects: Vec<Arc<Obj>>,
        rv: u64,
        initial_end: bool,
    },
    From {
        backlog: Vec<Arc<Change>>,
    },
}

pub fn watch(srv: &Arc<Server>, target: &Target, req: &Req) -> Response {
    match start(srv, target, req) {
        Ok(resp) => resp,
        Err(e) => error_response(&e),
    }
}

fn start(srv: &Arc<Server>, target: &Target, req: &Req) -> ApiResult<Response> {
    let filter = Filter::from_request(target, req)?;
    let since = match req.param("resourceVersion") {
        None | Some("" | "0") => None,
        Some(rv) => Some(
            rv.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?,
        ),
    };
    let send_initial = req.flag("sendInitialEvents");
    let timeout = req
        .param("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs);
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let storage = target.def.storage.clone();
    let (start, receiver) = {
        let mut cluster = srv.lock();
        match (since, send_initial) {
            (Some(rv), false) => match cluster.store.watch_from(&storage, rv) {
                Ok((backlog, receiver)) => (Start::From { backlog }, receiver),
                Err(too_old) => {
                    let msg = format!(
                        "too old resource version: {} ({})",
                        too_old.requested, too_old.floor
                    );
                    let event = json!({"type": "ERROR", "object": ApiError::gone(msg).to_status()});
                    return Ok(stream_response(single(event)));
                }
            },
            _ => {
                let rv = cluster.store.current_rv();
                let (objects, receiver) = cluster.store.watch_now(&storage);
                (
                    Start::Now {
                        objects,
                        rv,
                        initial_end: send_initial,
                    },
                    receiver,
                )
            }
        }
    };
    let watcher = Watcher {
        def: target.def.clone(),
        version: target.version.clone(),
        filter,
        how: As::from_headers(&req.headers),
        include: IncludeObject::from_query(req.param("includeObject")),
        bookmarks: req.flag("allowWatchBookmarks"),
        tx,
        last_rv: since.unwrap_or(0),
    };
    let server = srv.clone();
    tokio::spawn(async move { watcher.run(server, start, receiver, timeout).await });
    Ok(stream_response(rx))
}

fn single(event: Value) -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel(1);
    let mut line = serde_json::to_vec(&event).unwrap_or_default();
    line.push(b'\n');
    let _ = tx.try_send(Bytes::from(line));
    rx
}

fn stream_response(rx: mpsc::Receiver<Bytes>) -> Response {
    let stream = ReceiverStream::new(rx).map(Ok::<Bytes, Infallible>);
    let mut resp = Response::new(Body::from_stream(stream));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

impl Watcher {
    async fn run(mut self, srv: Arc<Server>, start: Start, mut receiver: Feed, timeout: Duration) {
        if !self.send_start(start).await {
            return;
        }
        let mut drops = srv.faults.watch_drops();
        drops.borrow_and_update();
        let mut shutdown = srv.shutdown.clone();
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker =
            tokio::time::interval_at(tokio::time::Instant::now() + BOOKMARK_EVERY, BOOKMARK_EVERY);
        loop {
            tokio::select! {
                change = receiver.recv() => match change {
                    Ok(change) => if !self.on_change(&change).await { return },
                    // A lagging or closed feed ends the stream: the client resumes from its last rv.
                    Err(_) => return,
                },
                _ = ticker.tick(), if self.bookmarks => {
                    if !self.bookmark_now(&srv, &mut receiver).await { return }
                }
                () = &mut deadline => {
                    if self.bookmarks {
                        self.bookmark_now(&srv, &mut receiver).await;
                    }
                    return;
                }
                _ = drops.changed() => return,
                _ = shutdown.changed() => return,
                () = self.tx.closed() => return,
            }
        }
    }

    async fn send_start(&mut self, start: Start) -> bool {
        match start {
            Start::Now {
                objects,
                rv,
                initial_end,
            } => {
                for obj in objects {
                    let served = view(&self.def, &self.version, &obj);
                    if self.filter.matches(&served) && !self.send("ADDED", &obj, served).await {
                        return false;
                    }
                }
                self.last_rv = rv;
                if initial_end {
                    let bookmark = self.bookmark_object(rv, true);
                    return self.send_raw("BOOKMARK", bookmark).await;
                }
                true
            }
            Start::From { backlog } => {
                for change in backlog {
                    if !self.on_change(&change).await {
                        return false;
                    }
                }
                true
            }
        }
    }

    /// Sends what one change means to this watcher (maybe nothing).
    async fn on_change(&mut self, change: &Change) -> bool {
        if change.rv <= self.last_rv {
            return true;
        }
        self.last_rv = change.rv;
        let new = view(&self.def, &self.version, &change.object);
        let now_matches = self.filter.matches(&new);
        let was_matching = change
            .old
            .as_ref()
            .is_some_and(|old| self.filter.matches(&view(&self.def, &self.version, old)));
        let kind = match change.kind {
            ChangeKind::Added if now_matches => "ADDED",
            ChangeKind::Deleted if was_matching || now_matches => "DELETED",
            ChangeKind::Modified => match (was_matching, now_matches) {
                (true, true) => "MODIFIED",
                (false, true) => "ADDED",
                (true, false) => "DELETED",
                (false, false) => return true,
            },
            _ => return true,
        };
        self.send(kind, &change.object, new).await
    }

    /// Catches up with everything published so far, then sends a bookmark at that rv.
    async fn bookmark_now(&mut self, srv: &Server, receiver: &mut Feed) -> bool {
        let published = srv.published.load(Ordering::Acquire);
        loop {
            match receiver.try_recv() {
                Ok(change) => {
                    if !self.on_change(&change).await {
                        return false;
                    }
                }
                Err(broadcast::error::TryRecvError::Empty) => break,
                Err(_) => return false,
            }
        }
        self.last_rv = self.last_rv.max(published);
        let bookmark = self.bookmark_object(self.last_rv, false);
        self.send_raw("BOOKMARK", bookmark).await
    }

    /// A bookmark carries only kind, apiVersion and metadata.resourceVersion.
    fn bookmark_object(&self, rv: u64, initial_end: bool) -> Value {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let (kind, api_version) = match self.def.view {
            crate::apiserver::storage::registry::View::CoreEvent => {
                ("Event".to_string(), "v1".to_string())
            }
            crate::apiserver::storage::registry::View::Plain => {
                (self.def.kind.clone(), self.def.api_version(&self.version))
            }
        };
        json!({"kind": kind, "apiVersion": api_version, "metadata": meta})
    }

    /// Sends one object; served as stored, its cached encoding is spliced in as is.
    async fn send(&mut self, kind: &str, stored: &Obj, served: Cow<'_, Value>) -> bool {
        self.last_rv = self.last_rv.max(rv_of(&served));
        if served_as_stored(&self.def, &self.version, self.how) {
            let json = stored.json();
            let mut line = Vec::with_capacity(json.len() + 32);
            line.extend_from_slice(format!("{{\"type\":\"{kind}\",\"object\":").as_bytes());
            line.extend_from_slice(json);
            line.extend_from_slice(b"}\n");
            return self.tx.send(Bytes::from(line)).await.is_ok();
        }
        let object = render_one(
            &self.def,
            &self.version,
            served.into_owned(),
            self.how,
            self.include,
        );
        self.send_raw(kind, object).await
    }

    async fn send_raw(&self, kind: &str, object: Value) -> bool {
        let mut line =
            serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
        line.push(b'\n');
        self.tx.send(Bytes::from(line)).await.is_ok()
    }
}

//! An alert receiver: records every JSON POST, whatever its path, and recognises the
//! chat formats serin sends (Slack and its Discord and Rocket.Chat variants, Teams
//! MessageCards, Google Chat cards), so tests can assert on what a channel would show.
//!
//! Point an AlertProvider's `address` at `<url>/<anything>`; read what arrived with
//! [`Receiver::received`] or `GET /received` (a JSON list), forget it with
//! `DELETE /received`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::get;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One POST as it arrived.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Received {
    /// Request path, e.g. `/slack` or `/teams`.
    pub path: String,
    /// `slack`, `discord` (Slack format at a `/slack` path), `msteams`, `gchat` or `json`.
    pub format: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    pub body: Value,
}

impl Received {
    /// The alert's main text in any format: Slack's attachment text, the Teams activity
    /// title, the first Google Chat paragraph, else the whole body.
    pub fn text(&self) -> String {
        let b = &self.body;
        let found = match self.format.as_str() {
            "slack" | "discord" => b["attachments"][0]["text"].as_str(),
            "msteams" => b["sections"][0]["activityTitle"].as_str(),
            "gchat" => b["cards"][0]["sections"][0]["widgets"][0]["textParagraph"]["text"].as_str(),
            _ => None,
        };
        found.map_or_else(|| b.to_string(), str::to_owned)
    }
}

/// What the body's shape says it is.
fn format_of(path: &str, body: &Value) -> &'static str {
    if body.get("attachments").is_some() {
        if path.ends_with("/slack") {
            "discord"
        } else {
            "slack"
        }
    } else if body.get("@type").and_then(Value::as_str) == Some("MessageCard") {
        "msteams"
    } else if body.get("cards").is_some() {
        "gchat"
    } else {
        "json"
    }
}

type Log = Arc<Mutex<Vec<Received>>>;

/// A running receiver.
pub struct Receiver {
    addr: SocketAddr,
    log: Log,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Listens on `listen` (port 0 picks one) and records.
    pub async fn start(listen: SocketAddr) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let log = Log::default();
        let app = Router::new()
            .route("/received", get(list).delete(clear))
            .fallback(record)
            .with_state(log.clone());
        let (stop, mut stopped) = watch::channel(false);
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = stopped.wait_for(|s| *s).await;
        });
        let task = tokio::spawn(async move {
            if let Err(error) = serve.await {
                tracing::warn!(%error, "alert receiver failed");
            }
        });
        Ok(Receiver {
            addr,
            log,
            stop,
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:39002`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything received so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Waits until something `matches` arrived, up to `timeout`; returns it.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        matches: impl Fn(&Received) -> bool,
    ) -> Option<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(found) = self.received().into_iter().find(&matches) {
                return Some(found);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Forgets what was received.
    pub fn clear(&self) {
        if let Ok(mut log) = self.log.lock() {
            log.clear();
        }
    }

    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

async fn record(State(log): State<Log>, uri: Uri, headers: HeaderMap, body: Bytes) -> StatusCode {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let path = uri.path().to_owned();
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let entry = Received {
        format: format_of(&path, &body).to_owned(),
        path,
        authorization,
        body,
    };
    tracing::info!(path = %entry.path, format = %entry.format, "alert received");
    if let Ok(mut log) = log.lock() {
        log.push(entry);
    }
    StatusCode::OK
}

async fn list(State(log): State<Log>) -> axum::Json<Vec<Received>> {
    axum::Json(log.lock().map(|l| l.clone()).unwrap_or_default())
}

async fn clear(State(log): State<Log>) -> StatusCode {
    if let Ok(mut log) = log.lock() {
        log.clear();
    }
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn records_each_format_and_lists_it() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let r = Receiver::start(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let client = reqwest::Client::new();
        let bodies = [
            (
                "/hooks/slack-team",
                json!({"attachments": [{"text": "slack says"}]}),
            ),
            (
                "/api/webhooks/1/slack",
                json!({"attachments": [{"text": "discord says"}]}),
            ),
            (
                "/teams",
                json!({"@type": "MessageCard", "sections": [{"activityTitle": "teams says"}]}),
            ),
            (
                "/chat",
                json!({"cards": [{"sections": [{"widgets": [{"textParagraph": {"text": "gchat says"}}]}]}]}),
            ),
            ("/events", json!({"name": "podinfo"})),
        ];
        for (path, body) in &bodies {
            let sent = client
                .post(format!("{}{path}", r.url()))
                .bearer_auth("t")
                .json(body)
                .send();
            assert_eq!(sent.await.unwrap().status().as_u16(), 200);
        }
        let got = r.received();
        let formats: Vec<&str> = got.iter().map(|g| g.format.as_str()).collect();
        assert_eq!(formats, ["slack", "discord", "msteams", "gchat", "json"]);
        assert_eq!(got[2].text(), "teams says");
        assert_eq!(got[3].text(), "gchat says");
        assert_eq!(got[0].authorization.as_deref(), Some("Bearer t"));
        let listed: Value = client
            .get(format!("{}/received", r.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(listed.as_array().map(Vec::len), Some(5));
        assert_eq!(listed[1]["body"]["attachments"][0]["text"], "discord says");
        client
            .delete(format!("{}/received", r.url()))
            .send()
            .await
            .unwrap();
        assert!(r.received().is_empty());
        let bad = client
            .post(format!("{}/x", r.url()))
            .body("not json")
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status().as_u16(), 400);
        r.shutdown().await;
    }
}

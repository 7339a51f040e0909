//! The loadtester stand-in over HTTP: gates, tasks, dedupe, errors.

use serde_json::{Value, json};

use super::*;
use crate::mesh::MeshLoad;

async fn start() -> (LoadTester, MeshLoad, reqwest::Client) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mesh = MeshLoad::default();
    let lt = LoadTester::start(LoadTesterConfig::default(), Some(mesh.clone()))
        .await
        .unwrap();
    (lt, mesh, reqwest::Client::new())
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> (u16, String) {
    let response = client.post(url).json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

fn canary(metadata: Value) -> Value {
    json!({"name": "podinfo", "namespace": "test", "phase": "Progressing", "checksum": "c", "metadata": metadata})
}

#[tokio::test]
async fn gates_start_closed_and_follow_open_and_close() {
    let (lt, _, client) = start().await;
    let url = |path: &str| format!("{}{path}", lt.url().trim_end_matches('/'));
    let c = canary(json!({}));
    assert_eq!(
        post(&client, url("/gate/check"), c.clone()).await,
        (403, "Forbidden".into())
    );
    assert_eq!(post(&client, url("/gate/open"), c.clone()).await.0, 202);
    assert_eq!(
        post(&client, url("/gate/check"), c.clone()).await,
        (200, "Approved".into())
    );
    assert!(lt.gates().is_open("podinfo.test"));
    // The rollback gate of the same canary is its own.
    assert_eq!(
        post(&client, url("/rollback/check"), c.clone()).await.0,
        403
    );
    assert_eq!(post(&client, url("/rollback/open"), c.clone()).await.0, 202);
    assert_eq!(
        post(&client, url("/rollback/check"), c.clone()).await.0,
        200
    );
    assert_eq!(post(&client, url("/gate/close"), c.clone()).await.0, 202);
    assert_eq!(post(&client, url("/gate/check"), c.clone()).await.0, 403);
    assert_eq!(
        post(&client, url("/rollback/check"), c.clone()).await.0,
        200
    );
    assert_eq!(
        post(&client, url("/gate/approve"), c.clone()).await,
        (200, "OK".into())
    );
    assert_eq!(
        post(&client, url("/gate/halt"), c.clone()).await,
        (403, "Forbidden".into())
    );
    assert_eq!(
        post(&client, url("/gate/check"), json!("nonsense")).await.0,
        400
    );
    let health = client.get(url("/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    lt.shutdown().await;
}

#[tokio::test]
async fn cmd_runs_in_the_background_once_while_running() {
    let (lt, _, client) = start().await;
    let body = canary(json!({"cmd": "sleep 2"}));
    assert_eq!(post(&client, lt.url(), body.clone()).await.0, 202);
    assert_eq!(post(&client, lt.url(), body.clone()).await.0, 202);
    assert_eq!(lt.started_commands(), ["sleep 2"]);
    let other = json!({"name": "other", "namespace": "test", "phase": "Progressing", "checksum": "c", "metadata": {"type": "cmd", "cmd": "sleep 2"}});
    assert_eq!(post(&client, lt.url(), other).await.0, 202);
    assert_eq!(lt.started_commands().len(), 2);
    lt.shutdown().await;
}

#[tokio::test]
async fn requests_are_recorded_with_their_path_and_body() {
    let (lt, _, client) = start().await;
    let body = canary(json!({"cmd": "sleep 1"}));
    post(&client, lt.url(), body.clone()).await;
    let check = format!("{}gate/check", lt.url());
    post(&client, check, body.clone()).await;
    assert_eq!(
        lt.requests(),
        [
            Request {
                path: "/".into(),
                body: body.clone()
            },
            Request {
                path: "/gate/check".into(),
                body
            }
        ]
    );
    lt.shutdown().await;
}

#[tokio::test]
async fn other_commands_run_in_a_shell_in_the_background() {
    let (lt, _, client) = start().await;
    let marker = std::env::temp_dir().join(format!("serin-lt-{}", uuid::Uuid::new_v4()));
    let cmd = format!("sleep 0.2 && touch {}", marker.display());
    assert_eq!(
        post(&client, lt.url(), canary(json!({"cmd": cmd}))).await.0,
        202
    );
    assert!(!marker.exists(), "answered before the command finished");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !marker.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "command did not run"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = std::fs::remove_file(&marker);
    lt.shutdown().await;
}

#[tokio::test]
async fn hey_sends_its_load_through_the_mesh() {
    let (lt, mesh, client) = start().await;
    let cmd = "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/";
    let body = canary(json!({"type": "cmd", "cmd": cmd}));
    assert_eq!(post(&client, lt.url(), body).await.0, 202);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let active = loop {
        let active = mesh.active(tokio::time::Instant::now());
        if !active.is_empty() || tokio::time::Instant::now() > deadline {
            break active;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(active.len(), 1);
    assert_eq!(
        (active[0].host.as_str(), active[0].rps),
        ("podinfo-canary.test", 20.0)
    );
    lt.shutdown().await;
}

#[tokio::test]
async fn bash_blocks_and_answers_with_its_output() {
    let (lt, _, client) = start().await;
    let ok = canary(json!({"type": "bash", "cmd": "echo ready", "returnCmdOutput": "true"}));
    assert_eq!(post(&client, lt.url(), ok).await, (200, "ready\n".into()));
    let quiet = canary(json!({"type": "bash", "cmd": "echo ready"}));
    assert_eq!(post(&client, lt.url(), quiet).await, (200, String::new()));
    let fail = canary(json!({"type": "bash", "cmd": "echo broken >&2; exit 3"}));
    let (status, body) = post(&client, lt.url(), fail).await;
    assert_eq!(status, 500);
    assert!(
        body.starts_with("command echo broken >&2; exit 3 failed: broken"),
        "{body}"
    );
    assert!(body.contains("exit status: 3"), "{body}");
    lt.shutdown().await;
}

#[tokio::test]
async fn malformed_tasks_are_400() {
    let (lt, _, client) = start().await;
    let none = canary(json!({}));
    assert_eq!(
        post(&client, lt.url(), none).await,
        (400, "metadata not found in payload".into())
    );
    let unknown = canary(json!({"type": "ngrinder", "cmd": "x"}));
    assert_eq!(
        post(&client, lt.url(), unknown).await,
        (400, "unknown task type ngrinder".into())
    );
    let no_cmd = canary(json!({"type": "cmd"}));
    assert_eq!(
        post(&client, lt.url(), no_cmd).await,
        (400, "cmd not found in metadata".into())
    );
    lt.shutdown().await;
}

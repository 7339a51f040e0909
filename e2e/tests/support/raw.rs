//! Raw HTTP requests through a kube `Client` (so they carry the kubeconfig's
//! credentials against a real cluster too), for what typed `Api` calls hide:
//! status codes, headers, Table responses, JSON patch, whole watch streams.

use anyhow::{Context, Result};
use kube::Client;
use kube::client::Body;
use serde_json::Value;

/// A response: status code and body (JSON when it parses, else a string).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub version: http::Version,
    pub headers: http::HeaderMap,
    pub body: Value,
    pub text: String,
}

/// Sends `method path` with an optional body of `content_type` and `accept`.
pub async fn send(
    client: &Client,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: Option<&Value>,
    accept: Option<&str>,
) -> Result<Reply> {
    let mut req = http::Request::builder().method(method).uri(path);
    if let Some(ct) = content_type {
        req = req.header(http::header::CONTENT_TYPE, ct);
    }
    if let Some(accept) = accept {
        req = req.header(http::header::ACCEPT, accept);
    }
    let bytes = match body {
        Some(v) => serde_json::to_vec(v)?,
        None => Vec::new(),
    };
    let req = req
        .body(Body::from(bytes))
        .context("building the request")?;
    let res = client
        .send(req)
        .await
        .with_context(|| format!("{method} {path}"))?;
    let status = res.status().as_u16();
    let (version, headers) = (res.version(), res.headers().clone());
    let bytes = res.into_body().collect_bytes().await?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()));
    Ok(Reply {
        status,
        version,
        headers,
        body,
        text,
    })
}

/// `GET path` with an `Accept` header.
pub async fn get(client: &Client, path: &str, accept: Option<&str>) -> Result<Reply> {
    send(client, "GET", path, None, None, accept).await
}

/// `POST path` with a JSON body.
pub async fn post(client: &Client, path: &str, body: &Value) -> Result<Reply> {
    send(
        client,
        "POST",
        path,
        Some("application/json"),
        Some(body),
        None,
    )
    .await
}

/// `PATCH path` with a JSON patch (RFC 6902).
pub async fn json_patch(client: &Client, path: &str, ops: &Value) -> Result<Reply> {
    send(
        client,
        "PATCH",
        path,
        Some("application/json-patch+json"),
        Some(ops),
        None,
    )
    .await
}

/// A watch request that ends by itself (`timeoutSeconds` in `path`): its
/// status and every event of the stream.
pub async fn watch_events(client: &Client, path: &str) -> Result<(u16, Vec<Value>)> {
    let reply = get(client, path, None).await?;
    if reply.status != 200 {
        return Ok((reply.status, vec![reply.body]));
    }
    // Over HTTP/1.1 a watch is a chunked stream (HTTP/2 has no such header).
    if reply.version == http::Version::HTTP_11 {
        let chunked = reply
            .headers
            .get(http::header::TRANSFER_ENCODING)
            .is_some_and(|v| v == "chunked");
        anyhow::ensure!(
            chunked,
            "watch {path} is not a chunked stream: {:?}",
            reply.headers
        );
    }
    let events = reply
        .text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>();
    Ok((
        reply.status,
        events.with_context(|| format!("watch stream of {path}: {}", reply.text))?,
    ))
}

/// The Table media type kubectl asks for.
pub const TABLE_ACCEPT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

//! The HTTP clients webhook calls share, and host mappings.
//!
//! A host mapping `flagger-loadtester.test=127.0.0.1:39001` sends every call to that
//! host name to that address instead of asking DNS. It exists for serin running outside
//! a cluster (the sandbox, a laptop): a user's manifest keeps its in-cluster URL
//! `http://flagger-loadtester.test/`, and one flag points it at a stand-in on loopback.
//!
//! How: the client resolves the name with reqwest's DNS override, which connects to the
//! mapped port when the URL names none; when the URL names a port (`:8080`), [`HookClients::url`]
//! replaces it with the mapped one. The host name stays in the URL, so the `Host` header
//! and TLS server name are the manifest's. Binding port 80 on a loopback alias was the
//! alternative; it needs root and collides between parallel sandboxes, so serin maps ports.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;

use reqwest::{Client, Url};
use tokio::sync::Semaphore;

/// Webhook calls in flight at once across all Canaries; more wait for a permit, so a
/// burst of slow hooks cannot exhaust sockets, and no single Canary's hook blocks the
/// others' reconciles (calls run beside them, never inside them).
pub const MAX_CONCURRENT_CALLS: usize = 64;

/// `host=ip:port`: calls to `host` go to `ip:port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostMapping {
    /// The host name as written in URLs, lower case.
    pub host: String,
    /// Where calls to it go.
    pub addr: SocketAddr,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "invalid host mapping {0:?}: expected HOST=IP:PORT, e.g. flagger-loadtester.test=127.0.0.1:39001"
)]
pub struct HostMappingError(pub String);

impl FromStr for HostMapping {
    type Err = HostMappingError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || HostMappingError(text.to_owned());
        let (host, addr) = text.split_once('=').ok_or_else(err)?;
        let host = host.trim();
        if host.is_empty() || host.contains(['/', ':', ' ']) {
            return Err(err());
        }
        let addr = addr.trim().parse().map_err(|_| err())?;
        Ok(HostMapping {
            host: host.to_ascii_lowercase(),
            addr,
        })
    }
}

/// Installs rustls' ring provider unless one is installed. reqwest is built without a
/// provider; serin's binary installs ring at start, and doing it before every client
/// build too (a no-op then) keeps library callers and tests working.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client for webhook and alert calls: rustls, the host mappings, and certificate
/// checks off only when `accept_invalid_certs` (a hook's `disableTLS`).
pub fn build_client(
    mappings: &[HostMapping],
    accept_invalid_certs: bool,
) -> reqwest::Result<Client> {
    install_crypto_provider();
    let mut builder = Client::builder()
        .user_agent(concat!("serin/", env!("CARGO_PKG_VERSION")))
        .tls_danger_accept_invalid_certs(accept_invalid_certs);
    for mapping in mappings {
        builder = builder.resolve(&mapping.host, mapping.addr);
    }
    builder.build()
}

/// What every webhook call shares: a verifying client, a non-verifying one for
/// `disableTLS` hooks, the host mappings and the concurrency bound. Cheap to clone.
#[derive(Clone, Debug)]
pub struct HookClients {
    verified: Client,
    insecure: Client,
    mappings: Arc<[HostMapping]>,
    permits: Arc<Semaphore>,
}

impl HookClients {
    /// Builds both clients with the given mappings.
    pub fn new(mappings: Vec<HostMapping>) -> reqwest::Result<Self> {
        Ok(HookClients {
            verified: build_client(&mappings, false)?,
            insecure: build_client(&mappings, true)?,
            mappings: mappings.into(),
            permits: Arc::new(Semaphore::new(MAX_CONCURRENT_CALLS)),
        })
    }

    /// The client for a hook with or without `disableTLS`.
    pub fn client(&self, disable_tls: bool) -> &Client {
        if disable_tls {
            &self.insecure
        } else {
            &self.verified
        }
    }

    /// The host mappings in use.
    pub fn mappings(&self) -> &[HostMapping] {
        &self.mappings
    }

    /// Parses a hook's URL and applies the mapping's port when the URL names one.
    /// The error text says why the URL cannot be called.
    pub fn url(&self, raw: &str) -> Result<Url, String> {
        let mut url = Url::parse(raw).map_err(|e| format!("invalid URL {raw:?}: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "invalid URL {raw:?}: the scheme is not http or https"
            ));
        }
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let mapped = self.mappings.iter().find(|m| m.host == host);
        if let (Some(mapping), Some(_)) = (mapped, url.port()) {
            // Without an explicit port the DNS override already supplies the mapped one.
            let _ = url.set_port(Some(mapping.addr.port()));
        }
        Ok(url)
    }

    /// Waits for a slot among the calls in flight.
    pub(crate) async fn permit(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.permits.acquire().await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_mappings_parse_and_refuse() {
        let m: HostMapping = "Flagger-Loadtester.test=127.0.0.1:39001".parse().unwrap();
        assert_eq!(m.host, "flagger-loadtester.test");
        assert_eq!(m.addr, SocketAddr::from(([127, 0, 0, 1], 39001)));
        for bad in [
            "",
            "host",
            "=127.0.0.1:1",
            "h=127.0.0.1",
            "h:80=127.0.0.1:1",
            "h=x:1",
        ] {
            assert!(bad.parse::<HostMapping>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn mapped_urls_keep_their_host_and_take_the_mapped_port() {
        let m: HostMapping = "flagger-loadtester.test=127.0.0.1:39001".parse().unwrap();
        let clients = HookClients::new(vec![m]).unwrap();
        let plain = clients
            .url("http://flagger-loadtester.test/gate/check")
            .unwrap();
        assert_eq!(plain.as_str(), "http://flagger-loadtester.test/gate/check");
        let ported = clients.url("http://flagger-loadtester.test:8080/").unwrap();
        assert_eq!(ported.as_str(), "http://flagger-loadtester.test:39001/");
        let other = clients.url("http://other.test:8080/").unwrap();
        assert_eq!(other.port(), Some(8080));
        assert!(clients.url("ftp://x/").is_err());
        assert!(clients.url("not a url").is_err());
    }
}

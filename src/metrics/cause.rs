//! Why a query could not be sent or answered, in words that name the real cause.
//!
//! The Prometheus client reports every transport failure as "failed to send request to
//! server": the same text for a refused connection, a DNS failure and a timeout. The
//! cause is further down the error's source chain (reqwest, hyper, the resolver, the
//! socket); this walks it and names what it finds.

use std::error::Error as StdError;
use std::io::ErrorKind;
use std::time::Duration;

/// Describes `err`, raised by a query to `address` with the given timeout.
pub fn describe(address: &str, err: &(dyn StdError + 'static), timeout: Duration) -> String {
    let mut chain: Vec<&(dyn StdError + 'static)> = Vec::new();
    let mut current = Some(err);
    while let Some(e) = current {
        chain.push(e);
        current = e.source();
    }
    for e in &chain {
        if let Some(r) = e.downcast_ref::<reqwest::Error>() {
            if r.is_timeout() {
                return format!("timeout after {} s querying {address}", timeout.as_secs());
            }
            if let Some(status) = r.status() {
                return format!("HTTP {status} from {address}");
            }
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            match io.kind() {
                ErrorKind::ConnectionRefused => return format!("connection refused to {address}"),
                ErrorKind::TimedOut => {
                    return format!("timeout after {} s querying {address}", timeout.as_secs());
                }
                _ => {}
            }
        }
    }
    let texts: Vec<String> = chain.iter().map(|e| e.to_string()).collect();
    let all = texts.join(": ").to_lowercase();
    if all.contains("dns error") || all.contains("failed to lookup address") {
        return format!("DNS name {} not found", host(address));
    }
    if all.contains("connection refused") {
        return format!("connection refused to {address}");
    }
    // Nothing recognised: the whole chain, each cause once.
    let mut seen: Vec<&str> = Vec::new();
    for t in &texts {
        if !seen.iter().any(|s| s.contains(t.as_str())) {
            seen.push(t);
        }
    }
    format!("{address}: {}", seen.join(": "))
}

/// The host part of an address like `http://prometheus.x:9090/prefix`.
fn host(address: &str) -> &str {
    let rest = address.split_once("://").map_or(address, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match authority.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => authority,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapped(&'static str, Box<dyn StdError + 'static>);
    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl StdError for Wrapped {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(self.1.as_ref())
        }
    }

    fn wrapped(inner: impl StdError + 'static) -> Wrapped {
        Wrapped("failed to send request to server", Box::new(inner))
    }

    const AT: &str = "http://prometheus.x:9090";
    const FIVE: Duration = Duration::from_secs(5);

    #[test]
    fn a_refused_connection_is_named() {
        let e = wrapped(std::io::Error::from(ErrorKind::ConnectionRefused));
        assert_eq!(
            describe(AT, &e, FIVE),
            "connection refused to http://prometheus.x:9090"
        );
    }

    #[test]
    fn a_timeout_is_named_with_its_length() {
        let e = wrapped(std::io::Error::from(ErrorKind::TimedOut));
        assert_eq!(
            describe(AT, &e, FIVE),
            "timeout after 5 s querying http://prometheus.x:9090"
        );
    }

    #[test]
    fn a_dns_failure_names_the_host() {
        let e = wrapped(std::io::Error::other(
            "dns error: failed to lookup address information",
        ));
        assert_eq!(describe(AT, &e, FIVE), "DNS name prometheus.x not found");
    }

    #[test]
    fn anything_else_shows_the_whole_chain_once() {
        let e = wrapped(std::io::Error::other("tls handshake eof"));
        assert_eq!(
            describe(AT, &e, FIVE),
            "http://prometheus.x:9090: failed to send request to server: tls handshake eof"
        );
    }

    #[test]
    fn hosts_are_read_from_addresses() {
        assert_eq!(host("http://a.b:9090/x"), "a.b");
        assert_eq!(host("https://u:p@a.b/x"), "a.b");
        assert_eq!(host("a.b"), "a.b");
    }
}

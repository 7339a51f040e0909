//! Request classes: shares of every host's traffic that carry given headers,
//! cookies, method, path or query parameters, so routes matching on them
//! (A/B testing) receive traffic. Each class is its own source workload in
//! the metrics, so queries can tell matched traffic from the rest.
//!
//! Written on the command line as `ITEM[,ITEM...]:SHARE`, where an item is
//! `NAME=VALUE` or `header:NAME=VALUE` (a header), `cookie:NAME=VALUE`,
//! `uri:/PATH`, `query:NAME=VALUE`, `method:METHOD` or `source:WORKLOAD`;
//! e.g. `x-canary=insider:0.1` or `cookie:canary=always,uri:/api:0.25`.

use std::collections::BTreeMap;
use std::str::FromStr;

use super::matching::Request;
use super::metrics::SOURCE_WORKLOAD;

/// A share of every host's traffic, with what its requests carry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrafficClass {
    pub headers: BTreeMap<String, String>,
    /// Sent in the `cookie` header, after any `cookie` of `headers`.
    pub cookies: BTreeMap<String, String>,
    /// Default `GET`.
    pub method: Option<String>,
    /// Default `/`.
    pub path: Option<String>,
    pub query: BTreeMap<String, String>,
    /// `source_workload` (and `source_app`, `source_canonical_service`) of
    /// the class's requests; default `loadgenerator-N`, N counting the
    /// configured classes from 1. The rest of the traffic is `loadgenerator`.
    pub source: Option<String>,
    /// Fraction (0..=1) of each host's requests.
    pub share: f64,
}

impl TrafficClass {
    /// The request this class sends, before a client adds its cookies.
    pub fn request(&self) -> Request {
        let mut headers: BTreeMap<String, String> = self
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        if !self.cookies.is_empty() {
            let pairs: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            append_cookie(&mut headers, &pairs.join("; "));
        }
        Request {
            method: self.method.clone().unwrap_or_else(|| "GET".into()),
            path: self.path.clone().unwrap_or_else(|| "/".into()),
            query: self.query.clone(),
            headers,
        }
    }
}

/// Adds `pairs` to the request's `cookie` header, as a browser joins cookies.
pub fn append_cookie(headers: &mut BTreeMap<String, String>, pairs: &str) {
    match headers.get_mut("cookie") {
        Some(existing) if !existing.is_empty() => {
            existing.push_str("; ");
            existing.push_str(pairs);
        }
        _ => {
            headers.insert("cookie".into(), pairs.to_owned());
        }
    }
}

impl FromStr for TrafficClass {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let usage = |why: &str| {
            format!(
                "{why} in `{text}`: expected ITEM[,ITEM...]:SHARE, an item being NAME=VALUE, \
                 header:NAME=VALUE, cookie:NAME=VALUE, uri:/PATH, query:NAME=VALUE, \
                 method:METHOD or source:WORKLOAD"
            )
        };
        let (items, share) = text.rsplit_once(':').ok_or_else(|| usage("no share"))?;
        let share: f64 = share
            .trim()
            .parse()
            .map_err(|_| usage("share is no number"))?;
        if !(0.0..=1.0).contains(&share) {
            return Err(usage("share outside 0..=1"));
        }
        let mut class = TrafficClass {
            share,
            ..TrafficClass::default()
        };
        for item in items.split(',').map(str::trim) {
            let pair = |s: &str| match s.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
                _ => Err(usage(&format!("`{item}` is no NAME=VALUE"))),
            };
            let (kind, rest) = item.split_once(':').unwrap_or(("header", item));
            match kind {
                "cookie" => {
                    let (k, v) = pair(rest)?;
                    class.cookies.insert(k, v);
                }
                "query" => {
                    let (k, v) = pair(rest)?;
                    class.query.insert(k, v);
                }
                "uri" if rest.starts_with('/') => class.path = Some(rest.to_owned()),
                "method" if !rest.is_empty() => class.method = Some(rest.to_ascii_uppercase()),
                "source" if !rest.is_empty() => class.source = Some(rest.to_owned()),
                "header" => {
                    let (k, v) = pair(rest)?;
                    class.headers.insert(k, v);
                }
                // A header value may hold a colon: `x-when=12:00`.
                _ if item.contains('=') && !item.starts_with(':') => {
                    let (k, v) = pair(item)?;
                    class.headers.insert(k, v);
                }
                _ => return Err(usage(&format!("`{item}` is no item"))),
            }
        }
        Ok(class)
    }
}

/// The configured classes with the plain remainder, each with its request
/// and source workload: built once per change of the classes, not per tick.
#[derive(Clone, Debug, Default)]
pub struct ClassSet {
    pub classes: Vec<TrafficClass>,
    pub requests: Vec<Request>,
    pub sources: Vec<String>,
}

impl ClassSet {
    pub fn new(configured: &[TrafficClass]) -> ClassSet {
        let mut classes = configured.to_vec();
        let plain = 1.0 - classes.iter().map(|c| c.share).sum::<f64>();
        classes.push(TrafficClass {
            share: plain.max(0.0),
            source: Some(SOURCE_WORKLOAD.to_owned()),
            ..TrafficClass::default()
        });
        let requests = classes.iter().map(TrafficClass::request).collect();
        let sources = classes
            .iter()
            .enumerate()
            .map(|(i, c)| {
                c.source
                    .clone()
                    .unwrap_or_else(|| format!("{SOURCE_WORKLOAD}-{}", i + 1))
            })
            .collect();
        ClassSet {
            classes,
            requests,
            sources,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_item_kind() {
        let class: TrafficClass =
            "x-when=12:00,cookie:canary=always,uri:/api/v2,query:user=beta,method:post,source:ab:0.25"
                .parse()
                .expect("class");
        assert_eq!(class.share, 0.25);
        assert_eq!(class.headers["x-when"], "12:00");
        assert_eq!(class.cookies["canary"], "always");
        assert_eq!(class.path.as_deref(), Some("/api/v2"));
        assert_eq!(class.query["user"], "beta");
        assert_eq!(class.method.as_deref(), Some("POST"));
        assert_eq!(class.source.as_deref(), Some("ab"));
        let request = class.request();
        assert_eq!(request.headers["cookie"], "canary=always");
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("POST", "/api/v2")
        );
    }

    #[test]
    fn rejects_malformed_classes_with_the_reason() {
        for bad in [
            "x-canary:0.1",
            "a=b:2",
            "a=b",
            "uri:api:0.1",
            "cookie:x:0.1",
            "=v:0.1",
        ] {
            let error = bad.parse::<TrafficClass>().expect_err(bad);
            assert!(error.contains(bad), "{error}");
        }
    }

    #[test]
    fn class_set_adds_the_plain_remainder_and_names_sources() {
        let set = ClassSet::new(&["x=1:0.25".parse().expect("class")]);
        assert_eq!(set.classes.len(), 2);
        assert_eq!(set.classes[1].share, 0.75);
        assert_eq!(set.sources, ["loadgenerator-1", "loadgenerator"]);
        assert_eq!(set.requests[1], Request::plain());
    }
}

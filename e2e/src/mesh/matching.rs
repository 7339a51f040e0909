//! Request matching as Istio's `HTTPMatchRequest` defines it: all fields of
//! one match must hold (AND), any match of a route's list may (OR), the
//! first route that matches takes the request, and a route without matches
//! takes everything.
//!
//! Regexes are compiled once per VirtualService revision ([`CompiledVs`]),
//! never per request: the tick loop routes thousands of requests a second.

use std::collections::BTreeMap;

use regex::Regex;

use super::spec::{StringMatch, VirtualServiceSpec};

/// One request, as the routing rules see it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Request {
    pub method: String,
    /// The path, without the query string (Envoy matches it alone).
    pub path: String,
    pub query: BTreeMap<String, String>,
    /// Header names in lower case (HTTP/2 sends them so).
    pub headers: BTreeMap<String, String>,
}

impl Request {
    /// A `GET /` without headers.
    pub fn plain() -> Request {
        Request {
            method: "GET".into(),
            path: "/".into(),
            ..Request::default()
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .or_else(|| {
                self.headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            })
            .map(String::as_str)
    }
}

/// Why Istio would reject a VirtualService the mesh stand-in reads.
#[derive(Debug, thiserror::Error)]
pub enum InvalidVirtualService {
    #[error("http[{route}]: invalid regex `{regex}`")]
    Regex {
        route: usize,
        regex: String,
        #[source]
        source: regex::Error,
    },
}

#[derive(Debug)]
enum Condition {
    Exact(String),
    Prefix(String),
    Regex(Regex),
    Present,
}

impl Condition {
    fn compile(m: &StringMatch, route: usize) -> Result<Condition, InvalidVirtualService> {
        if let Some(exact) = &m.exact {
            return Ok(Condition::Exact(exact.clone()));
        }
        if let Some(prefix) = &m.prefix {
            return Ok(Condition::Prefix(prefix.clone()));
        }
        let Some(regex) = &m.regex else {
            return Ok(Condition::Present);
        };
        // Envoy's RE2 matches must cover the whole value.
        Regex::new(&format!("^(?:{regex})$"))
            .map(Condition::Regex)
            .map_err(|source| InvalidVirtualService::Regex {
                route,
                regex: regex.clone(),
                source,
            })
    }

    fn holds(&self, value: &str) -> bool {
        match self {
            Condition::Exact(e) => value == e,
            Condition::Prefix(p) => value.starts_with(p.as_str()),
            Condition::Regex(r) => r.is_match(value),
            Condition::Present => true,
        }
    }

    /// `ignoreUriCase` applies to exact and prefix matches only, as in Istio.
    fn holds_ignoring_case(&self, value: &str) -> bool {
        match self {
            Condition::Exact(e) => value.eq_ignore_ascii_case(e),
            Condition::Prefix(p) => value
                .get(..p.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(p)),
            other => other.holds(value),
        }
    }
}

#[derive(Debug, Default)]
struct Match {
    uri: Option<Condition>,
    ignore_uri_case: bool,
    method: Option<Condition>,
    headers: Vec<(String, Condition)>,
    without_headers: Vec<(String, Condition)>,
    query: Vec<(String, Condition)>,
}

impl Match {
    fn holds(&self, request: &Request) -> bool {
        let uri = self.uri.as_ref().is_none_or(|c| {
            if self.ignore_uri_case {
                c.holds_ignoring_case(&request.path)
            } else {
                c.holds(&request.path)
            }
        });
        let method = self
            .method
            .as_ref()
            .is_none_or(|c| c.holds(&request.method));
        let headers = self
            .headers
            .iter()
            .all(|(name, c)| request.header(name).is_some_and(|v| c.holds(v)));
        let without = self
            .without_headers
            .iter()
            .all(|(name, c)| !request.header(name).is_some_and(|v| c.holds(v)));
        let query = self
            .query
            .iter()
            .all(|(name, c)| request.query.get(name).is_some_and(|v| c.holds(v)));
        uri && method && headers && without && query
    }
}

/// A VirtualService spec with its matches compiled.
#[derive(Debug)]
pub struct CompiledVs {
    pub spec: VirtualServiceSpec,
    routes: Vec<Vec<Match>>,
}

impl CompiledVs {
    pub fn compile(spec: VirtualServiceSpec) -> Result<CompiledVs, InvalidVirtualService> {
        let mut routes = Vec::with_capacity(spec.http.len());
        for (i, route) in spec.http.iter().enumerate() {
            let compile_all = |map: &BTreeMap<String, StringMatch>| {
                map.iter()
                    .map(|(k, m)| Ok((k.to_ascii_lowercase(), Condition::compile(m, i)?)))
                    .collect::<Result<Vec<_>, InvalidVirtualService>>()
            };
            let mut matches = Vec::with_capacity(route.matches.len());
            for m in &route.matches {
                matches.push(Match {
                    uri: m
                        .uri
                        .as_ref()
                        .map(|u| Condition::compile(u, i))
                        .transpose()?,
                    ignore_uri_case: m.ignore_uri_case,
                    method: m
                        .method
                        .as_ref()
                        .map(|u| Condition::compile(u, i))
                        .transpose()?,
                    headers: compile_all(&m.headers)?,
                    without_headers: compile_all(&m.without_headers)?,
                    // Query parameter names are case-sensitive.
                    query: m
                        .query_params
                        .iter()
                        .map(|(k, q)| Ok((k.clone(), Condition::compile(q, i)?)))
                        .collect::<Result<_, InvalidVirtualService>>()?,
                });
            }
            routes.push(matches);
        }
        Ok(CompiledVs { spec, routes })
    }

    /// Index of the first http route taking `request`; none means Istio
    /// answers 404 (no route).
    pub fn route_of(&self, request: &Request) -> Option<usize> {
        self.routes
            .iter()
            .position(|matches| matches.is_empty() || matches.iter().any(|m| m.holds(request)))
    }
}

#[cfg(test)]
#[path = "matching_tests.rs"]
mod tests;

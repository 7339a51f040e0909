//! The part of an Istio VirtualService spec the mesh stand-in reads, as
//! serde types. Fields it does not read are ignored, so any object Flagger
//! or serin writes for a real Istio deserializes.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Clone, Debug, Default, Deserialize)]
pub struct VirtualServiceSpec {
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub http: Vec<HttpRoute>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRoute {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "match")]
    pub matches: Vec<MatchRequest>,
    #[serde(default)]
    pub route: Vec<RouteDestination>,
    /// Header operations of the whole route, applied after the
    /// destination's own.
    #[serde(default)]
    pub headers: Option<Headers>,
    #[serde(default)]
    pub mirror: Option<Destination>,
    #[serde(default)]
    pub mirror_percentage: Option<Percent>,
    /// The deprecated integer form of `mirrorPercentage`.
    #[serde(default)]
    pub mirror_percent: Option<u32>,
    /// Istio 1.22's list form: several mirrors, each with its percentage.
    #[serde(default)]
    pub mirrors: Vec<MirrorPolicy>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchRequest {
    #[serde(default)]
    pub uri: Option<StringMatch>,
    #[serde(default)]
    pub method: Option<StringMatch>,
    #[serde(default)]
    pub headers: BTreeMap<String, StringMatch>,
    #[serde(default)]
    pub without_headers: BTreeMap<String, StringMatch>,
    #[serde(default)]
    pub query_params: BTreeMap<String, StringMatch>,
    #[serde(default)]
    pub ignore_uri_case: bool,
}

/// One of `exact`, `prefix`, `regex`; none of them means "present".
#[derive(Clone, Debug, Default, Deserialize)]
pub struct StringMatch {
    pub exact: Option<String>,
    pub prefix: Option<String>,
    pub regex: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RouteDestination {
    pub destination: Destination,
    pub weight: Option<i64>,
    #[serde(default)]
    pub headers: Option<Headers>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Destination {
    pub host: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Headers {
    #[serde(default)]
    pub response: Option<HeaderOperations>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct HeaderOperations {
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    #[serde(default)]
    pub add: BTreeMap<String, String>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize)]
pub struct Percent {
    #[serde(default)]
    pub value: f64,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct MirrorPolicy {
    pub destination: Destination,
    #[serde(default)]
    pub percentage: Option<Percent>,
}

impl HttpRoute {
    /// The mirror destinations with the fraction (0..=1) of requests each
    /// receives. Istio mirrors everything when `mirror` has no percentage.
    pub fn mirror_fractions(&self) -> Vec<(&str, f64)> {
        let fraction = |p: Option<f64>| (p.unwrap_or(100.0).clamp(0.0, 100.0)) / 100.0;
        let mut out = Vec::new();
        if let Some(mirror) = &self.mirror {
            let percent = self
                .mirror_percentage
                .map(|p| p.value)
                .or(self.mirror_percent.map(f64::from));
            out.push((mirror.host.as_str(), fraction(percent)));
        }
        for m in &self.mirrors {
            out.push((
                m.destination.host.as_str(),
                fraction(m.percentage.map(|p| p.value)),
            ));
        }
        out.retain(|(host, f)| !host.is_empty() && *f > 0.0);
        out
    }

    /// The `Set-Cookie` values a response through `destination` carries:
    /// the destination's header operations, then the route's.
    pub fn set_cookies(&self, destination: &RouteDestination) -> Vec<String> {
        [destination.headers.as_ref(), self.headers.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|h| h.response.as_ref())
            .flat_map(|ops| ops.set.iter().chain(ops.add.iter()))
            .filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, value)| value.clone())
            .collect()
    }
}

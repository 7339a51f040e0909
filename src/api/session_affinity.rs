//! `analysis.sessionAffinity`: once a user reached the canary of a weighted run, a cookie
//! keeps them on it. Fields and defaults are Flagger's.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Flagger's default `maxAge` of the session cookie, one day.
pub const DEFAULT_SESSION_MAX_AGE: i32 = 86_400;

/// Cookie-based session affinity of a weighted canary (Istio).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.primaryCookieName) || self.primaryCookieName != self.cookieName").message("primaryCookieName must differ from cookieName"))]
pub struct SessionAffinity {
    /// Name of the cookie that keeps a user on the canary.
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
    )]
    pub cookie_name: String,
    /// Name of a cookie that keeps a user on the primary for one interval (not implemented:
    /// accepted and reported as unsupported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
    )]
    pub primary_cookie_name: Option<String>,
    /// Lifetime of the cookie in seconds; default 86400.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 31536000))]
    pub max_age: Option<i32>,
    /// Cookie attributes Flagger accepts (not implemented: accepted and reported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_only: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitioned: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 8))]
    pub same_site: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secure: Option<bool>,
}

impl SessionAffinity {
    /// The cookie's lifetime in seconds.
    pub fn max_age_seconds(&self) -> u32 {
        self.max_age
            .unwrap_or(DEFAULT_SESSION_MAX_AGE)
            .clamp(1, 31_536_000) as u32
    }

    /// Whether fields serin accepts but does not carry out are set.
    pub fn has_unimplemented(&self) -> bool {
        self.primary_cookie_name.is_some()
            || self.domain.is_some()
            || self.http_only.is_some()
            || self.partitioned.is_some()
            || self.path.is_some()
            || self.same_site.is_some()
            || self.secure.is_some()
    }
}

//! Session affinity in the run's record: the cookie of a run is chosen when its analysis
//! starts and becomes the "previous" cookie when the run ends, so the router expires it
//! on every client that still sends it (as Flagger's `previousSessionAffinityCookie`).

use super::strategy::session_cookie;
use super::*;

impl Step<'_> {
    /// Chooses the run's cookie, when the Canary asks for session affinity.
    pub(super) fn begin_session(&mut self, settings: &Settings) {
        let revision = self.status.last_applied_spec.clone().unwrap_or_default();
        self.status.session_affinity_cookie = settings
            .affinity
            .as_ref()
            .map(|a| session_cookie(a, &revision));
    }

    /// The run is over: its cookie is to be expired.
    pub(super) fn end_session(&mut self) {
        if let Some(cookie) = self.status.session_affinity_cookie.take() {
            self.status.previous_session_affinity_cookie = Some(cookie);
        }
    }
}

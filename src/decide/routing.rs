//! Holding a run while the router's objects do not carry traffic: a Gateway API parent
//! that has not accepted the route would leave any weight serin sets without effect, and
//! the analysis would judge a canary that received no traffic. The reason the parent gave
//! goes into the `RouteAccepted` condition and, once per change, a Warning event.

use super::*;

impl Step<'_> {
    /// `Some(next)` while the route is not accepted; clears the condition once it is.
    pub(super) fn route_held(&mut self, settings: &Settings, obs: &Observation) -> Option<Next> {
        let generation = self.who.generation;
        let Some(why) = &obs.route_not_accepted else {
            if self.status.condition(conditions::ROUTE_ACCEPTED).is_some() {
                self.status.remove_condition(conditions::ROUTE_ACCEPTED);
            }
            return None;
        };
        let message = format!("holding the analysis of {}: {why}", self.who.canary());
        let same = self
            .status
            .condition(conditions::ROUTE_ACCEPTED)
            .is_some_and(|c| c.message == message);
        self.status.set_condition(
            conditions::ROUTE_ACCEPTED,
            conditions::FALSE,
            reasons::ROUTE_NOT_ACCEPTED,
            &message,
            generation,
            self.now,
        );
        if !same {
            self.warning(reasons::ROUTE_NOT_ACCEPTED, message);
        }
        // The route's status change wakes the Canary (it owns the route); the deadline is
        // a floor in case the parent's word arrives on an object serin does not own.
        Some(Next::At(self.now + settings.interval))
    }
}

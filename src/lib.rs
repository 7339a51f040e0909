//! serin: a progressive-delivery (canary) controller for Kubernetes.
//!
//! Reconcile is a pipeline: [`controller::observe`] (IO, from watch caches) ->
//! [`decide`] (pure) -> [`controller::record`] (status, events) -> [`controller::converge`]
//! (managed objects). See README.md for the user's view.

pub mod api;
pub mod api_calls;
pub mod build;
pub mod checks;
pub mod controller;
pub mod decide;
pub mod judge;
pub mod leader;
pub mod rbac;
pub mod revision;
pub mod telemetry;

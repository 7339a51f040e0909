//! serin: a progressive-delivery (canary) controller for Kubernetes.
//!
//! Reconcile is a pipeline (see docs/architecture.md):
//! observe ([`controller::snapshot`], once, from the watch caches) -> decide ([`decide`],
//! pure: next status, events, and the [`decide::Plan`]; it may ask [`controller::gather`]
//! for inputs such as [`metrics`]) -> record (status, events) -> converge (the plan, with
//! the Canary's [`router`]). [`cli`] and [`leadership`] run it. See README.md for the
//! user's view.

// Crate-internal items say so: a `pub` that nothing outside can reach hides dead code.
#![warn(unreachable_pub)]

pub mod alerts;
pub mod api;
pub mod api_calls;
pub mod autoscaling;
pub mod backtest;
pub mod build;
pub mod cli;
pub mod controller;
pub mod decide;
pub mod hooks;
pub mod judge;
pub mod leadership;
pub mod metrics;
pub mod plugin;
pub mod rbac;
pub mod revision;
pub mod router;
pub mod server;
pub mod telemetry;

//! Webhooks: Flagger's payload and HTTP contract, with serin's bounds on time and size.
//!
//! - [`payload`]: the JSON body a hook receives (`name`, `namespace`, `phase`, `checksum`,
//!   `metadata`), byte for byte as Flagger sends it.
//! - [`call`]: one POST with a timeout per attempt, retries with backoff, 200-202 as
//!   success and a bounded, truncated response body in the outcome.
//! - [`client`]: the HTTP clients the calls share, including `--resolve host=addr:port`
//!   mappings so that a manifest's `http://flagger-loadtester.test/` reaches a stand-in
//!   on loopback (see [`client::HostMapping`]).
//!
//! This module owns the wire protocol only. When a hook runs and what its verdict does to
//! the rollout belong to the decision; nothing here reads or writes Kubernetes objects.

pub mod call;
pub mod client;
pub mod payload;

pub use call::{CallPolicy, HookError, HookOutcome, call, call_with};
pub use client::{HookClients, HostMapping, HostMappingError, build_client};
pub use payload::{HookPayload, event_payload, payload};

#[cfg(test)]
mod tests;

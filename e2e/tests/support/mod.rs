//! The support module of every end-to-end test binary (`conformance`,
//! `scenarios`, `chain`, `cli`, `apiserver_smoke`): each declares `mod support;`.
//!
//! - [`target`]: the one reading of `SERIN_E2E_KUBECONFIG`; the shared API
//!   server or whole sandbox of a test binary, private servers, kube clients,
//!   the process' scratch directory;
//! - [`kubectl`]: the one kubectl runner;
//! - [`namespace`]: the one temporary namespace of a test ([`TestNs`]);
//! - [`binaries`]: the one way to find (or build once) the `serin` binary;
//! - [`wait`]: waits with deadlines and readings of API errors;
//! - [`raw`]: raw HTTP requests, for what typed calls hide;
//! - [`prom`]: PromQL polled against Prometheus;
//! - [`scenario`]: a scenario's namespace, serin processes and manifests;
//! - [`plugin`]: `kubectl serin` run as a person runs it.
//!
//! Each binary uses a different part of this, so unused items and
//! re-exports are allowed here rather than splitting the module per binary:
//! one place to look.
#![allow(dead_code, unused_imports)]

pub mod binaries;
pub mod kubectl;
pub mod namespace;
pub mod plugin;
pub mod prom;
pub mod raw;
pub mod scenario;
pub mod target;
pub mod wait;

pub use binaries::{plugin_bin, serin_bin};
pub use namespace::TestNs;
pub use prom::{Prom, promql};
pub use target::{
    KUBECONFIG_ENV, Local, Target, attached, client, client_for, is_remote, private_server,
    sandbox, target, workdir,
};
pub use wait::{GC_WAIT_REMOTE, WAIT, api_error, eventually, gc_wait, gc_wait_or, rv_number};

/// A short random suffix for names that must not collide across runs.
pub fn suffix() -> String {
    format!("{:06x}", rand::random::<u32>() & 0xff_ffff)
}

/// A loopback port free at the time of asking (for a process the test starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

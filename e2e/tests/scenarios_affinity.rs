//! The session-affinity scenario, alone in its binary: its simulated clients change how
//! the sandbox's mesh routes every host (see `scenarios/affinity.rs`).

mod support;

#[path = "scenarios/affinity.rs"]
mod affinity;

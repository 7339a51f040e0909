//! API conformance suite: every point of the sandbox API server's contract
//! (issue 2, section 1) exercised through kube-rs and through the real
//! `kubectl`. It runs against the in-process server by default, and against
//! the cluster whose kubeconfig `SERIN_E2E_KUBECONFIG` names otherwise (then
//! only the sandbox's own switches, faults and counters, are skipped), so the
//! sandbox is held to what a real API server does.
//!
//! Every test works in a random namespace of its own and waits on conditions
//! with deadlines.

mod support;

mod conformance {
    mod admission_policy;
    mod apply;
    mod autoscaling;
    mod builtins;
    mod cel_cost;
    mod controller;
    mod crds;
    mod discovery;
    mod events;
    mod expiry;
    mod fixtures;
    mod gateway;
    mod gc;
    mod integers;
    mod lists;
    mod patches;
    mod refusals;
    mod reviews;
    mod sandbox;
    mod semantics;
    mod tables;
    mod validation;
    mod watches;
}

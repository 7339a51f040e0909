//! serin's sandbox: a Kubernetes control plane, an Istio-like mesh and a real
//! Prometheus on one machine, for end-to-end tests and demos without a cluster.
//!
//! - [`apiserver`]: an in-process Kubernetes API server over HTTP on loopback.
//! - [`kubelet`]: makes Deployments report their replicas ready.
//! - [`mesh`]: turns VirtualService weights into request traffic and exports
//!   Istio's standard request metrics.
//! - [`autoscaler`]: the HPA controller and KEDA stand-ins (with a
//!   ScaledObject CRD), scaling Deployments from a simulated utilisation.
//! - [`prometheus`]: starts and stops Debian's real `prometheus` binary.
//! - [`loadtester`]: speaks flagger-loadtester's HTTP contract (gates, `cmd`, `bash`).
//! - [`receiver`]: records the alerts (Slack, Teams, Google Chat, JSON) posted to it.
//! - [`sandbox`]: puts them together (`serin-sandbox up`, and the tests' entry point).

pub mod apiserver;
pub mod autoscaler;
pub mod kubelet;
pub mod loadtester;
pub mod mesh;
pub mod prometheus;
pub mod receiver;
pub mod sandbox;
mod standin;

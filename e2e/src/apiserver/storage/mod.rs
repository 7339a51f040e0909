//! What is stored and served: the object store and its change feed, the registry of
//! served resources (built-in kinds and those CRDs add), the cluster state behind the one
//! mutex with the commit step of every write, IP allocation, and deletion's life cycle
//! (finalizers, garbage collection, namespace termination).
//!
//! It knows nothing of HTTP or of admission: both sit above it.

pub mod builtins;
pub mod cluster;
pub mod crd;
pub mod ipalloc;
pub mod lifecycle;
pub mod registry;
pub mod store;

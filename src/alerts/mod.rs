//! Alerts: what serin tells a chat channel about a rollout, in each provider's format.
//!
//! - [`message`]: the alert itself (Flagger's messages and metadata fields, plus serin's
//!   verdict numbers) and who receives it (severity filtering).
//! - [`format`]: the JSON each provider type expects, as Flagger sends it.
//! - [`send`]: delivery with retries. It never fails its caller: an alert that cannot be
//!   delivered is logged and dropped, and the rollout goes on.
//!
//! Secrets are the caller's business: the address and token of a provider whose
//! `secretRef` is set are passed in, already read. Nothing here touches Kubernetes.

pub mod format;
pub mod message;
pub mod send;

pub use format::{Delivery, delivery, payload};
pub use message::{Alert, Field, Verdict, messages, metadata_fields, receives, recipients};
pub use send::{AlertSender, SendOutcome, SendPolicy};

#[cfg(test)]
mod tests;

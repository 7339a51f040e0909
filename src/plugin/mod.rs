//! `kubectl serin`: the plugin people steer rollouts with (README, "Steering a rollout
//! by hand"). It reads Canaries through watches and acts only by creating
//! [`CanaryAction`](crate::api::CanaryAction)s, never by editing a Canary's spec, which
//! belongs to Git.
//!
//! - [`view`]: what a Canary's status means (pure);
//! - [`render`]: the `get` table and the `status` page (pure, golden-tested);
//! - [`live`]: `get` and `status`, once or redrawn from a watch (`-w`);
//! - [`act`]: the actions: check, who is asking, create, wait for serin's outcome;
//! - [`errors`]: API errors in words a person acts on.

pub mod act;
mod cli;
pub mod errors;
pub mod live;
pub mod render;
pub mod view;

pub use cli::Plugin;

#[cfg(test)]
mod tests;

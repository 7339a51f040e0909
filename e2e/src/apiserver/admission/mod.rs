//! Admission of a write, computed outside the lock on the served form: decoding of
//! built-in kinds through their types, defaults, and validation of metadata and kinds.
//! It reads the registry and CRDs of [`super::storage`] and writes nothing itself.

pub mod admit;
pub mod defaults;
pub mod typed;
pub mod validation;

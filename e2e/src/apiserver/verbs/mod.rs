//! What each API verb does to a resource: get and list, watch, create and update, patch,
//! delete, and the scale subresource's view. Routing ([`super::routes`]) calls these;
//! they admit writes through [`super::admission`] and commit them through
//! [`super::storage`].

pub mod delete;
pub mod patching;
pub mod read;
pub mod scale;
pub mod watch;
pub mod write;

//! The HTTP side of the server, below routing (which is [`super::routes`]): the state and
//! request types every handler takes, response bodies and renderings, the documents
//! clients discover the API from, protobuf request bodies, and the test switches.
//!
//! It reads the stored state ([`super::storage`]) to answer, and never decides what a
//! write does: that is [`super::verbs`] and [`super::admission`].

pub mod discovery;
pub mod faults;
pub mod openapi;
pub mod protobuf;
pub mod response;
pub mod server;

//! RESP2/RESP3 for lockstep: the `Frame` value model, an incremental frame decoder (what a
//! client reads), an encoder, and the server's request parser with Redis 7.0's limits.
//!
//! This crate does no I/O and must never panic on any input.

pub mod decode;
pub mod encode;
pub mod frame;
pub mod request;

pub use decode::{DecodeError, Decoder};
pub use encode::{encode, encode_command};
pub use frame::Frame;
pub use request::{Batch, Parsed, ProtocolError, RequestParser};

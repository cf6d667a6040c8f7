//! The sans-I/O HTTP/1.1 core: bytes in, requests and framing decisions out; responses in,
//! bytes out.
//!
//! Nothing here touches a socket, a clock other than for the `Date` header, or an executor.
//! The runtime owns the connection and its buffers and calls into this module with them, which
//! keeps every protocol rule testable with byte slices and fuzzable (see `fuzz/`).
//!
//! A request goes through two steps, each a push parser over the caller's `BytesMut` that
//! consumes what it uses and leaves the rest (the way httparse reports "incomplete" rather than
//! failing):
//!
//! 1. [`parse_head`] turns the request line and header section into a [`RequestHead`], deciding
//!    the body's [`BodyFraming`] (RFC 9112 §6.3);
//! 2. a [`BodyDecoder`] built from that framing hands out the body as [`Decoded`] pieces,
//!    stopping exactly at its end so pipelined requests stay in the buffer.
//!
//! A response goes the other way: [`encode_head`] writes the status line and fields and picks
//! the [`ResponseFraming`], and the returned [`BodyEncoder`] frames each body piece.
//! [`encode_simple`] writes a whole small response for errors, and [`CONTINUE`] is the interim
//! `100 Continue`.
//!
//! Every framing error is a [`ParseError`] that maps to its response status by construction.
//!
//! # Layout
//!
//! - `parse`: request head parsing on top of httparse; Host, Content-Length and
//!   Transfer-Encoding rules.
//! - `decode`: the body decoder, one small function per chunked state.
//! - `encode`: response head and body framing.
//! - `date`: the per-thread cached `Date` value.
//! - `error`: [`ParseError`].
//!
//! Limits on everything a client controls are in [`crate::limits::Limits`].

pub mod date;
pub mod decode;
pub mod encode;
pub mod error;
pub mod parse;

pub use decode::{BodyDecoder, Decoded};
pub use encode::{
    encode_head, encode_simple, encode_switching, BodyEncoder, BodySink, EncodeError, EncodedHead,
    RequestInfo, ResponseFraming, CONTINUE,
};
pub use error::ParseError;
pub use parse::{parse_head, BodyFraming, RequestHead};

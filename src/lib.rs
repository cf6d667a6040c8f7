//! weir: an HTTP/1.1 gateway interface where async-aware and blocking apps share one stack.
//!
//! In 2007 a Web-SIG post proposed WSGI extensions so that one server could mix asynchronous
//! and blocking processing on the same connection: an async input read one chunk per yielded
//! value, and a switch that hands the rest of a request to a blocking thread. weir is that
//! design in Rust. This crate is the part with no runtime in it: the interface apps are
//! written against and the sans-I/O HTTP/1.1 core. The actix runtime that drives it is the
//! crate `weir-actors`, which re-exports this one.
//!
//! # Layout
//! - [`app`]: the async-aware interface: [`Exchange`] (environ, input, start_response, yield),
//!   [`App`], and the [`Transport`] a runtime implements.
//! - [`sync`]: the blocking side: PEP 3333-style [`SyncApp`]s, the blocking [`Input`], the
//!   sync switch's [`SyncExchange`], and [`bridge`].
//! - [`sse`]: server-sent events framing.
//! - [`signal`]: the close signal (client gone / shutting down), separate from body reads.
//! - [`error`]: the one opaque [`Error`], with predicates and the status it maps to.
//! - [`h1`]: the HTTP/1.1 wire codec: head parser, body decoder, response encoder, date cache.
//! - [`limits`]: the parsing limits and their defaults.
#![deny(missing_docs)]

pub mod app;
pub mod error;
pub mod h1;
pub mod limits;
pub mod signal;
pub mod sse;
pub mod sync;

pub use app::{App, Exchange, IntoHeaders, Outcome, Part, Request, ResponseHead, Transport};
pub use error::{Error, Result};
pub use limits::Limits;
pub use signal::{CloseReason, CloseSignal};
pub use sync::{bridge, Body, Input, StartResponse, SyncApp, SyncExchange};

/// Re-exported so apps name statuses and headers without another dependency.
pub use bytes::Bytes;
pub use http::{header, HeaderMap, Method, StatusCode, Version};

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
//! For apps:
//! - [`request`]: the environ, [`Request`] (method, target, decoded query, headers,
//!   addresses, scheme), and the [`ConnInfo`](request::ConnInfo) behind it.
//! - [`exchange`]: the async-aware interface: [`Exchange`] (input, `start_response`, yield,
//!   the sync switch), the [`Outcome`] an app returns, and [`App`].
//! - [`response`]: what a response is made of: [`IntoHeaders`], the
//!   [`ResponseHead`](response::ResponseHead) and [`Part`](response::Part); the
//!   `start_response` rules both sides share live here too.
//! - [`blocking`]: the blocking side: PEP 3333-style [`SyncApp`](blocking::SyncApp)s and
//!   their [`bridge`](blocking::bridge), the blocking [`Input`](blocking::Input) and
//!   [`StartResponse`](blocking::StartResponse), and the sync switch's
//!   [`SyncExchange`](blocking::SyncExchange).
//! - [`sse`]: server-sent events framing.
//! - [`ws`]: WebSocket: [`Exchange::websocket`] accepts an upgrade; the
//!   [`WebSocket`](ws::WebSocket) handle, and its blocking twin for the pool.
//! - [`signal`]: the close signal (client gone / shutting down), separate from body reads.
//! - [`error`]: the one opaque [`Error`], with predicates and the status it maps to.
//!
//! For runtimes:
//! - [`rt`]: the hooks a server drives the interface with: the [`Transport`](rt::Transport)
//!   and [`BlockingTransport`](rt::BlockingTransport) it implements (and, for WebSockets,
//!   [`WsTransport`](rt::WsTransport) and [`BlockingWsTransport`](rt::BlockingWsTransport)), and building requests
//!   and exchanges, taking a sync switch and running it.
//! - [`h1`]: the HTTP/1.1 wire codec: head parser, body decoder, response encoder, date cache.
//! - [`limits`]: the parsing limits and their defaults.
#![deny(missing_docs)]

pub mod blocking;
pub mod error;
pub mod exchange;
pub mod h1;
pub mod limits;
pub mod request;
pub mod response;
pub mod rt;
pub mod signal;
pub mod sse;
pub mod ws;

pub use error::{Error, Result};
pub use exchange::{App, Exchange, Outcome};
pub use limits::Limits;
pub use request::Request;
pub use response::IntoHeaders;
pub use signal::{CloseReason, CloseSignal};

/// Re-exported so apps name statuses and headers without another dependency.
pub use bytes::Bytes;
pub use http::{header, HeaderMap, Method, StatusCode, Version};

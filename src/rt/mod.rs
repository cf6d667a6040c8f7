//! For runtimes, not apps: the hooks a server uses to drive weir's interface.
//!
//! An app never needs this module; everything it is handed ([`Exchange`],
//! [`SyncExchange`](crate::blocking::SyncExchange), [`Request`]) is built here by the runtime.
//! The crate `weir-actors` is the runtime that ships with weir; a test double in this crate's
//! own tests is the other implementation.
//!
//! A request's life, as a runtime sees it:
//! 1. parse a head ([`crate::h1::parse_head`]) and build the [`Request`] with [`request`]
//!    from it and the connection's [`ConnInfo`];
//! 2. wrap it with a [`Transport`] (how body chunks arrive and response [`Part`]s leave) and
//!    the request's [`CloseSignal`] into an [`Exchange`] with [`exchange`], and call the app;
//! 3. when the app's [`Outcome`] holds a sync switch ([`take_switch`]), turn the [`Switch`]
//!    into a [`SyncJob`] on the app's thread ([`Switch::into_job`], which trades the transport
//!    for its [`BlockingTransport`]) and [`SyncJob::run`] it on a pool thread.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;

use crate::error::Result;
use crate::exchange::{Exchange, Outcome};
use crate::h1::RequestHead;
use crate::request::Request;
use crate::signal::CloseSignal;

pub use crate::blocking::switch::{Switch, SyncJob};
pub use crate::request::ConnInfo;
pub use crate::response::{Part, ResponseHead};

#[cfg(test)]
pub(crate) mod testing;

/// The runtime's half of an exchange: how body chunks arrive and response parts leave.
/// Implemented by `weir-actors` (messages to the connection actor) and by test doubles.
pub trait Transport {
    /// Ask for the next body chunk and poll for it. `Ok(None)` is the end of the body. Once
    /// called, keep polling the same request until it is ready (the exchange guarantees it).
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>>>;

    /// Hand a response part to the connection. Called only when the previous part was flushed.
    fn start_send(&mut self, part: Part) -> Result<()>;

    /// Ready once the connection has taken the last part (its write buffer is below the
    /// high-water mark), so the app may produce the next value.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>>;

    /// Run `job` on the blocking pool (for [`Exchange::blocking`]). Fails with a 503 error
    /// when the pool and its queue are full.
    fn spawn_blocking(&mut self, job: Box<dyn FnOnce() + Send>) -> Result<()>;

    /// The blocking transport that continues this exchange after the sync switch: its
    /// reads start exactly where this transport's stopped (including a chunk request still
    /// in flight).
    fn into_blocking(self: Box<Self>) -> Arc<dyn BlockingTransport>;
}

/// The runtime's blocking transport: what [`Input`](crate::blocking::Input) and
/// [`StartResponse`](crate::blocking::StartResponse) call from a pool thread. Each call is a
/// message to the connection and a blocking wait for its answer.
pub trait BlockingTransport: Send + Sync {
    /// The next body chunk, `Ok(None)` at the end of the body. Blocks.
    fn read_chunk(&self) -> Result<Option<Bytes>>;

    /// Send a response part; blocks until the connection has taken it (backpressure: a
    /// slow client blocks this thread, not memory).
    fn send(&self, part: Part) -> Result<()>;
}

/// The request for a parsed head, arriving on the connection `conn` describes.
pub fn request(head: RequestHead, conn: ConnInfo) -> Request {
    Request::new(head, conn)
}

/// The exchange an async-aware app is called with: `req`, served over `transport`, closed
/// by `signal`.
pub fn exchange(req: Request, transport: Box<dyn Transport>, signal: CloseSignal) -> Exchange {
    Exchange::new(req, transport, signal)
}

/// The sync switch the app asked for, if it did; `None` means the app finished its
/// response.
pub fn take_switch(outcome: Outcome) -> Option<Switch> {
    outcome.into_switch()
}

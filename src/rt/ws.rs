//! The runtime's half of a WebSocket: how an upgraded connection's messages reach the app's
//! [`WebSocket`](crate::ws::WebSocket) handle, asynchronously ([`WsTransport`]) and from a
//! pool thread ([`BlockingWsTransport`]).

use std::sync::Arc;
use std::task::{Context, Poll};

use crate::error::Result;
use crate::ws::Message;

/// The runtime's half of an upgraded connection. Implemented by `weir-actors` (messages to
/// its WebSocket actor) and by test doubles.
pub trait WsTransport {
    /// Ask for the next message and poll for it. The runtime reads from the socket only to
    /// answer this. Once called, keep polling until it is ready (the handle guarantees it).
    /// An error means the connection is closed (or failed) and no message will come.
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Message>>;

    /// Hand a message to the connection. Called only when the previous one was flushed.
    fn start_send(&mut self, msg: Message) -> Result<()>;

    /// Ready once the connection has taken the last message (its write buffer is below the
    /// high-water mark).
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>>;

    /// Run `job` on the blocking pool; fails when the pool and its queue are full.
    fn spawn_blocking(&mut self, job: Box<dyn FnOnce() + Send>) -> Result<()>;

    /// The blocking transport that continues this socket on a pool thread (a `recv` still in
    /// flight carries over).
    fn into_blocking(self: Box<Self>) -> Arc<dyn BlockingWsTransport>;
}

/// The blocking half: each call is a message to the connection and a blocking wait.
pub trait BlockingWsTransport: Send + Sync {
    /// The next message; blocks. An error means the connection is closed.
    fn recv(&self) -> Result<Message>;

    /// Send a message; blocks until the connection has taken it.
    fn send(&self, msg: Message) -> Result<()>;
}

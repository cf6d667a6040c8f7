//! The two traits a runtime implements: how an exchange's body chunks arrive and its
//! response parts leave, asynchronously ([`Transport`]) and, after the sync switch, from a
//! blocking thread ([`BlockingTransport`]).

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;

use crate::error::Error;
use crate::error::Result;
use crate::response::Part;
use crate::rt::ws::WsTransport;

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

    /// Turn the connection's minimum data rates on or off for this request (see
    /// [`Exchange::set_min_data_rates`](crate::Exchange::set_min_data_rates)). A runtime
    /// without rates has nothing to do.
    fn set_min_data_rates(&mut self, enabled: bool) -> Result<()> {
        let _ = enabled;
        Ok(())
    }

    /// Run `job` on the blocking pool (for [`Exchange::blocking`](crate::Exchange::blocking)). Fails with a 503 error
    /// when the pool and its queue are full.
    fn spawn_blocking(&mut self, job: Box<dyn FnOnce() + Send>) -> Result<()>;

    /// The blocking transport that continues this exchange after the sync switch: its
    /// reads start exactly where this transport's stopped (including a chunk request still
    /// in flight).
    fn into_blocking(self: Box<Self>) -> Arc<dyn BlockingTransport>;

    /// Answer the request with `101 Switching Protocols` to a WebSocket (RFC 6455 §4.2.2),
    /// with `headers` beside `Upgrade` and `Connection`. The runtime writes and flushes the
    /// head, then hands the connection's stream and any bytes read past the head to its
    /// WebSocket side. Default: this runtime does not do upgrades.
    fn start_upgrade(&mut self, headers: http::HeaderMap) -> Result<()> {
        let _ = headers;
        Err(Error::other(
            "this runtime does not support WebSocket upgrades",
        ))
    }

    /// Ready with the upgraded connection's transport once the 101 is flushed and the
    /// connection handed over.
    fn poll_upgraded(&mut self, cx: &mut Context<'_>) -> Poll<Result<Box<dyn WsTransport>>> {
        let _ = cx;
        Poll::Ready(Err(Error::other(
            "this runtime does not support WebSocket upgrades",
        )))
    }
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

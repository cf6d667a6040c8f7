//! WebSocket (RFC 6455) for async-aware apps, and for blocking code on the pool.
//!
//! An app accepts the upgrade from its [`Exchange`]:
//!
//! ```no_run
//! use weir::ws::{Accept, Message};
//! use weir::{Exchange, Outcome, Result};
//!
//! async fn app(ex: Exchange) -> Result<Outcome> {
//!     let mut ws = ex.websocket(Accept::new().protocol("chat"))?.await?;
//!     while let Ok(msg) = ws.recv().await {
//!         match msg {
//!             Message::Text(_) | Message::Binary(_) => ws.send(msg).await?,
//!             Message::Close(_) => break,
//!             _ => {}
//!         }
//!     }
//!     Ok(ws.done())
//! }
//! ```
//!
//! - [`Exchange::websocket`] checks the handshake ([`handshake::check`]): a bad one is an
//!   error with the status RFC 6455 asks for (400, 403 for a refused `Origin`, 426 with
//!   `Sec-WebSocket-Version: 13` for another version), answered like any app error when
//!   the app returns it. The answer's 101 is written and flushed before the socket is
//!   handed over, and bytes the client sent right after its handshake are kept.
//! - [`WebSocket::recv`] returns one message when asked: the runtime reads and decodes only
//!   to answer it (one socket read ahead at most, the same rule as body chunks).
//!   Fragmented messages arrive whole; pings are answered by the runtime.
//! - [`WebSocket::send`] returns once the connection has taken the message (its write
//!   buffer is below the high-water mark), so a client that stops reading holds the app,
//!   not memory; past the write timeout the connection is dropped.
//! - [`WebSocket::closed`] is the same close signal as HTTP apps have: the client went away,
//!   or the server is shutting down (the runtime then sends close 1001, RFC 6455 §7.4.1).
//! - [`WebSocket::run_blocking`] continues the socket on a pool thread as a
//!   [`BlockingWebSocket`]. **Each blocking socket holds a pool thread for its whole life**:
//!   size the pool for them, or keep sockets async.
//!
//! permessage-deflate (RFC 7692) and other extensions are not supported and never
//! negotiated.

pub mod handshake;

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::poll_fn;

use crate::error::{Error, Result};
use crate::exchange::{Exchange, Outcome};
use crate::h1::BodyFraming;
use crate::rt::{BlockingWsTransport, WsTransport};
use crate::signal::{CloseReason, CloseSignal};

pub use handshake::{Accept, Accepted};

/// A close frame's status code and reason (RFC 6455 §5.5.1, §7.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code (RFC 6455 §7.4.1: 1000 normal, 1001 going away, 1002 protocol error,
    /// 1009 too big, 1011 server error; 3000–4999 for apps).
    pub code: u16,
    /// A UTF-8 reason, at most 123 bytes (a control frame's payload is ≤ 125, §5.5).
    pub reason: String,
}

/// One WebSocket message (a whole message: fragments are reassembled, RFC 6455 §5.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message (valid UTF-8, RFC 6455 §5.6).
    Text(String),
    /// A binary message.
    Binary(Bytes),
    /// A ping (≤ 125 bytes); the runtime answers it with a pong on its own.
    Ping(Bytes),
    /// A pong (≤ 125 bytes).
    Pong(Bytes),
    /// A close frame; `None` when it carried no status code.
    Close(Option<CloseFrame>),
}

impl From<String> for Message {
    fn from(s: String) -> Message {
        Message::Text(s)
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Message {
        Message::Text(s.to_owned())
    }
}

impl From<Bytes> for Message {
    fn from(b: Bytes) -> Message {
        Message::Binary(b)
    }
}

impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Message {
        Message::Binary(b.into())
    }
}

impl Exchange {
    /// Accept a WebSocket upgrade (RFC 6455 §4.2). Checks the handshake against `accept` now
    /// (an `Err` is the 400/403/426 to answer: return it from the app); the future resolves
    /// once the `101 Switching Protocols` is flushed and the socket handed over.
    ///
    /// A response already started, or a handshake with a body, is refused (400): the 101 is
    /// the response, and there is no room for a body before the frames.
    pub fn websocket(
        self,
        accept: Accept,
    ) -> Result<impl Future<Output = Result<WebSocket>> + 'static> {
        let accepted = handshake::check(self.request(), &accept)?;
        if self.request().framing() != BodyFraming::Empty {
            return Err(Error::with_status(
                http::StatusCode::BAD_REQUEST,
                "a WebSocket handshake has no body",
            ));
        }
        let Ok((_req, mut transport, signal)) = self.into_upgrade_parts() else {
            return Err(Error::with_status(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "a response was started before the WebSocket upgrade",
            ));
        };
        transport.start_upgrade(accepted.headers())?;
        let control = accept.wants_control();
        Ok(async move {
            let ws = poll_fn(|cx| transport.poll_upgraded(cx)).await?;
            Ok(WebSocket {
                transport: ws,
                signal,
                protocol: accepted.protocol,
                control,
                done: false,
            })
        })
    }
}

/// An accepted WebSocket, for an async-aware app (see the [module docs](self)).
///
/// Dropping it (or [`done`](Self::done)) closes the socket with 1000 if it is still open.
pub struct WebSocket {
    transport: Box<dyn WsTransport>,
    signal: CloseSignal,
    protocol: Option<String>,
    control: bool,
    /// The connection said no more messages will come.
    done: bool,
}

impl std::fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl WebSocket {
    /// The subprotocol chosen in the handshake.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The next message. Pings and pongs are skipped unless
    /// [`Accept::control_frames`] asked for them. A close from the client comes once as
    /// [`Message::Close`] (the runtime has echoed it, RFC 6455 §5.5.1); after it, or when
    /// the client vanished or broke the protocol, this is an error
    /// ([`Error::is_disconnected`] when the connection is simply gone).
    pub async fn recv(&mut self) -> Result<Message> {
        loop {
            if self.done {
                return Err(Error::disconnected());
            }
            // A `recv` whose future was dropped before it resolved stays outstanding at the
            // transport, and this poll resumes it: no message is lost or read twice.
            let res = poll_fn(|cx| self.transport.poll_recv(cx)).await;
            match res {
                Ok(Message::Ping(_) | Message::Pong(_)) if !self.control => continue,
                Ok(msg) => return Ok(msg),
                Err(e) => {
                    self.done = true;
                    return Err(e);
                }
            }
        }
    }

    /// Send one message; returns once the connection has taken it. Sending
    /// [`Message::Close`] starts the closing handshake (see [`close`](Self::close)).
    pub async fn send(&mut self, msg: impl Into<Message>) -> Result<()> {
        if self.signal.is_client_gone() {
            return Err(Error::disconnected());
        }
        self.transport.start_send(msg.into())?;
        poll_fn(|cx| self.transport.poll_flush(cx)).await
    }

    /// Start the closing handshake with `code` and `reason` (RFC 6455 §7.1.2); the runtime
    /// waits for the client's close, then closes the TCP connection. Returns the app's
    /// [`Outcome`].
    pub async fn close(mut self, code: u16, reason: &str) -> Result<Outcome> {
        let frame = CloseFrame {
            code,
            reason: reason.to_owned(),
        };
        // A client that is already gone needs no close frame.
        let _ = self.send(Message::Close(Some(frame))).await;
        Ok(Outcome::done())
    }

    /// The app is done with the socket: the [`Outcome`] to return. The runtime closes with
    /// 1000 if the socket is still open.
    pub fn done(self) -> Outcome {
        Outcome::done()
    }

    /// Resolves when the client goes away or the server is shutting down.
    pub fn closed(&self) -> impl Future<Output = CloseReason> + '_ {
        self.signal.closed()
    }

    /// A clone of the close signal, for tasks the app starts.
    pub fn close_signal(&self) -> CloseSignal {
        self.signal.clone()
    }

    /// Continue this socket on a blocking-pool thread: `f` gets a [`BlockingWebSocket`] and
    /// runs there; the returned future resolves with its result when it returns. The pool
    /// thread is held for as long as `f` runs, normally the socket's whole life. A panic in
    /// `f` is an error ([`Error::is_panic`]); a full pool fails at once
    /// ([`Error::is_overloaded`]) and the socket is closed (1000).
    pub async fn run_blocking<F>(mut self, f: F) -> Result<Outcome>
    where
        F: FnOnce(BlockingWebSocket) -> Result<()> + Send + 'static,
    {
        let (tx, rx) = futures::channel::oneshot::channel();
        let (job_tx, job_rx) = std::sync::mpsc::sync_channel::<BlockingWebSocket>(1);
        self.transport.spawn_blocking(Box::new(move || {
            let Ok(ws) = job_rx.recv() else { return };
            let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(ws)));
            let _ = tx.send(res);
        }))?;
        let WebSocket {
            transport,
            signal,
            protocol,
            control,
            done,
        } = self;
        let bws = BlockingWebSocket {
            transport: transport.into_blocking(),
            signal,
            protocol,
            control,
            done,
        };
        // The job waits for the handle; the channel has room, so this never blocks.
        let _ = job_tx.send(bws);
        match rx.await {
            Ok(Ok(res)) => res.map(|()| Outcome::done()),
            Ok(Err(payload)) => Err(Error::panic(crate::error::panic_message(&*payload))),
            Err(_) => Err(Error::other("the blocking pool dropped the job")),
        }
    }
}

/// A WebSocket served from a blocking-pool thread (see [`WebSocket::run_blocking`]). Each
/// call is a message to the connection and a blocking wait for its answer.
pub struct BlockingWebSocket {
    transport: Arc<dyn BlockingWsTransport>,
    signal: CloseSignal,
    protocol: Option<String>,
    control: bool,
    done: bool,
}

impl std::fmt::Debug for BlockingWebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingWebSocket")
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl BlockingWebSocket {
    /// The subprotocol chosen in the handshake.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The next message; blocks this thread. Same rules as [`WebSocket::recv`].
    pub fn recv(&mut self) -> Result<Message> {
        loop {
            if self.done {
                return Err(Error::disconnected());
            }
            match self.transport.recv() {
                Ok(Message::Ping(_) | Message::Pong(_)) if !self.control => continue,
                Ok(msg) => return Ok(msg),
                Err(e) => {
                    self.done = true;
                    return Err(e);
                }
            }
        }
    }

    /// Send one message; blocks until the connection has taken it.
    pub fn send(&mut self, msg: impl Into<Message>) -> Result<()> {
        if self.signal.is_client_gone() {
            return Err(Error::disconnected());
        }
        self.transport.send(msg.into())
    }

    /// Start the closing handshake with `code` and `reason`.
    pub fn close(mut self, code: u16, reason: &str) -> Result<()> {
        let frame = CloseFrame {
            code,
            reason: reason.to_owned(),
        };
        let _ = self.send(Message::Close(Some(frame)));
        Ok(())
    }

    /// The close signal (client gone / shutting down), for long work to poll.
    pub fn close_signal(&self) -> &CloseSignal {
        &self.signal
    }
}

/// docs/websocket.md's examples, compiled as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../docs/websocket.md")]
struct WebSocketDocDoctests;

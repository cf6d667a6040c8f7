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
//!    for its [`BlockingTransport`]) and [`SyncJob::run`] it on a pool thread;
//! 4. when the app accepts a WebSocket ([`Transport::start_upgrade`]), write the 101, flush
//!    it, hand the stream (and the bytes read past the head) to the WebSocket side, and give
//!    the app its [`WsTransport`].

use crate::exchange::{Exchange, Outcome};
use crate::h1::RequestHead;
use crate::request::Request;
use crate::signal::CloseSignal;

pub use crate::blocking::switch::{Switch, SyncJob};
pub use crate::request::ConnInfo;
pub use crate::response::{Part, ResponseHead};
pub use transport::{BlockingTransport, Transport};
pub use ws::{BlockingWsTransport, WsTransport};

pub(crate) mod transport;
mod ws;

#[cfg(test)]
pub(crate) mod testing;

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

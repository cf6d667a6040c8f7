//! Every message the actors exchange, each with its sender → receiver and what a reply means.
//!
//! Body chunks and response parts move only on demand: each carries (or answers) an explicit
//! credit, so at most one `ReadChunk` and one `Respond` per request are ever in a mailbox.
//! That is why plain `send`/`try_send` with the default mailbox is enough and `do_send` is
//! used only for control messages that carry no data.

use actix::dev::ToEnvelope;
use actix::{Actor, Handler, Message};
use bytes::Bytes;
use futures::channel::oneshot;
use weir::rt::Part;
use weir::Error;

/// The answer to a [`ReadChunk`]: one body chunk, `None` at the end of the body, or why the
/// body cannot be read.
pub type ChunkReply = Result<Option<Bytes>, Error>;

/// App (its transport, or a blocking reader) → connection's body stage: "send me the next
/// body chunk". The reply goes through `reply` once a chunk is decoded, which may be after
/// more bytes were read from the socket; it is dropped (the receiver sees `Canceled`) if the
/// connection goes away.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReadChunk {
    /// Which request of the connection asks (stale requests are refused).
    pub seq: u64,
    /// Where the chunk goes.
    pub reply: oneshot::Sender<ChunkReply>,
}

/// App → connection: one response part (head with the first, body bytes, end flag). `ack`
/// fires once the connection's write buffer is below its high-water mark, which is when the
/// app may produce its next value; an error means the client has gone.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Respond {
    /// Which request of the connection responds.
    pub seq: u64,
    /// The part.
    pub part: Part,
    /// Resolved when the connection has taken the part.
    pub ack: oneshot::Sender<Result<(), Error>>,
}

/// App actor, the connection's fast path, or a pool thread running a switched continuation
/// → connection: the app ended without finishing its response (an error, a panic, or
/// abandonment; or the pool was full when the switch was asked for). The connection answers
/// the error's status if nothing was sent yet, else closes.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AppFailed {
    /// Which request failed.
    pub seq: u64,
    /// Why.
    pub error: Error,
}

/// Connection → app actor: the connection has closed while the app was running. The app
/// has seen the close signal; if it does not finish within the grace period it is dropped.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ConnectionClosed;

/// Worker → connection: a graceful shutdown has begun. Idle connections close now; a busy
/// one finishes its response, closes after it, and raises the app's close signal.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

/// App (its transport) → connection: turn the minimum data rates on or off for this
/// request (`Exchange::set_min_data_rates`). No reply.
#[derive(Message)]
#[rtype(result = "()")]
pub struct MinDataRates {
    /// Which request.
    pub seq: u64,
    /// On (the configured rates) or off.
    pub enabled: bool,
}

/// App actor or transport → the blocking pool: run this job on a pool thread. The job reports
/// its own result (through a oneshot, or `Respond`/`AppFailed` to its connection); the reply
/// means nothing.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RunJob(pub Box<dyn FnOnce() + Send>);

/// App (its transport) → connection: answer this request with `101 Switching Protocols`
/// (with `headers` beside `Upgrade`/`Connection`) and hand the socket to a WebSocket
/// actor once the 101 is flushed. The reply is that actor, or why the upgrade could not
/// happen (a stale request, a response already started, a body still unread); dropped if
/// the connection went away first.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Upgrade {
    /// Which request upgrades.
    pub seq: u64,
    /// `Sec-WebSocket-Accept` and, if chosen, `Sec-WebSocket-Protocol`.
    pub headers: http::HeaderMap,
    /// Where the WebSocket actor's address goes after the hand-over.
    pub reply: oneshot::Sender<Result<actix::Addr<crate::websocket::WsConnection>, Error>>,
}

/// The answer to a [`WsRecv`]: one message, or why none will come.
pub type WsReply = Result<weir::ws::Message, Error>;

/// App's WebSocket handle → WebSocket actor: "send me the next message". Answered once a
/// whole message is decoded (the actor reads the socket only for this); dropped if the
/// actor stops first.
#[derive(Message)]
#[rtype(result = "()")]
pub struct WsRecv {
    /// Where the message goes.
    pub reply: oneshot::Sender<WsReply>,
}

/// App's WebSocket handle → WebSocket actor: send this message. `ack` fires once the
/// actor's write buffer is below the high-water mark; an error means the socket is closed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct WsSend {
    /// The message.
    pub msg: weir::ws::Message,
    /// Resolved when the actor has taken the message.
    pub ack: oneshot::Sender<Result<(), Error>>,
}

/// App's WebSocket handle → WebSocket actor: the app dropped its handle; close with 1000
/// if the socket is still open. No reply.
#[derive(Message)]
#[rtype(result = "()")]
pub struct WsDone;

/// An actor that serves a request's exchange: it answers [`ReadChunk`] and [`Respond`] and
/// hears [`AppFailed`]. The transports and the app actor are written against this, not
/// against the connection type, so the app side of the runtime does not depend on the
/// connection (and a test can stand in for it).
pub trait RequestPeer:
    Actor<Context = actix::Context<Self>>
    + Handler<ReadChunk>
    + Handler<Respond>
    + Handler<AppFailed>
    + Handler<MinDataRates>
    + Handler<Upgrade>
{
}

impl<A> RequestPeer for A
where
    A: Actor<Context = actix::Context<A>>
        + Handler<ReadChunk>
        + Handler<Respond>
        + Handler<AppFailed>
        + Handler<MinDataRates>
        + Handler<Upgrade>,
    A::Context: ToEnvelope<A, ReadChunk>
        + ToEnvelope<A, Respond>
        + ToEnvelope<A, AppFailed>
        + ToEnvelope<A, MinDataRates>
        + ToEnvelope<A, Upgrade>,
{
}

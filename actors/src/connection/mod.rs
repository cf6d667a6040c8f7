//! The connection actor: one per accepted connection, on a worker's arbiter.
//!
//! - **Owns**: the byte stream ([`Io`]: TCP, later TLS, or a test pipe), its read and write
//!   buffers, the HTTP/1.1 state of the connection ([`http1`]: waiting for a head, one request
//!   in flight, draining, closing, lingering), the current request's
//!   [body stage](crate::body), response encoder and close signal, and one timer ([`timer`]).
//! - **Receives**: [`ReadChunk`] and [`Respond`] from the request's transport (the app's,
//!   or a blocking continuation's on a pool thread), [`AppFailed`] from the request's
//!   [`AppActor`] or the pool thread running its switched continuation, [`Shutdown`] from its
//!   worker, [`Upgrade`](crate::messages::Upgrade) from the request's transport when its app
//!   accepts a WebSocket (the hand-over is in `upgrade`).
//! - **Sends**: chunk replies and write acks (oneshot answers to the messages above),
//!   [`ConnectionClosed`] to a still-running `AppActor`; polls each request's app first itself
//!   ([the fast path](crate::fast_path)), starts an `AppActor` for it once it waits, and
//!   dispatches a returned sync switch to the pool.
//! - **Stops when**: the client closes, a response ends with `Connection: close`, a framing
//!   error's lingering close ends, a timeout fires, the worker is shutting down and the
//!   connection is idle, or its socket was handed to a WebSocket actor.
//!
//! The actor is split by concern: this file is its shell (state, lifecycle, message
//! handlers); [`http1`] is the protocol (heads, requests, responses, keep-alive); [`driver`]
//! does the I/O; [`timer`] picks and fires the one timer; [`rate`] measures the minimum
//! data rates; [`access`] is the request's access record; [`upgrade`] hands an upgraded
//! connection over to a WebSocket actor.
//!
//! ## Started
//! Registers with its worker (for shutdown), and spawns its I/O driver: one future in its own
//! context that reads only when the state asks for bytes, flushes the write buffer, and runs
//! the timer. Message handlers only change state and fill buffers; the driver, polled right
//! after them in the same wake-up, does the syscalls, so a head and its body go out in one
//! write.
//! ## Running
//! One request at a time (pipelined requests wait in the read buffer and are answered in
//! order). Reading: `Head` → `Active` (body decoded on demand) → `Head` again, via `Drain`
//! when the app left body unread. Writing: the app's parts are encoded into the write buffer;
//! each is acknowledged once the buffer is below the high-water mark.
//! ## Stopping / Stopped
//! Raises the running app's close signal (client gone), tells its `AppActor`, and
//! unregisters from the worker. Dropping the stream closes it.

mod access;
mod driver;
mod http1;
mod rate;
#[cfg(test)]
mod tests;
mod timer;
mod upgrade;

use std::rc::Rc;

use actix::prelude::*;
use actix::WeakAddr;
use actix_rt::time::Instant;
use bytes::BytesMut;
use futures::channel::oneshot;
use http::Version;
use weir::{CloseReason, Error};

use crate::app::AppActor;
use crate::io::Io;
use crate::messages::{AppFailed, ConnectionClosed, MinDataRates, ReadChunk, Respond, Shutdown};
use crate::worker::Worker;
use crate::write_buf::WriteBuf;
use weir::rt::ConnInfo;

use self::http1::{Resp, State};
use crate::body::Expect;

/// The connection actor (see the module docs).
pub(crate) struct Connection {
    io: Box<dyn Io>,
    conn_info: ConnInfo,
    worker: Rc<Worker<Connection>>,
    id: u64,
    rbuf: BytesMut,
    wbuf: WriteBuf,
    state: State,
    /// Sequence number of the latest request; stale messages are refused by it.
    seq: u64,
    shutting_down: bool,
    /// Ack of the last `Respond`, held while the write buffer is above the high-water mark.
    held_ack: Option<oneshot::Sender<Result<(), Error>>>,
    /// The one timer, made when a deadline is wanted and dropped when none is, so a request
    /// that waits on its app holds no timer.
    timer: crate::deadline::Deadline,
    /// When the current head started arriving (the connection's start, for the first);
    /// `None` while idle between requests.
    head_start: Option<Instant>,
    /// Last read progress, for the body-read timeout; also when the connection last went
    /// idle between requests, for the keep-alive timeout.
    read_progress: Instant,
    /// Last write progress, for the write timeout.
    write_progress: Instant,
    /// Whether the write side was shut down (lingering close).
    write_shut: bool,
    /// The client shut its write side after whole requests and `half_close` is on: read no
    /// more, answer what was received, then close.
    read_closed: bool,
    /// The write buffer was empty after the last flush: the write timeout for new output
    /// runs from when it arrives, not from the last write.
    write_idle: bool,
    /// Whether the minimum data rates apply to the current request (an app may turn them
    /// off), and their meters, made only while the connection waits on a slow client.
    rates_on: bool,
    body_meter: Option<Box<rate::Meter>>,
    /// The response's credit against the minimum rate (see `rate`), made the first time
    /// response bytes wait on the client.
    credit: Option<Box<rate::Credit>>,
    /// The connection's span, boxed and made only when debug spans are on.
    span: Option<Box<tracing::Span>>,
    /// This actor's own address, made once: each `ctx.address()` allocates sender state.
    me: WeakAddr<Connection>,
    /// The connection slot; an `Option` so a WebSocket upgrade can move it along.
    _done: Option<oneshot::Sender<()>>,
}

impl Connection {
    /// Start a connection actor for `io` on the current (worker) arbiter. `done` is dropped
    /// when it stops, which is how the acceptor knows the connection slot is free again.
    pub(crate) fn start(
        io: Box<dyn Io>,
        conn_info: ConnInfo,
        worker: Rc<Worker<Connection>>,
        done: oneshot::Sender<()>,
    ) -> Addr<Connection> {
        let now = Instant::now();
        let id = worker.next_id();
        let span = tracing::debug_span!("conn", id, peer = %conn_info.peer_addr());
        let span = (!span.is_disabled()).then(|| Box::new(span));
        Connection::create(move |ctx| Connection {
            me: ctx.address().downgrade(),
            io,
            conn_info,
            worker,
            id,
            rbuf: BytesMut::new(),
            wbuf: WriteBuf::default(),
            state: State::Head,
            seq: 0,
            shutting_down: false,
            held_ack: None,
            timer: Default::default(),
            head_start: Some(now),
            read_progress: now,
            write_progress: now,
            write_shut: false,
            read_closed: false,
            rates_on: true,
            body_meter: None,
            credit: None,
            write_idle: true,
            span,
            _done: Some(done),
        })
    }

    fn cfg(&self) -> &crate::Config {
        &self.worker.cfg
    }

    fn close_now(&mut self, ctx: &mut Context<Self>) {
        ctx.stop();
    }

    /// Close, discarding what the kernel still holds for a client that reads too slowly
    /// (see [`Io::abort`]).
    fn abort_now(&mut self, ctx: &mut Context<Self>) {
        self.io.abort();
        ctx.stop();
    }

    /// The request in flight will get no more from this connection: its app sees
    /// `ClientGone`, its pending read fails with `error`, and its app actor (if it has one)
    /// is told, so an app that ignores all that is dropped after `abandon_grace`.
    fn abandon_request(&mut self, error: Error) {
        if let State::Active(r) = &mut self.state {
            r.signal.close(CloseReason::ClientGone);
            r.body.fail_want(error);
            if let Some(app) = r.app.as_ref().and_then(WeakAddr::upgrade) {
                app.do_send(ConnectionClosed);
            }
        }
    }
}

impl Actor for Connection {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Room for one ReadChunk and one Respond per request, plus control messages.
        ctx.set_mailbox_capacity(16);
        self.worker.register(self.id, self.me.clone());
        if self.worker.is_shutting_down() {
            self.shutting_down = true;
        }
        ctx.spawn(driver::Driver);
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.worker.unregister(self.id);
        self.abandon_request(Error::disconnected());
        tracing::trace!(parent: access::span_of(&self.span), requests = self.seq, "connection closed");
    }
}

impl Handler<ReadChunk> for Connection {
    type Result = ();

    fn handle(&mut self, msg: ReadChunk, ctx: &mut Self::Context) {
        let State::Active(r) = &mut self.state else {
            return; // dropping `reply` tells the reader the request is over
        };
        if r.seq != msg.seq {
            return;
        }
        if r.body.expect == Expect::Pending {
            r.body.expect = Expect::Sent;
            if matches!(r.resp, Resp::AwaitHead) && r.info.version == Version::HTTP_11 {
                self.wbuf.tail().extend_from_slice(weir::h1::CONTINUE);
            }
        }
        r.body.ask(msg.reply);
        self.read_progress = Instant::now();
        self.on_input(ctx);
    }
}

impl Handler<Respond> for Connection {
    type Result = ();

    fn handle(&mut self, msg: Respond, ctx: &mut Self::Context) {
        self.on_respond(msg, ctx);
    }
}

impl Handler<AppFailed> for Connection {
    type Result = ();

    fn handle(&mut self, msg: AppFailed, ctx: &mut Self::Context) {
        if matches!(&self.state, State::Active(r) if r.seq == msg.seq) {
            self.fail_request(msg.error, ctx);
        }
    }
}

impl Handler<MinDataRates> for Connection {
    type Result = ();

    fn handle(&mut self, msg: MinDataRates, _ctx: &mut Self::Context) {
        if matches!(&self.state, State::Active(r) if r.seq == msg.seq) {
            self.rates_on = msg.enabled;
            if !msg.enabled {
                self.body_meter = None;
                self.credit = None;
            }
        }
    }
}

impl Handler<Shutdown> for Connection {
    type Result = ();

    fn handle(&mut self, _: Shutdown, _ctx: &mut Self::Context) {
        self.shutting_down = true;
        if let State::Active(r) = &mut self.state {
            r.signal.close(CloseReason::Shutdown);
            r.info.keep_alive = false;
        }
        // An idle connection is closed by the driver, which runs right after this.
    }
}

/// The app actor of a request on this connection.
type App = AppActor<Connection>;

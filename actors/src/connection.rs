//! The connection actor: one per accepted TCP connection, on a worker's arbiter.
//!
//! - **Owns**: the socket, its read and write buffers, the HTTP/1.1 state of the connection
//!   (waiting for a head, one request in flight, draining, closing, lingering), the current
//!   request's [body stage](crate::body), response encoder and close signal, and one timer.
//! - **Receives**: [`ReadChunk`] and [`Respond`] from the request's app transport,
//!   [`AppFailed`] from the request's [`AppActor`], [`Shutdown`] from its worker.
//! - **Sends**: chunk replies and write acks (oneshot answers to the messages above),
//!   [`ConnectionClosed`] to a still-running [`AppActor`]; polls each request's app first
//!   itself (the fast path) and starts an `AppActor` for it once it waits.
//! - **Stops when**: the client closes, a response ends with `Connection: close`, a framing
//!   error's lingering close ends, a timeout fires, or the worker is shutting down and the
//!   connection is idle.
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
//! unregisters from the worker. Dropping the socket closes it.

use std::future::Future;
use std::net::{Shutdown as SockShutdown, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use actix::prelude::*;
use actix::WeakAddr;
use actix_rt::net::TcpStream;
use actix_rt::time::{sleep_until, Sleep};
use bytes::BytesMut;
use futures::channel::oneshot;
use futures::future::LocalBoxFuture;
use http::{Method, StatusCode, Version};
use tracing::Level;
use weir::h1::{self, BodyEncoder, ParseError, RequestInfo};
use weir::rt::{self, ConnInfo, Part};
use weir::{CloseReason, CloseSignal, Error, Outcome};

use crate::app::{run_switched, ActorTransport, AppActor, InlineDrive};
use crate::body::{BodyStage, Expect, Pump};
use crate::messages::{AppFailed, ConnectionClosed, ReadChunk, Respond, Shutdown};
use crate::worker::Worker;
use crate::write_buf::WriteBuf;

/// Smallest read buffer reserved for a head read: enough for a typical request head, so
/// keep-alive traffic does not hold a full body-sized buffer per connection.
const HEAD_READ: usize = 4096;

/// Socket reads or writes per driver wake-up before yielding to other connections on the
/// worker (actix and hyper cap work per wake-up the same way, for fairness).
const MAX_IO_PER_WAKE: usize = 16;

/// The connection actor (see the module docs).
pub struct Connection {
    io: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    worker: Rc<Worker>,
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
    timer: Option<Pin<Box<Sleep>>>,
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
    /// The write buffer was empty after the last flush: the write timeout for new output
    /// runs from when it arrives, not from the last write.
    write_idle: bool,
    /// The connection's span, boxed and made only when debug spans are on.
    span: Option<Box<tracing::Span>>,
    /// This actor's own address, made once: each `ctx.address()` allocates sender state.
    me: WeakAddr<Connection>,
    _done: oneshot::Sender<()>,
}

/// Where the connection stands.
enum State {
    /// Waiting for a request head (idle between requests, or part of a head has arrived).
    Head,
    /// A request is in flight.
    Active(InFlight),
    /// The response is done; discarding the rest of its body before the next head.
    Drain { body: BodyStage, drained: u64 },
    /// Flushing the last bytes, then closing.
    Closing,
    /// After an error response: write side shut, discarding input until EOF, a limit or the
    /// linger timeout, so the client reads the response instead of a reset.
    Linger { since: Instant, discarded: u64 },
}

/// One request in flight.
struct InFlight {
    seq: u64,
    body: BodyStage,
    resp: Resp,
    info: RequestInfo,
    signal: CloseSignal,
    /// The app actor, once the app waits on something and leaves the fast path. Weak: only
    /// needed to say the connection closed (see `Worker::conns`).
    app: Option<WeakAddr<AppActor>>,
    log: Option<Box<Access>>,
}

/// The response side of a request in flight.
enum Resp {
    /// The app has not sent its head yet.
    AwaitHead,
    /// Head sent; body being encoded.
    Body(BodyEncoder),
}

/// Where log events go when the connection has no span of its own.
static NO_SPAN: tracing::Span = tracing::Span::none();

/// The connection's span, or none.
fn span_of(span: &Option<Box<tracing::Span>>) -> &tracing::Span {
    span.as_deref().unwrap_or(&NO_SPAN)
}

/// What the access line needs; boxed and made only when the access log is on, so a
/// waiting request does not carry it otherwise.
struct Access {
    start: Instant,
    method: Method,
    target: String,
    status: u16,
    bytes: u64,
    span: tracing::Span,
}

/// The span for a request's log lines: its own when it has one, else the connection's.
fn req_span<'a>(log: &'a Option<Box<Access>>, conn: &'a tracing::Span) -> &'a tracing::Span {
    log.as_ref().map_or(conn, |l| &l.span)
}

/// What became of a response part.
enum Taken {
    /// In the write buffer, which is below the high-water mark: the app may go on.
    Ack,
    /// In the write buffer, which is above the mark: the app waits until it drains.
    Hold,
    /// Refused (the request is over, or the part broke the response).
    Failed(Error),
}

/// Self-wakes (empty yields) an app gets on the fast path before it must wait like any
/// other (an app that keeps waking itself gets its own actor, not the connection's time).
const INLINE_POLLS: usize = 16;

/// Pipelined requests served per driver wake-up before yielding to other connections (the
/// same cap actix and hyper use, for fairness).
const MAX_PIPELINED: usize = 16;

/// Which timer is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    Write,
    HeadRead,
    Idle,
    BodyRead,
    Linger,
}

impl Connection {
    /// Start a connection actor on the current (worker) arbiter. `done` is dropped when it
    /// stops, which is how the acceptor knows the connection slot is free again.
    pub(crate) fn start(
        io: TcpStream,
        peer: SocketAddr,
        local: SocketAddr,
        worker: Rc<Worker>,
        done: oneshot::Sender<()>,
    ) -> Addr<Connection> {
        let now = Instant::now();
        let id = worker.next_id();
        let span = tracing::debug_span!("conn", id, %peer);
        let span = (!span.is_disabled()).then(|| Box::new(span));
        Connection::create(move |ctx| Connection {
            me: ctx.address().downgrade(),
            io,
            peer,
            local,
            worker,
            id,
            rbuf: BytesMut::new(),
            wbuf: WriteBuf::default(),
            state: State::Head,
            seq: 0,
            shutting_down: false,
            held_ack: None,
            timer: None,
            head_start: Some(now),
            read_progress: now,
            write_progress: now,
            write_shut: false,
            write_idle: true,
            span,
            _done: done,
        })
    }

    fn cfg(&self) -> &crate::Config {
        &self.worker.cfg
    }

    // ----- reading -------------------------------------------------------------------------

    /// Whether the state wants bytes from the socket now.
    fn wants_read(&self) -> bool {
        match &self.state {
            State::Head | State::Drain { .. } | State::Linger { .. } => true,
            // Read while a body chunk is asked for; once the body is complete, keep reading
            // (the next pipelined head, bounded by the head limit) so that a client that
            // goes away is noticed while the app is still working.
            State::Active(r) => {
                r.body.is_wanted()
                    || (r.body.is_complete() && self.rbuf.len() < self.cfg().limits.max_head_bytes)
            }
            State::Closing => false,
        }
    }

    /// Read once into the read buffer. `Ready(Ok(0))` is end of input.
    fn poll_read(&mut self, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<usize>> {
        let want = match self.state {
            State::Active(ref r) if r.body.is_wanted() => self.cfg().read_buffer,
            State::Drain { .. } | State::Linger { .. } => self.cfg().read_buffer,
            _ => HEAD_READ,
        };
        if self.rbuf.capacity() == 0 {
            self.rbuf = self.worker.take_buf();
        }
        if self.rbuf.capacity() - self.rbuf.len() < want / 2 {
            self.rbuf.reserve(want);
        }
        // Through AsyncRead rather than `try_read_buf`: after a short read it forgets the
        // socket's readiness, saving the EWOULDBLOCK read that would otherwise follow every
        // request.
        tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.rbuf)
    }

    /// New bytes are in the read buffer (or a request ended with bytes left in it).
    fn on_input(&mut self, ctx: &mut Context<Self>) {
        match &mut self.state {
            State::Head => self.parse_head(ctx),
            State::Active(r) => {
                if let Pump::Failed(e) = r.body.pump(&mut self.rbuf) {
                    self.body_failed(e);
                }
            }
            State::Drain { body, drained } => match body.drain(&mut self.rbuf) {
                Ok((n, done)) => {
                    *drained += n;
                    if done {
                        self.state = State::Head;
                        self.next_request();
                    } else if *drained > self.worker.cfg.drain_limit {
                        tracing::debug!(parent: span_of(&self.span), "unread body over the drain limit; closing");
                        self.state = State::Closing;
                    }
                }
                Err(e) => {
                    tracing::debug!(parent: span_of(&self.span), error = %e, "bad body while draining; closing");
                    self.state = State::Closing;
                }
            },
            State::Linger { discarded, .. } => {
                *discarded += self.rbuf.len() as u64;
                self.rbuf.clear();
                if *discarded > self.worker.cfg.linger_limit {
                    self.close_now(ctx);
                }
            }
            State::Closing => {}
        }
    }

    /// End of input from the client.
    fn on_eof(&mut self, ctx: &mut Context<Self>) {
        match &self.state {
            State::Head if !self.rbuf.is_empty() => {
                tracing::debug!(parent: span_of(&self.span), "client closed mid-head");
            }
            State::Active(_) => {
                // Half-closed clients are treated as gone (hyper's default): the response
                // has nobody to go to in practice, and the app should stop.
                tracing::debug!(parent: span_of(&self.span), "client closed during a request");
            }
            _ => {}
        }
        self.close_now(ctx);
    }

    fn parse_head(&mut self, ctx: &mut Context<Self>) {
        if self.rbuf.is_empty() {
            return;
        }
        match h1::parse_head(&mut self.rbuf, &self.worker.cfg.limits) {
            Ok(Some(head)) => self.start_request(head, ctx),
            Ok(None) => {}
            Err(e) => self.reject(e.status(), e.reason(), ctx),
        }
    }

    /// Answer a request that never reached an app with `status`, then close lingering.
    fn reject(&mut self, status: StatusCode, reason: &str, _ctx: &mut Context<Self>) {
        let level_warn = status.is_server_error();
        if level_warn {
            tracing::warn!(parent: span_of(&self.span), status = status.as_u16(), %reason, "rejecting request");
        } else {
            tracing::info!(parent: span_of(&self.span), status = status.as_u16(), %reason, "rejecting request");
        }
        h1::encode_simple(self.wbuf.tail(), status, reason, false);
        self.enter_linger();
    }

    fn enter_linger(&mut self) {
        self.rbuf.clear();
        self.state = State::Linger {
            since: Instant::now(),
            discarded: 0,
        };
    }

    fn start_request(&mut self, head: h1::RequestHead, ctx: &mut Context<Self>) {
        self.seq += 1;
        let seq = self.seq;
        let cfg = &self.worker.cfg;
        let info = RequestInfo {
            method_is_head: head.method == Method::HEAD,
            version: head.version,
            keep_alive: head.keep_alive && !self.shutting_down,
        };
        let body = BodyStage::new(head.framing, head.expect_continue, &cfg.limits);
        let log = (cfg.access_log && tracing::enabled!(target: "weir::access", Level::INFO))
            .then(|| {
                Box::new(Access {
                    start: Instant::now(),
                    method: head.method.clone(),
                    target: head.target.clone(),
                    status: 0,
                    bytes: 0,
                    span: tracing::debug_span!(parent: span_of(&self.span), "req", seq, method = %head.method, target = %head.target),
                })
            });
        let signal = CloseSignal::new();
        if self.shutting_down {
            signal.close(CloseReason::Shutdown);
        }
        let req = rt::request(head, ConnInfo::new(self.peer, self.local));
        let me = self.me.clone();
        let transport = ActorTransport::new(self.id, seq, me, self.worker.pool.clone());
        let fut = (self.worker.app)(rt::exchange(req, Box::new(transport), signal.clone()));
        self.state = State::Active(InFlight {
            seq,
            body,
            resp: Resp::AwaitHead,
            info,
            signal,
            app: None,
            log,
        });
        self.drive_inline(fut, seq, ctx);
    }

    /// The fast path: poll the app right here, taking its response parts straight from the
    /// shared slot, for as long as it makes progress without waiting on anything else (the
    /// usual case: a response produced in one go). An app that waits (for body bytes, a
    /// timer, a hub, a slow client) moves to its own [`AppActor`] and talks in messages.
    fn drive_inline(
        &mut self,
        mut fut: LocalBoxFuture<'static, Result<Outcome, Error>>,
        seq: u64,
        ctx: &mut Context<Self>,
    ) {
        // The worker's waker, borrowed through our own handle on the worker (an `Rc`
        // clone, cheaper than cloning the waker's `Arc`).
        let worker = Rc::clone(&self.worker);
        let mut cx = TaskContext::from_waker(&worker.inline_waker);
        let drive = InlineDrive::begin(self.id, seq);
        // Re-polls for parts are bounded by the write buffer's high-water mark (past it the
        // app waits, and leaves); re-polls for self-wakes by `INLINE_POLLS`.
        let mut self_wakes = 0;
        loop {
            self.worker.inline_flag.take();
            let polled = std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx)));
            let out = match polled {
                Ok(Poll::Pending) => None,
                Ok(Poll::Ready(out)) => Some(out),
                Err(payload) => Some(Err(Error::from_panic(&*payload))),
            };
            if let Some(out) = out {
                drop(drive);
                self.app_done(seq, out, ctx);
                return;
            }
            let part = drive.with(|i| i.part.take());
            match part.map(|part| self.take_part(seq, part, ctx)) {
                // The app's `send` completes on the next poll.
                Some(Taken::Ack) => drive.with(|i| i.ack = Some(Ok(()))),
                Some(Taken::Failed(e)) => drive.with(|i| i.ack = Some(Err(e))),
                Some(Taken::Hold) => {
                    // Above the high-water mark: the app must wait for the socket. One more
                    // poll lets its transport adopt the receiver the ack will come through.
                    let (tx, rx) = oneshot::channel();
                    self.held_ack = Some(tx);
                    drive.with(|i| i.held_ack = Some(rx));
                }
                None if self.worker.inline_flag.take() && self_wakes < INLINE_POLLS => {
                    self_wakes += 1;
                }
                // Waiting on something else: it needs an actor of its own.
                None => break,
            }
        }
        drop(drive);
        if ctx.state().stopping() {
            return; // the connection is going; the app goes with it
        }
        let me = self.me.clone();
        let cfg = &self.worker.cfg;
        let app = AppActor::start_for(fut, seq, me, self.worker.pool.clone(), cfg.abandon_grace);
        if let State::Active(r) = &mut self.state {
            if r.seq == seq {
                r.app = Some(app.downgrade());
            }
        }
    }

    /// The app's future finished on the fast path.
    fn app_done(&mut self, seq: u64, out: Result<Outcome, Error>, ctx: &mut Context<Self>) {
        let current = matches!(&self.state, State::Active(r) if r.seq == seq);
        match out {
            Ok(outcome) => {
                if let Some(switch) = rt::take_switch(outcome) {
                    let me = self.me.clone();
                    if let Err(e) = run_switched(switch, &me, seq, &self.worker.pool) {
                        if current {
                            self.fail_request(e, ctx);
                        }
                    }
                }
            }
            Err(e) if current => self.fail_request(e, ctx),
            Err(_) => {}
        }
    }

    /// The body could not be decoded: the app has the error; the connection cannot be
    /// reused, since where the next request starts is unknown.
    fn body_failed(&mut self, e: ParseError) {
        tracing::info!(parent: span_of(&self.span), error = %e, "bad request body");
        if let State::Active(r) = &mut self.state {
            r.info.keep_alive = false;
        }
    }

    // ----- responding ----------------------------------------------------------------------

    /// Take one response part of request `seq` into the write buffer.
    fn take_part(&mut self, seq: u64, part: Part, ctx: &mut Context<Self>) -> Taken {
        let State::Active(r) = &mut self.state else {
            return Taken::Failed(Error::disconnected());
        };
        let conn_span = span_of(&self.span);
        if r.seq != seq {
            return Taken::Failed(Error::disconnected());
        }
        if let Some(head) = part.head {
            debug_assert!(matches!(r.resp, Resp::AwaitHead));
            if r.body.expect == Expect::Pending {
                // A final answer to an `Expect: 100-continue` request whose body was never
                // asked for: the client may never send it, so the connection cannot be
                // reused; say so in the head (RFC 9110 §10.1.1).
                r.info.keep_alive = false;
            }
            if self.wbuf.tail().capacity() == 0 {
                *self.wbuf.tail() = self.worker.take_buf();
            }
            let before = self.wbuf.tail().len();
            match h1::encode_head(self.wbuf.tail(), head.status, &head.headers, r.info) {
                Ok(enc) => {
                    r.info.keep_alive = enc.keep_alive;
                    if let Some(l) = &mut r.log {
                        l.status = head.status.as_u16();
                    }
                    r.resp = Resp::Body(enc.encoder);
                }
                Err(e) => {
                    self.wbuf.tail().truncate(before);
                    let err =
                        Error::with_status(StatusCode::INTERNAL_SERVER_ERROR, "bad response head");
                    tracing::error!(parent: span_of(&self.span), error = %e, "app gave an invalid response head");
                    self.fail_request(err, ctx);
                    return Taken::Failed(Error::other(e));
                }
            }
        }
        let Resp::Body(enc) = &mut r.resp else {
            // A part without a head before the head: the exchange makes this impossible.
            return Taken::Failed(Error::other("response body before head"));
        };
        let before = self.wbuf.len();
        let mut res = enc.encode_bytes(part.body, &mut self.wbuf);
        if res.is_ok() && part.end {
            res = enc.finish(self.wbuf.tail());
        }
        if let Some(l) = &mut r.log {
            l.bytes += (self.wbuf.len() - before) as u64;
        }
        if let Err(e) = res {
            // Too many or too few bytes for the app's Content-Length: the response on the
            // wire is broken, so the connection must go once what fits is written.
            tracing::error!(parent: req_span(&r.log, conn_span), error = %e, "app broke its Content-Length; closing");
            r.info.keep_alive = false;
            self.finish_request(ctx);
            self.state = State::Closing;
            return Taken::Failed(Error::other(e));
        }
        let below = self.wbuf.len() <= self.cfg().write_high_water;
        if part.end {
            self.finish_request(ctx);
        }
        if below {
            Taken::Ack
        } else {
            Taken::Hold
        }
    }

    fn on_respond(&mut self, msg: Respond, ctx: &mut Context<Self>) {
        match self.take_part(msg.seq, msg.part, ctx) {
            Taken::Ack => {
                let _ = msg.ack.send(Ok(()));
            }
            Taken::Hold => self.held_ack = Some(msg.ack),
            Taken::Failed(e) => {
                let _ = msg.ack.send(Err(e));
            }
        }
    }

    /// The app failed before finishing its response.
    fn fail_request(&mut self, error: Error, ctx: &mut Context<Self>) {
        let State::Active(r) = &mut self.state else {
            return;
        };
        let conn_span = span_of(&self.span);
        match r.resp {
            Resp::AwaitHead => {
                let status = error.status();
                if error.is_disconnected() {
                    tracing::debug!(parent: req_span(&r.log, conn_span), "app stopped: client gone");
                } else if status.is_server_error() {
                    tracing::error!(parent: req_span(&r.log, conn_span), %error, "app failed");
                } else {
                    tracing::info!(parent: req_span(&r.log, conn_span), %error, "app answered with an error");
                }
                r.info.keep_alive &= !r.body.has_failed();
                let before = self.wbuf.len();
                r.info.keep_alive = write_error(self.wbuf.tail(), status, &error, r.info);
                if let Some(l) = &mut r.log {
                    l.status = status.as_u16();
                    l.bytes += (self.wbuf.len() - before) as u64;
                }
                let framing_broken = r.body.has_failed();
                self.finish_request(ctx);
                if framing_broken {
                    self.enter_linger();
                }
            }
            Resp::Body(_) => {
                tracing::error!(parent: req_span(&r.log, conn_span), %error, "app failed mid-response; closing");
                r.info.keep_alive = false;
                self.finish_request(ctx);
                self.state = State::Closing;
            }
        }
    }

    /// The response is complete (or abandoned): log it and move to the next state.
    fn finish_request(&mut self, ctx: &mut Context<Self>) {
        let State::Active(r) = std::mem::replace(&mut self.state, State::Closing) else {
            return;
        };
        if let Some(l) = &r.log {
            tracing::info!(
                target: "weir::access",
                parent: &l.span,
                peer = %self.peer,
                method = %l.method,
                target = %l.target,
                status = l.status,
                bytes = l.bytes,
                micros = l.start.elapsed().as_micros() as u64,
            );
        }
        let keep = r.info.keep_alive && !self.shutting_down && !r.body.has_failed();
        self.state = if !keep {
            State::Closing
        } else if r.body.is_complete() {
            State::Head
        } else if r.body.expect == Expect::Pending {
            // RFC 9110 §10.1.1: we never asked for the body, so the client may not send it;
            // waiting to drain it could hang, so close instead.
            State::Closing
        } else {
            State::Drain {
                body: r.body,
                drained: 0,
            }
        };
        if matches!(self.state, State::Head) {
            self.next_request();
        } else if matches!(self.state, State::Drain { .. }) {
            self.on_input(ctx);
        }
    }

    /// Back to waiting for a head: parse one already buffered (pipelining).
    fn next_request(&mut self) {
        let now = Instant::now();
        self.read_progress = now;
        self.head_start = (!self.rbuf.is_empty()).then_some(now);
        // A pipelined head already in the buffer is parsed by the driver, which runs next:
        // parsing here would recurse through the next request's fast path.
    }

    // ----- closing -------------------------------------------------------------------------

    fn close_now(&mut self, ctx: &mut Context<Self>) {
        ctx.stop();
    }

    fn on_timeout(&mut self, which: Timer, ctx: &mut Context<Self>) {
        match which {
            Timer::Write => {
                tracing::info!(parent: span_of(&self.span), "write timeout: client stopped reading; closing");
                self.close_now(ctx);
            }
            Timer::HeadRead => {
                if self.rbuf.is_empty() {
                    tracing::debug!(parent: span_of(&self.span), "no request before the header timeout; closing");
                    self.close_now(ctx);
                } else {
                    self.reject(StatusCode::REQUEST_TIMEOUT, "request head timed out", ctx);
                }
            }
            Timer::Idle => {
                tracing::debug!(parent: span_of(&self.span), "keep-alive timeout; closing");
                self.close_now(ctx);
            }
            Timer::BodyRead => {
                tracing::info!(parent: span_of(&self.span), "body read timeout; closing");
                if let State::Active(r) = &mut self.state {
                    r.body.fail_want(Error::body_timeout());
                }
                self.close_now(ctx);
            }
            Timer::Linger => self.close_now(ctx),
        }
    }

    /// Which timer should run now, and when it fires.
    fn desired_timer(&self) -> Option<(Timer, Instant)> {
        let cfg = self.cfg();
        if !self.wbuf.is_empty() {
            return Some((Timer::Write, self.write_progress + cfg.write_timeout));
        }
        match &self.state {
            State::Head => match self.head_start {
                Some(t) => Some((Timer::HeadRead, t + cfg.header_read_timeout)),
                None => Some((Timer::Idle, self.read_progress + cfg.keep_alive_timeout)),
            },
            State::Active(r) if r.body.is_wanted() => {
                Some((Timer::BodyRead, self.read_progress + cfg.body_read_timeout))
            }
            State::Active(_) | State::Closing => None,
            State::Drain { .. } => {
                Some((Timer::BodyRead, self.read_progress + cfg.body_read_timeout))
            }
            State::Linger { since, .. } => Some((Timer::Linger, *since + cfg.linger_timeout)),
        }
    }

    // ----- the I/O driver ------------------------------------------------------------------

    /// Flush, read and time out as the state asks; called by the driver on every wake-up.
    fn poll_io(&mut self, ctx: &mut Context<Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let mut rounds = 0;
        loop {
            if rounds == MAX_IO_PER_WAKE {
                // Still making progress: yield to the worker's other connections, and come
                // back (nothing else would wake us for bytes already buffered).
                cx.waker().wake_by_ref();
                break;
            }
            rounds += 1;
            if ctx.state().stopping() {
                return Poll::Ready(());
            }
            // Pipelined requests already buffered are served before any write, so their
            // responses leave together.
            let mut progressed = self.serve_buffered(ctx);
            if ctx.state().stopping() {
                return Poll::Ready(());
            }

            // Write first: it frees buffer space and acks the app.
            if !self.wbuf.is_empty() {
                match self.poll_flush(cx) {
                    Poll::Ready(Ok(())) => progressed = true,
                    Poll::Ready(Err(e)) => {
                        tracing::debug!(parent: span_of(&self.span), error = %e, "write failed; closing");
                        self.close_now(ctx);
                        return Poll::Ready(());
                    }
                    Poll::Pending => {}
                }
            }
            if self.wbuf.len() <= self.cfg().write_high_water {
                if let Some(ack) = self.held_ack.take() {
                    let _ = ack.send(Ok(()));
                }
            }
            if self.wbuf.is_empty() {
                match self.state {
                    State::Closing => {
                        let _ = socket2::SockRef::from(&self.io).shutdown(SockShutdown::Write);
                        self.close_now(ctx);
                        return Poll::Ready(());
                    }
                    State::Linger { .. } if !self.write_shut => {
                        // Half-close so the client sees the end of the response, then keep
                        // reading (and discarding) for a while.
                        self.write_shut = true;
                        let _ = socket2::SockRef::from(&self.io).shutdown(SockShutdown::Write);
                    }
                    State::Head if self.shutting_down && self.rbuf.is_empty() => {
                        self.close_now(ctx);
                        return Poll::Ready(());
                    }
                    _ => {}
                }
            }

            if self.wants_read() {
                match self.poll_read(cx) {
                    Poll::Ready(Ok(0)) => {
                        self.on_eof(ctx);
                        return Poll::Ready(());
                    }
                    Poll::Ready(Ok(_)) => {
                        progressed = true;
                        let now = Instant::now();
                        self.read_progress = now;
                        if matches!(self.state, State::Head) && self.head_start.is_none() {
                            // First bytes of a new head: the header timeout runs from here,
                            // and is not extended by later bytes (slowloris).
                            self.head_start = Some(now);
                        }
                        self.on_input(ctx);
                    }
                    Poll::Ready(Err(e)) => {
                        tracing::debug!(parent: span_of(&self.span), error = %e, "read failed; closing");
                        self.close_now(ctx);
                        return Poll::Ready(());
                    }
                    Poll::Pending => {}
                }
            }

            if !progressed {
                break;
            }
        }
        if ctx.state().stopping() {
            return Poll::Ready(());
        }
        self.release_idle_buffers();
        self.poll_timer(ctx, cx)
    }

    /// Parse and serve the heads already in the read buffer (pipelining), up to
    /// `MAX_PIPELINED`; stops at an incomplete head.
    fn serve_buffered(&mut self, ctx: &mut Context<Self>) -> bool {
        let mut served = false;
        for _ in 0..MAX_PIPELINED {
            if !matches!(self.state, State::Head) || self.rbuf.is_empty() || ctx.state().stopping()
            {
                break;
            }
            let seq = self.seq;
            self.parse_head(ctx);
            if self.seq == seq && matches!(self.state, State::Head) {
                break; // the head is not complete yet
            }
            served = true;
        }
        served
    }

    /// Write as much of the write buffer as the socket takes.
    fn poll_flush(&mut self, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        let mut progressed = false;
        let res = self.wbuf.poll_write(&self.io, cx, &mut progressed);
        if progressed || self.write_idle {
            self.write_progress = Instant::now();
        }
        self.write_idle = self.wbuf.is_empty();
        res
    }

    /// An idle connection holds no buffers: Comet servers keep thousands of them.
    fn release_idle_buffers(&mut self) {
        if self.rbuf.is_empty() && self.rbuf.capacity() > 0 && !self.wants_body_bytes() {
            self.worker.give_buf(std::mem::take(&mut self.rbuf));
        }
        if let Some(tail) = self.wbuf.release() {
            self.worker.give_buf(tail);
        }
    }

    fn wants_body_bytes(&self) -> bool {
        matches!(&self.state, State::Active(r) if r.body.is_wanted())
    }

    fn poll_timer(&mut self, ctx: &mut Context<Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let Some((which, at)) = self.desired_timer() else {
            self.timer = None;
            return Poll::Pending;
        };
        let at = actix_rt::time::Instant::from_std(at);
        let timer = match &mut self.timer {
            Some(t) => {
                if t.deadline() != at {
                    t.as_mut().reset(at);
                }
                t
            }
            None => self.timer.insert(Box::pin(sleep_until(at))),
        };
        if timer.as_mut().poll(cx).is_ready() {
            self.timer = None;
            self.on_timeout(which, ctx);
            if ctx.state().stopping() {
                return Poll::Ready(());
            }
            // The timeout changed the state (an error response to write): go round again.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

/// An error response for a request that reached an app: plain text, with `Retry-After`
/// on 503 (the blocking pool is full: RFC 9110 §10.2.3). Returns the keep-alive decision.
fn write_error(dst: &mut BytesMut, status: StatusCode, error: &Error, info: RequestInfo) -> bool {
    let mut headers = http::HeaderMap::new();
    let msg = format!("{}\n", error.public_message());
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(http::header::CONTENT_LENGTH, msg.len().into());
    if status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("1"),
        );
    }
    match h1::encode_head(dst, status, &headers, info) {
        Ok(mut enc) => {
            let _ = enc.encoder.encode(msg.as_bytes(), dst);
            let _ = enc.encoder.finish(dst);
            enc.keep_alive
        }
        Err(_) => {
            h1::encode_simple(dst, status, &msg, false);
            false
        }
    }
}

/// The connection's I/O driver: a future living in the actor's own context, polled after
/// each batch of messages, with `&mut Connection` in hand.
struct Driver;

impl ActorFuture<Connection> for Driver {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        act: &mut Connection,
        ctx: &mut Context<Connection>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<()> {
        act.poll_io(ctx, cx)
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
        ctx.spawn(Driver);
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.worker.unregister(self.id);
        if let State::Active(r) = &mut self.state {
            r.signal.close(CloseReason::ClientGone);
            r.body.fail_want(Error::disconnected());
            if let Some(app) = r.app.as_ref().and_then(WeakAddr::upgrade) {
                app.do_send(ConnectionClosed);
            }
        }
        tracing::trace!(parent: span_of(&self.span), requests = self.seq, "connection closed");
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
                self.wbuf.tail().extend_from_slice(h1::CONTINUE);
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

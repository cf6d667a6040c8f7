//! The HTTP/1.1 state of a connection: heads, requests in flight, responses, keep-alive.
//!
//! What the connection is doing is one [`State`] with its data in the variants; transitions
//! are the small methods below. A request's life: a head is parsed (`parse_head`), the
//! request starts and its app is driven on the fast path (`start_request`), the app's parts
//! are encoded into the write buffer (`take_part`), and the request finishes
//! (`finish_request`): back to `Head` for the next (pipelined) request, through `Drain` when
//! the app left body unread, or to `Closing`. A head that cannot be served is answered with
//! its status and a lingering close (`reject`).

use std::rc::Rc;

use actix::prelude::*;
use actix::WeakAddr;
use actix_rt::time::Instant;
use bytes::BytesMut;
use futures::channel::oneshot;
use http::{Method, StatusCode};
use weir::h1::{self, BodyEncoder, ParseError, RequestInfo};
use weir::rt::{self, Part};
use weir::{CloseReason, CloseSignal, Error, Outcome};

use super::access::{req_span, span_of, RequestLog};
use super::{App, Connection};
use crate::app::{run_switched, AppActor};
use crate::body::{BodyStage, Expect, Pump};
use crate::fast_path::{self, Answer, Driven};
use crate::messages::Respond;
use crate::transport::ActorTransport;

/// Where the connection stands.
pub(super) enum State {
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
    /// Answered with 101: flushing it, then handing the socket to a WebSocket actor
    /// ([`upgrade`](super::upgrade)).
    Upgrading(Box<super::upgrade::Upgrading>),
}

/// One request in flight.
pub(super) struct InFlight {
    pub(super) seq: u64,
    pub(super) body: BodyStage,
    pub(super) resp: Resp,
    pub(super) info: RequestInfo,
    pub(super) signal: CloseSignal,
    /// The app actor, once the app waits on something and leaves the fast path. Weak: only
    /// needed to say the connection closed (see `Worker::conns`).
    pub(super) app: Option<WeakAddr<App>>,
    pub(super) log: RequestLog,
}

/// The response side of a request in flight.
pub(super) enum Resp {
    /// The app has not sent its head yet.
    AwaitHead,
    /// Head sent; body being encoded.
    Body(BodyEncoder),
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

impl Connection {
    /// New bytes are in the read buffer (or a request ended with bytes left in it).
    pub(super) fn on_input(&mut self, ctx: &mut Context<Self>) {
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
            State::Closing | State::Upgrading(_) => {}
        }
    }

    /// End of input from the client.
    /// By default the client is treated as gone (hyper's and nginx's default): in practice
    /// most clients that stop sending have stopped reading too, and the app should stop.
    /// With [`half_close`](crate::Config::half_close), a client that has sent whole
    /// requests and shut its write side (HTTP/1.0-style scripts, `nc -N`, some health
    /// checkers) gets the answers to every request it sent; the connection closes after
    /// the last one.
    pub(super) fn on_eof(&mut self, ctx: &mut Context<Self>) {
        if matches!(self.state, State::Head) && self.rbuf.is_empty() && !self.wbuf.is_empty() {
            // A clean end between requests while the last answer is still going out (larger
            // than the socket's buffer): finish it, in either mode, then close. A client that
            // is gone altogether fails the write, which closes too. (Found by the connection
            // fuzzer: closing here cut a finished response short.)
            self.read_closed = true;
            self.state = State::Closing;
            return;
        }
        let whole_request_sent = match &self.state {
            // What is buffered may hold complete pipelined requests; serving them decides.
            State::Head => !self.rbuf.is_empty(),
            State::Active(r) => r.body.is_complete(),
            _ => false,
        };
        if self.cfg().half_close && whole_request_sent {
            tracing::debug!(parent: span_of(&self.span), "client half-closed; answering what it sent");
            self.read_closed = true;
            return;
        }
        match &self.state {
            State::Head if !self.rbuf.is_empty() => {
                tracing::debug!(parent: span_of(&self.span), "client closed mid-head");
            }
            State::Active(_) => {
                tracing::debug!(parent: span_of(&self.span), "client closed during a request");
            }
            _ => {}
        }
        self.close_now(ctx);
    }

    pub(super) fn parse_head(&mut self, ctx: &mut Context<Self>) {
        if self.rbuf.is_empty() {
            return;
        }
        match h1::parse_head(&mut self.rbuf, &self.worker.cfg.limits) {
            Ok(Some(head)) => self.start_request(head, ctx),
            Ok(None) => {}
            Err(e) => self.reject(e.status(), e.reason()),
        }
    }

    /// Answer a request that never reached an app with `status`, then close lingering.
    ///
    /// Logged at DEBUG and counted (`weir_rejections_total` by status): every status here is
    /// the client's doing (a malformed or oversized head, an unsupported version, a slow head
    /// or body), so any client could fill a WARN or INFO log with them; nothing here is for
    /// an operator to act on, except in aggregate.
    pub(super) fn reject(&mut self, status: StatusCode, reason: &str) {
        tracing::debug!(parent: span_of(&self.span), status = status.as_u16(), %reason, "rejecting request");
        metrics::counter!("weir_rejections_total", "status" => status.as_u16().to_string())
            .increment(1);
        h1::encode_simple(self.wbuf.tail(), status, reason, false);
        self.enter_linger();
    }

    pub(super) fn enter_linger(&mut self) {
        self.rbuf.clear();
        self.state = State::Linger {
            since: Instant::now(),
            discarded: 0,
        };
    }

    fn start_request(&mut self, head: h1::RequestHead, ctx: &mut Context<Self>) {
        self.seq += 1;
        let seq = self.seq;
        self.rates_on = true;
        self.body_meter = None;
        self.credit = None;
        let cfg = &self.worker.cfg;
        let info = RequestInfo {
            method_is_head: head.method == Method::HEAD,
            version: head.version,
            keep_alive: head.keep_alive && !self.shutting_down,
        };
        let body = BodyStage::new(head.framing, head.expect_continue, &cfg.limits);
        let log = RequestLog::begin(
            self.worker.access_log.as_ref(),
            seq,
            &head,
            span_of(&self.span),
        );
        let signal = CloseSignal::new();
        if self.shutting_down {
            signal.close(CloseReason::Shutdown);
        }
        let req = rt::request(head, self.conn_info);
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
        self.drive_fast_path(fut, seq, ctx);
    }

    /// Poll the new request's app here ([the fast path](crate::fast_path)), taking its parts
    /// straight into the write buffer; if it waits, move it into an [`AppActor`].
    fn drive_fast_path(&mut self, fut: fast_path::AppFuture, seq: u64, ctx: &mut Context<Self>) {
        // Our own handle on the worker: the waker is borrowed from it while `self` is
        // borrowed mutably by the part-taking closure.
        let worker = Rc::clone(&self.worker);
        let driven = fast_path::drive(fut, (self.id, seq), &worker.fast_waker, |part| {
            match self.take_part(seq, part, ctx) {
                Taken::Ack => Answer::Now(Ok(())),
                Taken::Failed(e) => Answer::Now(Err(e)),
                Taken::Hold => {
                    let (tx, rx) = oneshot::channel();
                    self.held_ack = Some(tx);
                    Answer::Held(rx)
                }
            }
        });
        let fut = match driven {
            Driven::Done(out) => return self.app_done(seq, out, ctx),
            Driven::Waiting(fut) => fut,
        };
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
                    r.log
                        .head(head.status.as_u16(), self.wbuf.tail().len() - before);
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
        r.log.wrote(self.wbuf.len() - before);
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

    pub(super) fn on_respond(&mut self, msg: Respond, ctx: &mut Context<Self>) {
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
    pub(super) fn fail_request(&mut self, error: Error, ctx: &mut Context<Self>) {
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
                r.log.status(status.as_u16());
                r.log.wrote(self.wbuf.len() - before);
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
    pub(super) fn finish_request(&mut self, ctx: &mut Context<Self>) {
        let State::Active(r) = std::mem::replace(&mut self.state, State::Closing) else {
            return;
        };
        r.log
            .finish(self.worker.access_log.as_ref(), self.conn_info.peer_addr());
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
    if let Some(extra) = error.headers() {
        // Fields the error must carry (a 426's Sec-WebSocket-Version, RFC 6455 §4.4).
        for (name, value) in extra {
            headers.insert(name.clone(), value.clone());
        }
    }
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

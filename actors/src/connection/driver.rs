//! The connection's I/O driver: one future in the actor's own context, polled after each
//! batch of messages, with `&mut Connection` in hand.
//!
//! Message handlers only change state and fill buffers; the driver does the syscalls, once
//! per wake-up: it serves pipelined heads already buffered, flushes the write buffer (acking
//! a held `Respond` once it is below the high-water mark), reads only when the state asks
//! for bytes, gives idle buffers back to the worker, and polls the [timer](super::timer).
//! Work per wake-up is capped (`MAX_IO_PER_WAKE`, `MAX_PIPELINED`) for fairness between the
//! worker's connections.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use actix::prelude::*;
use actix_rt::time::Instant;

use super::access::span_of;
use super::http1::State;
use super::Connection;

/// Smallest read buffer reserved for a head read: enough for a typical request head, so
/// keep-alive traffic does not hold a full body-sized buffer per connection.
const HEAD_READ: usize = 4096;

/// Socket reads or writes per driver wake-up before yielding to other connections on the
/// worker (actix and hyper cap work per wake-up the same way, for fairness).
const MAX_IO_PER_WAKE: usize = 16;

/// Pipelined requests served per driver wake-up before yielding to other connections (the
/// same cap actix and hyper use, for fairness).
const MAX_PIPELINED: usize = 16;

/// The driver future (see the module docs).
pub(super) struct Driver;

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

impl Connection {
    /// Whether the state wants bytes from the socket now.
    fn wants_read(&self) -> bool {
        if self.read_closed {
            return false; // the client half-closed: there is nothing more to read
        }
        match &self.state {
            State::Head | State::Drain { .. } | State::Linger { .. } => true,
            // Read while a body chunk is asked for; once the body is complete, keep reading
            // (the next pipelined head, bounded by the head limit) so that a client that
            // goes away is noticed while the app is still working.
            State::Active(r) => {
                r.body.is_wanted()
                    || (r.body.is_complete() && self.rbuf.len() < self.cfg().limits.max_head_bytes)
            }
            State::Closing | State::Upgrading(_) => false,
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
        tokio_util::io::poll_read_buf(Pin::new(&mut *self.io), cx, &mut self.rbuf)
    }

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
            if self.read_closed
                && matches!(
                    self.state,
                    State::Head | State::Drain { .. } | State::Linger { .. }
                )
            {
                // Half-closed, and every whole request received is answered (what is left
                // is a partial head or body that can never complete, or an error response
                // whose lingering close would wait for input that has already ended): close
                // after the flush.
                self.state = State::Closing;
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
                        if self.poll_shutdown_write(cx).is_pending() {
                            return Poll::Pending;
                        }
                        self.close_now(ctx);
                        return Poll::Ready(());
                    }
                    State::Linger { .. } if !self.write_shut => {
                        // Half-close so the client sees the end of the response, then keep
                        // reading (and discarding) for a while.
                        self.write_shut = self.poll_shutdown_write(cx).is_ready();
                    }
                    State::Upgrading(_) => {
                        // The 101 is on the wire: the socket belongs to the WebSocket now.
                        self.hand_over(ctx);
                        return Poll::Ready(());
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
                        if ctx.state().stopping() {
                            return Poll::Ready(());
                        }
                        // Half-closed (see `half_close`): go on answering, reading no more.
                        progressed = true;
                    }
                    Poll::Ready(Ok(n)) => {
                        progressed = true;
                        if let Some(m) = &mut self.body_meter {
                            m.add(n);
                        }
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
        self.update_meters();
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
        let before = self.wbuf.total_written();
        let res = self.wbuf.poll_write(&mut *self.io, cx, &mut progressed);
        if let Some(c) = &mut self.credit {
            let n = (self.wbuf.total_written() - before) as usize;
            let send_buffer = self.io.send_buffer_size().unwrap_or(0);
            c.earn(n, Instant::now(), send_buffer);
        }
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

    pub(super) fn wants_body_bytes(&self) -> bool {
        matches!(&self.state, State::Active(r) if r.body.is_wanted())
    }

    /// Shut the write side (TLS: after its close_notify). `Pending` until it is done.
    fn poll_shutdown_write(&mut self, cx: &mut TaskContext<'_>) -> Poll<()> {
        // An error means the peer is gone already: either way the write side is done.
        Pin::new(&mut *self.io).poll_shutdown(cx).map(|_| ())
    }
}

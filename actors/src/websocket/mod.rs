//! The WebSocket connection actor: one per upgraded connection, on the worker's arbiter of
//! the HTTP connection it came from.
//!
//! - **Owns**: the byte stream ([`Io`]) and the bytes already read past the handshake
//!   (handed over by the HTTP connection only after its 101 was flushed, as hyper's
//!   `Upgraded` carries `read_buf`), a read and a write buffer, tungstenite's sans-I/O frame
//!   engine ([`WebSocketContext`], driven through `Bufs`, an in-memory `Read + Write` over
//!   those buffers), the request's close signal, the connection slot (`done`), and one
//!   timer.
//! - **Receives**: [`WsRecv`] and [`WsSend`] from the app's handle (async, or blocking on a
//!   pool thread), [`WsDone`] when the app drops it, [`Shutdown`] from its worker.
//! - **Sends**: the next message and write acks (oneshot answers to the messages above);
//!   [`ConnectionClosed`] to a still-running app actor when it stops.
//! - **Stops when**: the closing handshake is over and the client closed its side (or the
//!   linger timeout passed), the client vanished, a write made no progress for
//!   `write_timeout`, or a keep-alive ping got no answer within `ws_pong_timeout`.
//!
//! ## Started
//! Registers with its worker for graceful shutdown, and spawns its I/O driver (the same
//! shape as the HTTP connection's: handlers change state, the driver does the syscalls).
//! ## Running
//! Reads the socket only to answer a `WsRecv`, plus at most one read ahead while its read
//! buffer is empty (so a client that goes away is noticed while the app is busy); decodes
//! one message per ask. Pings are answered with pongs as they are decoded (RFC 6455
//! §5.5.2). Each `WsSend` is encoded into the write buffer and acked once that is below the
//! high-water mark. Framing errors close the connection with the RFC's code: 1002 protocol
//! error (unmasked client frame §5.1, RSV bits §5.2, reserved opcodes §5.2, fragmented or
//! oversized control frames §5.5), 1007 invalid UTF-8 (§8.1), 1009 over a size limit
//! (§7.4.1).
//! ## Stopping / Stopped
//! Closing (RFC 6455 §7.1): a close frame sent (by the app, when its handle is dropped, or
//! 1001 on shutdown) waits for the client's close; a client's close is echoed. Then the
//! server shuts its write side first (§7.1.1: the server closes the TCP connection) and
//! discards input until the client's EOF, so the close frame is read rather than reset
//! away. On stop the close signal is raised (client gone), a waiting `recv` fails, and the
//! slot is freed.

#[cfg(test)]
mod tests;
mod transport;

pub(crate) use transport::ActorWsTransport;

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll};

use actix::prelude::*;
use actix::WeakRecipient;
use actix_rt::time::Instant;
use bytes::{Buf, BytesMut};
use futures::channel::oneshot;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::frame::CloseFrame as TCloseFrame;
use tungstenite::protocol::{Role, WebSocketConfig, WebSocketContext};
use tungstenite::Message as TMessage;
use weir::h1::BodySink;
use weir::ws::{CloseFrame, Message};
use weir::{CloseReason, CloseSignal, Error};

use crate::connection::Connection;
use crate::io::Io;
use crate::messages::{ConnectionClosed, Shutdown, WsDone, WsRecv, WsReply, WsSend};
use crate::worker::Worker;
use crate::write_buf::WriteBuf;

/// Socket reads or writes per driver wake-up before yielding to the worker's other
/// connections (the HTTP connection's cap, for the same fairness).
const MAX_IO_PER_WAKE: usize = 16;

/// The frame engine's read step (see `WsConnection::start`). 1 KiB: the engine holds a
/// zero-filled buffer of this size for each socket's whole life, so it is resident memory
/// on every idle socket; and it copies from weir's own read buffer, not the socket, so a
/// small step costs a few more copies per large message and nothing per syscall.
const WS_READ_STEP: usize = 1024;

/// Where the WebSocket stands in its closing handshake (RFC 6455 §7).
enum Phase {
    /// Messages flow both ways.
    Open,
    /// We sent a close frame; waiting (until `since + linger_timeout`) for the client's.
    Closing { since: Instant },
    /// Nothing more to say: flush, shut the write side, discard input until the client's
    /// EOF or the linger timeout.
    Linger { since: Instant },
}

/// Everything the HTTP connection hands over.
pub(crate) struct Handover {
    pub(crate) io: Box<dyn Io>,
    /// Bytes read after the handshake's head (the client may send frames right away).
    pub(crate) rbuf: BytesMut,
    pub(crate) worker: Rc<Worker<Connection>>,
    /// The HTTP connection's id, which this actor registers under.
    pub(crate) id: u64,
    pub(crate) signal: CloseSignal,
    /// The app's actor, if the app left the fast path (it has, to await the upgrade).
    pub(crate) app: Option<WeakRecipient<ConnectionClosed>>,
    /// The connection slot: dropped when this actor stops.
    pub(crate) done: Option<oneshot::Sender<()>>,
}

/// The WebSocket connection actor (see the module docs).
pub struct WsConnection {
    io: Box<dyn Io>,
    rbuf: BytesMut,
    wbuf: WriteBuf,
    codec: WebSocketContext,
    worker: Rc<Worker<Connection>>,
    id: u64,
    signal: CloseSignal,
    app: Option<WeakRecipient<ConnectionClosed>>,
    phase: Phase,
    /// The app's outstanding `recv`.
    recv: Option<oneshot::Sender<WsReply>>,
    /// Ack of the last `WsSend`, held while the write buffer is above the high-water mark.
    held_ack: Option<oneshot::Sender<Result<(), Error>>>,
    /// The client shut its write side.
    eof: bool,
    write_shut: bool,
    write_progress: Instant,
    write_idle: bool,
    /// Last bytes from the client (any bytes prove it alive, for keep-alive pings).
    last_heard: Instant,
    /// A keep-alive ping is out; the client must be heard from by then.
    pong_deadline: Option<Instant>,
    timer: crate::deadline::Deadline,
    _done: Option<oneshot::Sender<()>>,
}

/// The frame engine's view of the actor's buffers: reads come from the read buffer
/// (`WouldBlock` when it is empty, end of input after the client's EOF), writes go to the
/// write buffer and always succeed (its high-water mark is enforced on `WsSend` acks).
struct Bufs<'a> {
    rbuf: &'a mut BytesMut,
    wbuf: &'a mut WriteBuf,
    eof: bool,
}

impl Read for Bufs<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.rbuf.is_empty() {
            return if self.eof {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        }
        let n = buf.len().min(self.rbuf.len());
        buf[..n].copy_from_slice(&self.rbuf[..n]);
        self.rbuf.advance(n);
        Ok(n)
    }
}

impl Write for Bufs<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.wbuf.put_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The app's message as tungstenite's.
fn to_wire(msg: Message) -> TMessage {
    match msg {
        Message::Text(s) => TMessage::Text(s.into()),
        Message::Binary(b) => TMessage::Binary(b),
        Message::Ping(b) => TMessage::Ping(b),
        Message::Pong(b) => TMessage::Pong(b),
        Message::Close(f) => TMessage::Close(f.map(|f| TCloseFrame {
            code: CloseCode::from(f.code),
            reason: f.reason.into(),
        })),
    }
}

/// tungstenite's message as the app's.
fn from_wire(msg: TMessage) -> Message {
    match msg {
        TMessage::Text(s) => Message::Text(s.as_str().to_owned()),
        TMessage::Binary(b) => Message::Binary(b),
        TMessage::Ping(b) => Message::Ping(b),
        TMessage::Pong(b) => Message::Pong(b),
        TMessage::Close(f) => Message::Close(f.map(|f| CloseFrame {
            code: f.code.into(),
            reason: f.reason.as_str().to_owned(),
        })),
        // Raw frames are only ever written, never read (tungstenite's docs).
        TMessage::Frame(f) => Message::Binary(f.into_payload()),
    }
}

/// The close code for a framing error, or `None` when the error means the peer is gone.
fn close_code(e: &tungstenite::Error) -> Option<(u16, &'static str)> {
    use tungstenite::error::ProtocolError;
    match e {
        // RFC 6455 §7.4.1: 1009, a message too big to process.
        tungstenite::Error::Capacity(_) => Some((1009, "message too big")),
        // §8.1: invalid UTF-8 in a text message fails the connection, 1007.
        tungstenite::Error::Utf8(_) => Some((1007, "invalid UTF-8")),
        tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        // §7.4.1: 1002, a protocol error (unmasked frame §5.1, RSV bits and reserved
        // opcodes §5.2, bad control frames §5.5, bad continuation §5.4, bad close code §7.4).
        tungstenite::Error::Protocol(_) | tungstenite::Error::AttackAttempt => {
            Some((1002, "protocol error"))
        }
        _ => None,
    }
}

impl WsConnection {
    /// Start the WebSocket actor for a handed-over connection, on the current arbiter.
    pub(crate) fn start(h: Handover) -> Addr<WsConnection> {
        let cfg = &h.worker.cfg;
        let mut ws_cfg = WebSocketConfig::default();
        ws_cfg.max_message_size = Some(cfg.ws_max_message);
        ws_cfg.max_frame_size = Some(cfg.ws_max_frame);
        // Frames go straight into our write buffer, whose high-water mark is the bound.
        ws_cfg.write_buffer_size = 0;
        // The engine copies from our read buffer (one socket read at most) in steps of this
        // size, and zero-fills the step before each copy, even when the copy then finds
        // nothing (`WouldBlock`): a small step keeps that waste off every message (a 64 KiB
        // step cost about 2x the CPU per small message), and large frames are reserved
        // whole anyway.
        ws_cfg.read_buffer_size = WS_READ_STEP;
        let now = Instant::now();
        WsConnection {
            io: h.io,
            rbuf: h.rbuf,
            wbuf: WriteBuf::default(),
            codec: WebSocketContext::new(Role::Server, Some(ws_cfg)),
            worker: h.worker,
            id: h.id,
            signal: h.signal,
            app: h.app,
            phase: Phase::Open,
            recv: None,
            held_ack: None,
            eof: false,
            write_shut: false,
            write_progress: now,
            write_idle: true,
            last_heard: now,
            pong_deadline: None,
            timer: Default::default(),
            _done: h.done,
        }
        .start()
    }

    /// Run the frame engine over the buffers.
    fn codec<R>(&mut self, f: impl FnOnce(&mut WebSocketContext, &mut Bufs<'_>) -> R) -> R {
        let mut bufs = Bufs {
            rbuf: &mut self.rbuf,
            wbuf: &mut self.wbuf,
            eof: self.eof,
        };
        f(&mut self.codec, &mut bufs)
    }

    /// Move whatever the engine has queued (pongs, close replies) into the write buffer;
    /// once the closing handshake is over, go to `Linger`.
    fn flush_codec(&mut self) {
        if let Err(e) = self.codec(|c, b| c.flush(b)) {
            if !matches!(e, tungstenite::Error::Io(_)) {
                // ConnectionClosed: the closing handshake is complete (the engine has
                // written its last frame); AlreadyClosed: it was before.
                self.enter_linger();
            }
        }
    }

    fn enter_linger(&mut self) {
        if !matches!(self.phase, Phase::Linger { .. }) {
            self.phase = Phase::Linger {
                since: Instant::now(),
            };
        }
        if let Some(tx) = self.recv.take() {
            let _ = tx.send(Err(Error::disconnected()));
        }
    }

    /// Start the closing handshake with `code` (RFC 6455 §7.1.2), if it is not started.
    fn start_close(&mut self, code: u16, reason: &'static str) {
        if !matches!(self.phase, Phase::Open) {
            return;
        }
        let frame = TCloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        let _ = self.codec(|c, b| c.close(b, Some(frame)));
        self.phase = Phase::Closing {
            since: Instant::now(),
        };
        self.flush_codec();
    }

    /// Fail the connection (RFC 6455 §7.1.7) with `code`: send the close frame, stop
    /// reading frames (the input can no longer be trusted) and close.
    fn fail(&mut self, code: u16, reason: &'static str, e: &tungstenite::Error) {
        tracing::debug!(error = %e, code, "WebSocket framing error; closing");
        if let Some(tx) = self.recv.take() {
            let _ = tx.send(Err(Error::other(format!(
                "WebSocket closed with {code}: {e}"
            ))));
        }
        if matches!(self.phase, Phase::Open) {
            let frame = TCloseFrame {
                code: CloseCode::from(code),
                reason: reason.into(),
            };
            let _ = self.codec(|c, b| c.close(b, Some(frame)));
        }
        self.enter_linger();
    }

    /// Decode what the read buffer holds for the waiting `recv` (or, while closing, to
    /// find the client's close). Returns whether anything happened.
    fn decode(&mut self) -> bool {
        let mut progressed = false;
        loop {
            let wanted = self.recv.is_some() || matches!(self.phase, Phase::Closing { .. });
            if !wanted || matches!(self.phase, Phase::Linger { .. }) {
                return progressed;
            }
            let res = self.codec(|c, b| c.read(b));
            match res {
                Ok(msg) => {
                    progressed = true;
                    let is_close = matches!(msg, TMessage::Close(_));
                    if let Some(tx) = self.recv.take() {
                        let _ = tx.send(Ok(from_wire(msg)));
                    }
                    // Pongs and close echoes go out now (§5.5.2, §5.5.1).
                    self.flush_codec();
                    if is_close && matches!(self.phase, Phase::Open) {
                        // The client closed first; our echo is queued. The engine reports
                        // the end on its next call.
                        self.phase = Phase::Closing {
                            since: Instant::now(),
                        };
                        self.flush_codec();
                    }
                }
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.flush_codec();
                    return progressed;
                }
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    self.enter_linger();
                    return true;
                }
                Err(e) => {
                    match close_code(&e) {
                        Some((code, reason)) => self.fail(code, reason, &e),
                        None => {
                            // The client vanished mid-stream.
                            self.signal.close(CloseReason::ClientGone);
                            self.enter_linger();
                        }
                    }
                    return true;
                }
            }
        }
    }

    fn wants_read(&self) -> bool {
        if self.eof {
            return false;
        }
        match self.phase {
            // One socket read ahead at most: the frame engine takes from the buffer only
            // to answer a `recv`, and an empty buffer is what lets the client's EOF be
            // noticed while the app is busy elsewhere.
            Phase::Open | Phase::Closing { .. } => self.rbuf.is_empty(),
            Phase::Linger { .. } => self.write_shut,
        }
    }

    fn poll_read(&mut self, cx: &mut TaskContext<'_>) -> Poll<io::Result<usize>> {
        // An idle socket holds no read buffer (see `release_idle_buffers`): take a small
        // pooled one, and grow only while a large message is arriving.
        if self.rbuf.capacity() == 0 {
            self.rbuf = self.worker.take_buf();
        }
        if self.rbuf.capacity() - self.rbuf.len() < 1024 {
            self.rbuf.reserve(self.worker.cfg.read_buffer);
        }
        tokio_util::io::poll_read_buf(Pin::new(&mut *self.io), cx, &mut self.rbuf)
    }

    fn poll_io(&mut self, ctx: &mut Context<Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let mut rounds = 0;
        loop {
            if ctx.state().stopping() {
                return Poll::Ready(());
            }
            if rounds == MAX_IO_PER_WAKE {
                cx.waker().wake_by_ref();
                break;
            }
            rounds += 1;
            let mut progressed = self.decode();

            if !self.wbuf.is_empty() {
                let mut wrote = false;
                let res = self.wbuf.poll_write(&mut *self.io, cx, &mut wrote);
                if wrote || self.write_idle {
                    self.write_progress = Instant::now();
                }
                self.write_idle = self.wbuf.is_empty();
                match res {
                    Poll::Ready(Ok(())) => progressed = true,
                    Poll::Ready(Err(e)) => {
                        tracing::debug!(error = %e, "WebSocket write failed; closing");
                        ctx.stop();
                        return Poll::Ready(());
                    }
                    Poll::Pending => {}
                }
            }
            if self.wbuf.len() <= self.worker.cfg.write_high_water {
                if let Some(ack) = self.held_ack.take() {
                    let _ = ack.send(Ok(()));
                }
            }
            if self.wbuf.is_empty() && matches!(self.phase, Phase::Linger { .. }) {
                if self.eof {
                    ctx.stop();
                    return Poll::Ready(());
                }
                if !self.write_shut {
                    // §7.1.1: the server closes the TCP connection first.
                    let done = Pin::new(&mut *self.io).poll_shutdown(cx).is_ready();
                    self.write_shut = done;
                    progressed |= done;
                }
            }

            if self.wants_read() {
                match self.poll_read(cx) {
                    Poll::Ready(Ok(0)) => {
                        progressed = true;
                        self.eof = true;
                        if !matches!(self.phase, Phase::Linger { .. }) {
                            // The client went away without finishing the closing handshake.
                            tracing::debug!("WebSocket client closed its side; closing");
                            self.signal.close(CloseReason::ClientGone);
                            self.enter_linger();
                        }
                    }
                    Poll::Ready(Ok(_)) => {
                        progressed = true;
                        self.last_heard = Instant::now();
                        self.pong_deadline = None;
                        if matches!(self.phase, Phase::Linger { .. }) {
                            self.rbuf.clear(); // discarding until EOF
                        }
                    }
                    Poll::Ready(Err(e)) => {
                        tracing::debug!(error = %e, "WebSocket read failed; closing");
                        ctx.stop();
                        return Poll::Ready(());
                    }
                    Poll::Pending => {}
                }
            }
            if !progressed {
                break;
            }
        }
        self.release_idle_buffers();
        self.poll_timer(ctx, cx)
    }

    /// An idle socket holds no buffers, as an idle HTTP connection does: thousands of
    /// sockets wait for a message that comes rarely.
    fn release_idle_buffers(&mut self) {
        if self.rbuf.is_empty() && self.rbuf.capacity() > 0 {
            self.worker.give_buf(std::mem::take(&mut self.rbuf));
        }
        if let Some(tail) = self.wbuf.release() {
            self.worker.give_buf(tail);
        }
    }

    /// The deadline that applies now, and what to do when it passes.
    fn desired_timer(&self) -> Option<(Timer, Instant)> {
        let cfg = &self.worker.cfg;
        if !self.wbuf.is_empty() {
            return Some((Timer::Write, self.write_progress + cfg.write_timeout));
        }
        match self.phase {
            Phase::Closing { since } => Some((Timer::Close, since + cfg.linger_timeout)),
            Phase::Linger { since } => Some((Timer::Linger, since + cfg.linger_timeout)),
            Phase::Open => match (self.pong_deadline, cfg.ws_ping_interval) {
                (Some(at), _) => Some((Timer::Pong, at)),
                (None, Some(every)) => Some((Timer::Ping, self.last_heard + every)),
                (None, None) => None,
            },
        }
    }

    fn poll_timer(&mut self, ctx: &mut Context<Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let want = self.desired_timer();
        if self.timer.fired(want.map(|(_, at)| at), cx) {
            let (which, _) = want.expect("a timer fires only when one was wanted");
            match which {
                Timer::Write => {
                    tracing::info!("WebSocket write timeout: client stopped reading; closing");
                    ctx.stop();
                    return Poll::Ready(());
                }
                Timer::Pong => {
                    tracing::info!("WebSocket client did not answer a ping; closing");
                    ctx.stop();
                    return Poll::Ready(());
                }
                Timer::Linger => {
                    ctx.stop();
                    return Poll::Ready(());
                }
                Timer::Close => self.enter_linger(),
                Timer::Ping => {
                    let _ = self.codec(|c, b| c.write(b, TMessage::Ping(Default::default())));
                    self.flush_codec();
                    self.pong_deadline = Some(Instant::now() + self.worker.cfg.ws_pong_timeout);
                }
            }
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

/// Which deadline the timer is running for.
#[derive(Clone, Copy)]
enum Timer {
    /// Pending output made no progress for `write_timeout`.
    Write,
    /// Time to send a keep-alive ping.
    Ping,
    /// A ping went unanswered for `ws_pong_timeout`.
    Pong,
    /// Our close frame went unanswered for `linger_timeout`.
    Close,
    /// The lingering close ran for `linger_timeout`.
    Linger,
}

/// The driver future (see the module docs).
struct Driver;

impl ActorFuture<WsConnection> for Driver {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        act: &mut WsConnection,
        ctx: &mut Context<WsConnection>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<()> {
        act.poll_io(ctx, cx)
    }
}

impl Actor for WsConnection {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Room for one WsRecv and one WsSend, plus control messages.
        ctx.set_mailbox_capacity(16);
        let me = ctx.address().downgrade().recipient::<Shutdown>();
        self.worker.register_upgraded(self.id, me);
        if self.worker.is_shutting_down() {
            self.signal.close(CloseReason::Shutdown);
            self.start_close(1001, "server shutting down");
        }
        ctx.spawn(Driver);
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.worker.unregister_upgraded(self.id);
        self.signal.close(CloseReason::ClientGone);
        if let Some(app) = self.app.as_ref().and_then(WeakRecipient::upgrade) {
            app.do_send(ConnectionClosed);
        }
        tracing::trace!("WebSocket connection closed");
    }
}

impl Handler<WsRecv> for WsConnection {
    type Result = ();

    fn handle(&mut self, msg: WsRecv, _ctx: &mut Self::Context) {
        match self.phase {
            Phase::Linger { .. } => {
                let _ = msg.reply.send(Err(Error::disconnected()));
            }
            _ => self.recv = Some(msg.reply),
        }
    }
}

impl Handler<WsSend> for WsConnection {
    type Result = ();

    fn handle(&mut self, msg: WsSend, _ctx: &mut Self::Context) {
        if !matches!(self.phase, Phase::Open) {
            let _ = msg.ack.send(Err(Error::disconnected()));
            return;
        }
        let is_close = matches!(msg.msg, Message::Close(_));
        let res = self.codec(|c, b| c.write(b, to_wire(msg.msg)));
        if let Err(e) = res {
            let _ = msg.ack.send(Err(Error::other(e)));
            return;
        }
        if is_close {
            self.phase = Phase::Closing {
                since: Instant::now(),
            };
        }
        self.flush_codec();
        if self.wbuf.len() <= self.worker.cfg.write_high_water {
            let _ = msg.ack.send(Ok(()));
        } else {
            self.held_ack = Some(msg.ack);
        }
    }
}

impl Handler<WsDone> for WsConnection {
    type Result = ();

    fn handle(&mut self, _: WsDone, _ctx: &mut Self::Context) {
        self.start_close(1000, "");
    }
}

impl Handler<Shutdown> for WsConnection {
    type Result = ();

    fn handle(&mut self, _: Shutdown, _ctx: &mut Self::Context) {
        self.signal.close(CloseReason::Shutdown);
        // RFC 6455 §7.4.1: 1001, the server is going away.
        self.start_close(1001, "server shutting down");
    }
}

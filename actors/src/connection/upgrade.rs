//! The HTTP connection's side of a WebSocket upgrade: the one hand-over state and handler.
//!
//! As hyper does it: [`Upgrade`] writes the `101 Switching Protocols` head into the write
//! buffer and parks the request in `State::Upgrading`; the driver flushes it as any output,
//! and only once the write buffer is empty calls [`Connection::hand_over`], which moves the
//! stream, the bytes read past the head, the close signal and the connection slot to a new
//! [`WsConnection`], answers the app with its address, and stops this actor. Its stream is
//! then a [`Detached`] dummy, and the request is no longer `Active`, so stopping raises no
//! "client gone" for the app.

use actix::prelude::*;
use actix::WeakAddr;
use futures::channel::oneshot;
use http::StatusCode;
use weir::{CloseSignal, Error};

use super::access::span_of;
use super::http1::{Resp, State};
use super::{App, Connection};
use crate::io::Detached;
use crate::messages::{Upgrade, WsDone};
use crate::websocket::{Handover, WsConnection};

/// A request answered with 101, waiting for the head to be flushed.
pub(super) struct Upgrading {
    reply: oneshot::Sender<Result<Addr<WsConnection>, Error>>,
    signal: CloseSignal,
    app: Option<WeakAddr<App>>,
}

impl Handler<Upgrade> for Connection {
    type Result = ();

    fn handle(&mut self, msg: Upgrade, _ctx: &mut Self::Context) {
        let State::Active(r) = &mut self.state else {
            return; // dropping `reply` tells the app the connection is gone
        };
        if r.seq != msg.seq {
            return;
        }
        let refuse = if self.shutting_down {
            // A socket accepted now would only be closed with 1001 at once.
            Some(Error::with_status(
                StatusCode::SERVICE_UNAVAILABLE,
                "server shutting down",
            ))
        } else if !matches!(r.resp, Resp::AwaitHead) || !r.body.is_complete() {
            // The 101 must be the response, and the frames must start right after it.
            Some(Error::with_status(
                StatusCode::BAD_REQUEST,
                "cannot upgrade this request",
            ))
        } else {
            None
        };
        if let Some(e) = refuse {
            let _ = msg.reply.send(Err(e));
            return;
        }
        let before = self.wbuf.len();
        weir::h1::encode_switching(self.wbuf.tail(), &msg.headers);
        r.log.head(
            StatusCode::SWITCHING_PROTOCOLS.as_u16(),
            self.wbuf.len() - before,
        );
        r.log
            .finish(self.worker.access_log.as_ref(), self.conn_info.peer_addr());
        tracing::debug!(parent: span_of(&self.span), "switching to WebSocket");
        let State::Active(r) = std::mem::replace(&mut self.state, State::Closing) else {
            unreachable!("checked above");
        };
        self.state = State::Upgrading(Box::new(Upgrading {
            reply: msg.reply,
            signal: r.signal,
            app: r.app,
        }));
    }
}

impl Connection {
    /// The 101 is flushed: give the socket to a [`WsConnection`] and stop.
    pub(super) fn hand_over(&mut self, ctx: &mut Context<Self>) {
        let State::Upgrading(up) = std::mem::replace(&mut self.state, State::Closing) else {
            return;
        };
        let up = *up;
        let addr = WsConnection::start(Handover {
            io: std::mem::replace(&mut self.io, Box::new(Detached)),
            rbuf: std::mem::take(&mut self.rbuf),
            worker: std::rc::Rc::clone(&self.worker),
            id: self.id,
            signal: up.signal,
            app: up.app.map(|a| a.recipient()),
            done: self._done.take(),
        });
        if let Err(Ok(addr)) = up.reply.send(Ok(addr)) {
            // The app stopped waiting for its socket: nobody will ever use it, so close
            // it (1000) rather than leave it open until the client leaves.
            addr.do_send(WsDone);
        }
        ctx.stop();
    }
}

//! The application actor: one per request, it drives the app's future.
//!
//! - **Owns**: the app's future for one exchange (which owns the [`Exchange`] and, through
//!   it, the [`ActorTransport`] that turns the app's awaits into messages).
//! - **Receives**: [`ConnectionClosed`] from the connection, when the client went away while
//!   the app was still running.
//! - **Sends**: through the transport, [`ReadChunk`] (on `next()`) and [`Respond`] (on
//!   `send()`/`end()`) to the connection; itself, [`AppFailed`] to the connection when the app
//!   returns an error, panics or is abandoned before it ended its response.
//! - **Stops when**: the app's future completes (or panics), or `abandon_grace` after the
//!   connection closed, whichever comes first.
//!
//! ## Started
//! Spawns the app future (wrapped in `catch_unwind`) into its context.
//! ## Running
//! The future runs on the connection's worker thread; every await on the exchange is a
//! message hop, and the app is resumed only when the connection answers.
//! ## Stopping / Stopped
//! If the app did not end its response, `AppFailed` tells the connection.

use std::panic::AssertUnwindSafe;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use actix::prelude::*;
use futures::channel::oneshot;
use futures::future::LocalBoxFuture;
use futures::FutureExt;
use weir::{Error, Outcome, Part, Transport};

use crate::connection::Connection;
use crate::messages::{AppFailed, ChunkReply, ConnectionClosed, ReadChunk, Respond};

/// The application actor (see the module docs).
pub struct AppActor {
    seq: u64,
    conn: Addr<Connection>,
    fut: Option<LocalBoxFuture<'static, Result<Outcome, Error>>>,
    finished: bool,
    abandon_grace: Duration,
}

impl AppActor {
    /// Start an app actor on the current arbiter, driving `fut` for request `seq` of `conn`.
    pub(crate) fn start_for(
        fut: LocalBoxFuture<'static, Result<Outcome, Error>>,
        seq: u64,
        conn: Addr<Connection>,
        abandon_grace: Duration,
    ) -> Addr<AppActor> {
        AppActor {
            seq,
            conn,
            fut: Some(fut),
            finished: false,
            abandon_grace,
        }
        .start()
    }
}

impl Actor for AppActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let fut = self.fut.take().expect("started once");
        ctx.spawn(
            AssertUnwindSafe(fut)
                .catch_unwind()
                .into_actor(self)
                .map(|res, act, ctx| {
                    let res = res.unwrap_or_else(|payload| Err(Error::panic(panic_msg(&payload))));
                    match res {
                        Ok(_outcome) => act.finished = true,
                        Err(error) => {
                            act.finished = true;
                            // The connection may be gone already; nothing to do then.
                            let _ = act.conn.try_send(AppFailed {
                                seq: act.seq,
                                error,
                            });
                        }
                    }
                    ctx.stop();
                }),
        );
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        if !self.finished {
            let _ = self.conn.try_send(AppFailed {
                seq: self.seq,
                error: Error::disconnected(),
            });
        }
    }
}

impl Handler<ConnectionClosed> for AppActor {
    type Result = ();

    fn handle(&mut self, _: ConnectionClosed, ctx: &mut Self::Context) {
        ctx.run_later(self.abandon_grace, |act, ctx| {
            tracing::warn!(
                seq = act.seq,
                "app did not finish after its client went away; dropping it"
            );
            ctx.stop();
        });
    }
}

fn panic_msg(payload: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// Await a reply the connection sends through a oneshot; a dropped sender means the
/// connection has closed.
fn poll_reply<T>(rx: &mut Option<oneshot::Receiver<T>>, cx: &mut TaskContext<'_>) -> Poll<Result<T, Error>> {
    let Some(r) = rx.as_mut() else {
        return Poll::Ready(Err(Error::disconnected()));
    };
    let res = match r.poll_unpin(cx) {
        Poll::Pending => return Poll::Pending,
        Poll::Ready(Ok(v)) => Ok(v),
        Poll::Ready(Err(oneshot::Canceled)) => Err(Error::disconnected()),
    };
    *rx = None;
    Poll::Ready(res)
}

/// The transport an [`Exchange`] uses under this runtime: each read is a [`ReadChunk`] to
/// the connection, each part a [`Respond`].
pub(crate) struct ActorTransport {
    seq: u64,
    conn: Addr<Connection>,
    read: Option<oneshot::Receiver<ChunkReply>>,
    write: Option<oneshot::Receiver<Result<(), Error>>>,
}

impl ActorTransport {
    pub(crate) fn new(seq: u64, conn: Addr<Connection>) -> ActorTransport {
        ActorTransport {
            seq,
            conn,
            read: None,
            write: None,
        }
    }
}

// Messages go with `try_send`: the exchange keeps at most one read and one part in flight
// per request and a connection serves one request at a time, so its mailbox (capacity 16)
// never fills; a failed send means the connection is gone. (`Addr::send`'s future is not
// `Unpin`, and boxing it would allocate per chunk.)
impl Transport for ActorTransport {
    fn poll_chunk(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<Option<bytes::Bytes>, Error>> {
        if self.read.is_none() {
            let (tx, rx) = oneshot::channel();
            let msg = ReadChunk {
                seq: self.seq,
                reply: tx,
            };
            if self.conn.try_send(msg).is_err() {
                return Poll::Ready(Err(Error::disconnected()));
            }
            self.read = Some(rx);
        }
        poll_reply(&mut self.read, cx).map(|r| r.and_then(|x| x))
    }

    fn start_send(&mut self, part: Part) -> Result<(), Error> {
        let (tx, rx) = oneshot::channel();
        let msg = Respond {
            seq: self.seq,
            part,
            ack: tx,
        };
        self.conn
            .try_send(msg)
            .map_err(|_| Error::disconnected())?;
        self.write = Some(rx);
        Ok(())
    }

    fn poll_flush(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Error>> {
        poll_reply(&mut self.write, cx).map(|r| r.and_then(|x| x))
    }
}

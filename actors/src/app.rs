//! The application actor: one per request that waits, it drives the app's future.
//!
//! The connection first polls a new request's app itself (the fast path): an app that
//! produces its response without waiting on anything (most plaintext and JSON answers)
//! finishes there, its parts handed over through a shared slot, with no actor started and
//! no message sent. The first time the app waits (for a body chunk, a timer, a hub, a slow
//! client), its future moves into an `AppActor`, and from then on every await is a message.
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

use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use actix::prelude::*;
use actix::WeakAddr;
use bytes::Bytes;
use futures::channel::oneshot;
use futures::future::LocalBoxFuture;
use futures::FutureExt;
use weir::rt::{self, BlockingTransport, Part, Transport};
use weir::{Error, Outcome};

use crate::pool::SyncPool;

use crate::connection::Connection;
use crate::messages::{AppFailed, ChunkReply, ConnectionClosed, ReadChunk, Respond};

/// The application actor (see the module docs).
pub struct AppActor {
    seq: u64,
    /// Weak: each strong `Addr` allocates sender state, and the transport holds the strong
    /// one; this is only for reporting a failure.
    conn: WeakAddr<Connection>,
    pool: SyncPool,
    fut: Option<LocalBoxFuture<'static, Result<Outcome, Error>>>,
    finished: bool,
    abandon_grace: Duration,
}

impl AppActor {
    /// Start an app actor on the current arbiter, driving `fut` for request `seq` of `conn`.
    pub(crate) fn start_for(
        fut: LocalBoxFuture<'static, Result<Outcome, Error>>,
        seq: u64,
        conn: WeakAddr<Connection>,
        pool: SyncPool,
        abandon_grace: Duration,
    ) -> Addr<AppActor> {
        AppActor {
            seq,
            conn,
            pool,
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
                    act.finished = true;
                    match res.unwrap_or_else(|p| Err(Error::from_panic(&*p))) {
                        Ok(outcome) => {
                            if let Some(switch) = rt::take_switch(outcome) {
                                act.run_switched(switch);
                            }
                        }
                        // The connection may be gone already; nothing to do then.
                        Err(error) => act.fail(error),
                    }
                    ctx.stop();
                }),
        );
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        if !self.finished {
            self.fail(Error::disconnected());
        }
    }
}

impl AppActor {
    fn fail(&self, error: Error) {
        if let Some(conn) = self.conn.upgrade() {
            let _ = conn.try_send(AppFailed {
                seq: self.seq,
                error,
            });
        }
    }

    fn run_switched(&self, switch: rt::Switch) {
        if let Err(error) = run_switched(switch, &self.conn, self.seq, &self.pool) {
            self.fail(error);
        }
    }
}

/// The sync switch: move the continuation to the pool. Its blocking transport continues the
/// body where the async one stopped; its result or panic goes to the connection. Fails
/// (503) when the pool is full.
pub(crate) fn run_switched(
    switch: rt::Switch,
    conn: &WeakAddr<Connection>,
    seq: u64,
    pool: &SyncPool,
) -> Result<(), Error> {
    let job = switch.into_job();
    let Some(conn) = conn.upgrade() else {
        return Ok(()); // the connection is gone; nobody to answer
    };
    let run = move |slot| {
        let res = std::panic::catch_unwind(AssertUnwindSafe(|| job.run()));
        drop(slot);
        if let Err(error) = res.unwrap_or_else(|p| Err(Error::from_panic(&*p))) {
            let _ = conn.try_send(AppFailed { seq, error });
        }
    };
    pool.try_run_with_slot(run).inspect_err(|_| {
        tracing::warn!(seq, "blocking pool full; answering 503");
    })
}

/// Where the connection and a request's transport meet while the connection drives the
/// app's future itself (the fast path: most responses are produced in the app's first
/// poll, so starting an actor and sending messages for them would be pure overhead).
///
/// It is a per-thread slot, not a per-request object: fast-path polls never overlap on a
/// worker thread, and a request that waits (a Comet client) should not carry it.
pub(crate) struct Inline {
    /// Which request is being driven: (connection id, request seq).
    key: (u64, u64),
    /// The part the app handed over, for the connection to take.
    pub(crate) part: Option<Part>,
    /// The connection's answer to the last part (the app's `send` completes with it).
    pub(crate) ack: Option<Result<(), Error>>,
    /// The write buffer was over its mark: the ack will come through this receiver, which
    /// the transport adopts on its next poll (still on the fast path).
    pub(crate) held_ack: Option<oneshot::Receiver<Result<(), Error>>>,
}

thread_local! {
    static INLINE: RefCell<Option<Inline>> = const { RefCell::new(None) };
}

/// Marks the fast-path drive of one request on this thread; ends it when dropped.
pub(crate) struct InlineDrive(());

impl InlineDrive {
    pub(crate) fn begin(conn: u64, seq: u64) -> InlineDrive {
        INLINE.with(|s| {
            *s.borrow_mut() = Some(Inline {
                key: (conn, seq),
                part: None,
                ack: None,
                held_ack: None,
            })
        });
        InlineDrive(())
    }

    /// Run `f` on the slot.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Inline) -> R) -> R {
        INLINE.with(|s| f(s.borrow_mut().as_mut().expect("drive in progress")))
    }
}

impl Drop for InlineDrive {
    fn drop(&mut self) {
        INLINE.with(|s| *s.borrow_mut() = None);
    }
}

/// Run `f` on the slot if request `key` is being driven on the fast path right now.
fn with_inline<R>(key: (u64, u64), f: impl FnOnce(&mut Inline) -> R) -> Option<R> {
    INLINE.with(|s| s.borrow_mut().as_mut().filter(|i| i.key == key).map(f))
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

/// Await a reply the connection sends through a oneshot; a dropped sender means the
/// connection has closed.
fn poll_reply<T>(
    rx: &mut Option<oneshot::Receiver<T>>,
    cx: &mut TaskContext<'_>,
) -> Poll<Result<T, Error>> {
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
    /// Upgraded to `strong` on the first message: a request that only waits (a long-poll)
    /// never pays for a strong address's sender state.
    conn: WeakAddr<Connection>,
    strong: Option<Addr<Connection>>,
    pool: SyncPool,
    /// This request's key in the fast-path slot: (connection id, seq).
    key: (u64, u64),
    read: Option<oneshot::Receiver<ChunkReply>>,
    write: Option<oneshot::Receiver<Result<(), Error>>>,
}

impl ActorTransport {
    pub(crate) fn new(
        conn_id: u64,
        seq: u64,
        conn: WeakAddr<Connection>,
        pool: SyncPool,
    ) -> ActorTransport {
        ActorTransport {
            seq,
            conn,
            strong: None,
            pool,
            key: (conn_id, seq),
            read: None,
            write: None,
        }
    }

    fn addr(&mut self) -> Result<&Addr<Connection>, Error> {
        if self.strong.is_none() {
            self.strong = Some(self.conn.upgrade().ok_or_else(Error::disconnected)?);
        }
        Ok(self.strong.as_ref().expect("just set"))
    }
}

// Messages go with `try_send`: the exchange keeps at most one read and one part in flight
// per request and a connection serves one request at a time, so its mailbox (capacity 16)
// never fills; a failed send means the connection is gone. (`Addr::send`'s future is not
// `Unpin`, and boxing it would allocate per chunk.)
impl Transport for ActorTransport {
    fn poll_chunk(
        &mut self,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Result<Option<bytes::Bytes>, Error>> {
        if self.read.is_none() {
            let (tx, rx) = oneshot::channel();
            let msg = ReadChunk {
                seq: self.seq,
                reply: tx,
            };
            if self.addr()?.try_send(msg).is_err() {
                return Poll::Ready(Err(Error::disconnected()));
            }
            self.read = Some(rx);
        }
        poll_reply(&mut self.read, cx).map(|r| r.and_then(|x| x))
    }

    fn start_send(&mut self, part: Part) -> Result<(), Error> {
        let mut part = Some(part);
        if with_inline(self.key, |i| i.part = part.take()).is_some() {
            return Ok(());
        }
        let part = part.expect("not taken off the fast path");
        let (tx, rx) = oneshot::channel();
        let msg = Respond {
            seq: self.seq,
            part,
            ack: tx,
        };
        self.addr()?
            .try_send(msg)
            .map_err(|_| Error::disconnected())?;
        self.write = Some(rx);
        Ok(())
    }

    fn poll_flush(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Error>> {
        let inline = with_inline(self.key, |i| (i.ack.take(), i.held_ack.take()));
        match inline {
            Some((Some(res), _)) => return Poll::Ready(res),
            Some((None, Some(rx))) => self.write = Some(rx),
            // The connection re-polls after taking the part; no waker needed.
            Some((None, None)) => return Poll::Pending,
            None => {}
        }
        poll_reply(&mut self.write, cx).map(|r| r.and_then(|x| x))
    }

    fn spawn_blocking(&mut self, job: Box<dyn FnOnce() + Send>) -> Result<(), Error> {
        self.pool.try_run(job)
    }

    fn into_blocking(self: Box<Self>) -> Arc<dyn BlockingTransport> {
        Arc::new(BlockingActorTransport {
            seq: self.seq,
            conn: match self.strong {
                Some(a) => a,
                None => match self.conn.upgrade() {
                    Some(a) => a,
                    None => return Arc::new(Gone),
                },
            },
            // A chunk already asked for (the app dropped its `next()` before the answer)
            // belongs to the blocking side now: nothing lost.
            pending: Mutex::new(self.read),
        })
    }
}

/// A blocking transport for a connection that is already gone.
struct Gone;

impl BlockingTransport for Gone {
    fn read_chunk(&self) -> Result<Option<Bytes>, Error> {
        Err(Error::disconnected())
    }

    fn send(&self, _: Part) -> Result<(), Error> {
        Err(Error::disconnected())
    }
}

/// The transport of a switched continuation on a pool thread: the same messages, with
/// blocking waits for the answers.
struct BlockingActorTransport {
    seq: u64,
    conn: Addr<Connection>,
    pending: Mutex<Option<oneshot::Receiver<ChunkReply>>>,
}

impl BlockingTransport for BlockingActorTransport {
    fn read_chunk(&self) -> Result<Option<Bytes>, Error> {
        let pending = self.pending.lock().expect("poisoned").take();
        let rx = match pending {
            Some(rx) => rx,
            None => {
                let (tx, rx) = oneshot::channel();
                let msg = ReadChunk {
                    seq: self.seq,
                    reply: tx,
                };
                self.conn.try_send(msg).map_err(|_| Error::disconnected())?;
                rx
            }
        };
        futures::executor::block_on(rx).unwrap_or_else(|_| Err(Error::disconnected()))
    }

    fn send(&self, part: Part) -> Result<(), Error> {
        let (tx, rx) = oneshot::channel();
        let msg = Respond {
            seq: self.seq,
            part,
            ack: tx,
        };
        self.conn.try_send(msg).map_err(|_| Error::disconnected())?;
        futures::executor::block_on(rx).unwrap_or_else(|_| Err(Error::disconnected()))
    }
}

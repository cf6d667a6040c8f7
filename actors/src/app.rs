//! The application actor: one per request whose app waits; it drives the app's future.
//!
//! The connection first polls a new request's app itself ([the fast path](crate::fast_path)).
//! The first time the app waits on something else (a body chunk, a timer, a hub, a slow
//! client), its future moves into an `AppActor`, and from then on every await is a message.
//!
//! - **Owns**: the app's future for one exchange (which owns the `Exchange` and, through it,
//!   the [`ActorTransport`](crate::transport::ActorTransport) that turns the app's awaits into
//!   messages).
//! - **Receives**: [`ConnectionClosed`] from the connection, when the client went away while
//!   the app was still running.
//! - **Sends**: through the transport, [`ReadChunk`](crate::messages::ReadChunk) (on `next()`)
//!   and [`Respond`](crate::messages::Respond) (on `send()`/`end()`) to the connection;
//!   itself, [`AppFailed`] to the connection when the app returns an error, panics or is
//!   abandoned before it ended its response; [`RunJob`](crate::messages::RunJob) to the pool
//!   when the app returns the sync switch ([`run_switched`]).
//! - **Stops when**: the app's future completes (or panics), or `abandon_grace` after the
//!   connection closed, whichever comes first.
//!
//! It talks to its connection through the [`RequestPeer`] messages only, so it does not
//! depend on the connection actor's type.
//!
//! ## Started
//! Spawns the app future (wrapped in `catch_unwind`) into its context.
//! ## Running
//! The future runs on the connection's worker thread; every await on the exchange is a
//! message hop, and the app is resumed only when the connection answers.
//! ## Stopping / Stopped
//! If the app did not end its response, `AppFailed` tells the connection.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use actix::prelude::*;
use actix::WeakAddr;
use futures::FutureExt;
use weir::rt;
use weir::Error;

use crate::fast_path::AppFuture;
use crate::messages::{AppFailed, ConnectionClosed, RequestPeer};
use crate::pool::SyncPool;

/// The application actor (see the module docs).
pub(crate) struct AppActor<C: RequestPeer> {
    seq: u64,
    /// Weak: each strong `Addr` allocates sender state, and the transport holds the strong
    /// one; this is only for reporting a failure.
    conn: WeakAddr<C>,
    pool: SyncPool,
    fut: Option<AppFuture>,
    finished: bool,
    abandon_grace: Duration,
}

impl<C: RequestPeer> AppActor<C> {
    /// Start an app actor on the current arbiter, driving `fut` for request `seq` of `conn`.
    pub(crate) fn start_for(
        fut: AppFuture,
        seq: u64,
        conn: WeakAddr<C>,
        pool: SyncPool,
        abandon_grace: Duration,
    ) -> Addr<AppActor<C>> {
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

impl<C: RequestPeer> Actor for AppActor<C> {
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

impl<C: RequestPeer> AppActor<C> {
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
pub(crate) fn run_switched<C: RequestPeer>(
    switch: rt::Switch,
    conn: &WeakAddr<C>,
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

impl<C: RequestPeer> Handler<ConnectionClosed> for AppActor<C> {
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

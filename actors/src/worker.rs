//! A worker: one event-loop thread (an actix Arbiter) that connections live on, and the
//! state they share.
//!
//! "Worker" in weir means only this: the threads of the blocking pool are
//! [`PoolThread`](crate::pool::PoolThread)s. [`Worker`] is not an actor: a plain `Rc` on the
//! worker's thread holding the configuration, the app, the fast path's waker, a small buffer
//! pool and the registry of live connections, which is how a graceful shutdown reaches each
//! of them.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use actix::dev::ToEnvelope;
use actix::{Actor, Handler, WeakAddr, WeakRecipient};
use bytes::BytesMut;
use weir::Exchange;

use crate::access_log::WorkerLog;
use crate::fast_path::{AppFuture, FastWaker};
use crate::messages::Shutdown;
use crate::pool::SyncPool;
use crate::Config;

/// The app, type-erased once per worker so connections are not generic.
pub(crate) type AppFn = dyn Fn(Exchange) -> AppFuture;

/// What the connections of one worker share. Generic over the connection actor (`C`), which
/// it only registers and tells about a shutdown, so it does not depend on the connection.
pub(crate) struct Worker<C: Actor + Handler<Shutdown>> {
    pub(crate) cfg: Config,
    pub(crate) app: Box<AppFn>,
    pub(crate) pool: SyncPool,
    // Weak: every strong `Addr` allocates its own sender state (~170 B), and the registry
    // only needs to reach connections at shutdown.
    conns: RefCell<HashMap<u64, WeakAddr<C>>>,
    /// Upgraded (WebSocket) connections, which are other actors: a second map, used only by
    /// them, so HTTP connections pay nothing for it.
    upgraded: RefCell<HashMap<u64, WeakRecipient<Shutdown>>>,
    /// The waker a connection polls an app with on the fast path. One per worker, as
    /// fast-path drives never overlap on a thread.
    pub(crate) fast_waker: FastWaker,
    shutting_down: Cell<bool>,
    /// Spare buffers for heads and small responses, so an idle connection can give its
    /// buffers back without every request paying for a fresh allocation (at most
    /// `POOL_BUFFERS` of `POOL_BUFFER_SIZE`: 256 KiB per worker).
    bufs: RefCell<Vec<BytesMut>>,
    /// This worker's side of the access log (its batch buffer), when the log is on.
    pub(crate) access_log: Option<WorkerLog>,
}

/// Buffers kept in a worker's pool at most.
const POOL_BUFFERS: usize = 64;
/// Size of a pooled buffer: enough for a typical request head or small response.
const POOL_BUFFER_SIZE: usize = 4096;

impl<C> Worker<C>
where
    C: Actor + Handler<Shutdown>,
    C::Context: ToEnvelope<C, Shutdown>,
{
    pub(crate) fn new(cfg: Config, app: Box<AppFn>, pool: SyncPool) -> Worker<C> {
        Worker {
            cfg,
            app,
            pool,
            conns: RefCell::new(HashMap::new()),
            upgraded: RefCell::new(HashMap::new()),
            fast_waker: FastWaker::default(),
            bufs: RefCell::new(Vec::new()),
            shutting_down: Cell::new(false),
            access_log: None,
        }
    }

    /// Log this worker's requests through `log`.
    pub(crate) fn with_access_log(mut self, log: Option<WorkerLog>) -> Worker<C> {
        self.access_log = log;
        self
    }

    /// A connection id unique on this thread (across every worker on it), so the fast
    /// path's per-thread slot can tell requests apart.
    pub(crate) fn next_id(&self) -> u64 {
        thread_local! {
            static NEXT: Cell<u64> = const { Cell::new(0) };
        }
        NEXT.with(|n| {
            n.set(n.get() + 1);
            n.get()
        })
    }

    pub(crate) fn register(&self, id: u64, addr: WeakAddr<C>) {
        self.conns.borrow_mut().insert(id, addr);
    }

    pub(crate) fn unregister(&self, id: u64) {
        self.conns.borrow_mut().remove(&id);
    }

    /// Register an upgraded connection (under its HTTP connection's id) for shutdown.
    pub(crate) fn register_upgraded(&self, id: u64, to: WeakRecipient<Shutdown>) {
        self.upgraded.borrow_mut().insert(id, to);
    }

    pub(crate) fn unregister_upgraded(&self, id: u64) {
        self.upgraded.borrow_mut().remove(&id);
    }

    /// An empty buffer with room for a head, from the pool if it has one.
    pub(crate) fn take_buf(&self) -> BytesMut {
        self.bufs
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| BytesMut::with_capacity(POOL_BUFFER_SIZE))
    }

    /// Return a buffer that is no longer needed. Kept if it is a whole, unshared buffer of
    /// the pool's size (a buffer whose bytes were handed out as body chunks is not).
    pub(crate) fn give_buf(&self, mut buf: BytesMut) {
        buf.clear();
        if buf.capacity() >= POOL_BUFFER_SIZE
            && buf.capacity() <= 4 * POOL_BUFFER_SIZE
            && buf.try_reclaim(POOL_BUFFER_SIZE)
        {
            let mut bufs = self.bufs.borrow_mut();
            if bufs.len() < POOL_BUFFERS {
                bufs.push(buf);
            }
        }
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.get()
    }

    /// Tell every live connection that a graceful shutdown has begun.
    pub(crate) fn shutdown(&self) {
        self.shutting_down.set(true);
        let conns: Vec<_> = self
            .conns
            .borrow()
            .values()
            .filter_map(WeakAddr::upgrade)
            .collect();
        tracing::debug!(connections = conns.len(), "worker shutting down");
        for c in conns {
            // A control message with no data; it must arrive even if the mailbox is busy.
            c.do_send(Shutdown);
        }
        let upgraded: Vec<_> = self
            .upgraded
            .borrow()
            .values()
            .filter_map(WeakRecipient::upgrade)
            .collect();
        for c in upgraded {
            c.do_send(Shutdown);
        }
    }
}

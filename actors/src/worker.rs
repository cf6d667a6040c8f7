//! Per-worker state shared by the connections of one worker thread (an actix Arbiter).
//!
//! Not an actor: a plain `Rc` on the worker's thread holding the configuration, the app and
//! the registry of live connections, which is how a graceful shutdown reaches each of them.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Wake, Waker};

use actix::WeakAddr;
use futures::future::LocalBoxFuture;
use weir::{Error, Exchange, Outcome};

use crate::connection::Connection;
use crate::messages::Shutdown;
use crate::pool::SyncPool;
use crate::Config;

/// The app, type-erased once per worker so connections are not generic.
pub(crate) type AppFn = dyn Fn(Exchange) -> LocalBoxFuture<'static, Result<Outcome, Error>>;

/// What the connections of one worker share.
pub(crate) struct Worker {
    pub(crate) cfg: Config,
    pub(crate) app: Box<AppFn>,
    pub(crate) pool: SyncPool,
    // Weak: every strong `Addr` allocates its own sender state (~170 B), and the registry
    // only needs to reach connections at shutdown.
    conns: RefCell<HashMap<u64, WeakAddr<Connection>>>,
    /// The waker a connection polls an app with on the fast path, and the flag it sets:
    /// an app that wakes itself (an empty yield) is polled again at once. One per worker,
    /// as these polls never overlap on a thread.
    pub(crate) inline_flag: Arc<WakeFlag>,
    pub(crate) inline_waker: Waker,
    shutting_down: Cell<bool>,
}

impl Worker {
    pub(crate) fn new(cfg: Config, app: Box<AppFn>, pool: SyncPool) -> Worker {
        let flag = Arc::new(WakeFlag::default());
        Worker {
            cfg,
            app,
            pool,
            conns: RefCell::new(HashMap::new()),
            inline_flag: Arc::clone(&flag),
            inline_waker: Waker::from(flag),
            shutting_down: Cell::new(false),
        }
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

    pub(crate) fn register(&self, id: u64, addr: WeakAddr<Connection>) {
        self.conns.borrow_mut().insert(id, addr);
    }

    pub(crate) fn unregister(&self, id: u64) {
        self.conns.borrow_mut().remove(&id);
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
    }
}

/// A waker that only records that it was woken.
#[derive(Default)]
pub(crate) struct WakeFlag(AtomicBool);

impl WakeFlag {
    /// Whether it was woken since the last call (and clear it).
    pub(crate) fn take(&self) -> bool {
        self.0.swap(false, Ordering::AcqRel)
    }
}

impl Wake for WakeFlag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

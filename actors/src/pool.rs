//! The blocking pool: an actix `SyncArbiter` of [`PoolThread`]s with a bound on queued work.
//!
//! - **Owns**: N threads (each a `PoolThread` actor in a `SyncContext`), and a counter of
//!   jobs running or queued.
//! - **Receives**: [`RunJob`] from the app actor and the connection's fast path (a switched
//!   continuation, which is also how a bridged blocking app runs) and from app transports
//!   (delegated blocking calls).
//! - **Sends**: nothing itself; the jobs it runs send `ReadChunk`, `Respond` and `AppFailed`
//!   to their connection and block on the answers.
//! - **Stops when**: the actix system stops.
//!
//! `SyncArbiter`'s queue is unbounded and it does not catch panics, so [`SyncPool::try_run`]
//! bounds the jobs in flight (threads + `pool_queue`; past it the caller answers 503) and
//! every job runs under `catch_unwind`, so a panicking app never takes a thread down and the
//! pool keeps its size.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix::prelude::*;
use weir::Error;

use crate::messages::RunJob;

/// One pool thread (an actor in a `SyncContext`). Named for what it is: weir's "workers"
/// are the event-loop threads connections live on.
pub struct PoolThread;

impl Actor for PoolThread {
    type Context = SyncContext<Self>;
}

impl Handler<RunJob> for PoolThread {
    type Result = ();

    fn handle(&mut self, msg: RunJob, _: &mut Self::Context) {
        if std::panic::catch_unwind(AssertUnwindSafe(msg.0)).is_err() {
            tracing::error!("a blocking job panicked; the pool thread carries on");
        }
    }
}

/// Handle to the blocking pool; cheap to clone (one reference count: cloning an `Addr`
/// would allocate sender state per request) and `Send`.
#[derive(Clone)]
pub struct SyncPool(Arc<PoolInner>);

struct PoolInner {
    addr: Addr<PoolThread>,
    in_flight: Arc<AtomicUsize>,
    limit: usize,
}

impl std::fmt::Debug for SyncPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncPool")
            .field("in_flight", &self.0.in_flight.load(Ordering::Relaxed))
            .field("limit", &self.0.limit)
            .finish()
    }
}

/// A job's place in the pool, released when dropped: by the pool when the job returns, or
/// earlier by a job that has finished its work and only reports the result.
pub(crate) struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl SyncPool {
    /// Start `threads` pool threads that accept up to `queue` waiting jobs. Must be called
    /// inside an actix `System`.
    pub fn start(threads: usize, queue: usize) -> SyncPool {
        let threads = threads.max(1);
        SyncPool(Arc::new(PoolInner {
            addr: SyncArbiter::start(threads, || PoolThread),
            in_flight: Arc::new(AtomicUsize::new(0)),
            limit: threads + queue,
        }))
    }

    /// Jobs running or waiting now.
    pub fn in_flight(&self) -> usize {
        self.0.in_flight.load(Ordering::Acquire)
    }

    /// Run `job` on a pool thread, or fail with [`Error::overloaded`] (503) when every
    /// thread is busy and the queue is full.
    pub fn try_run(&self, job: impl FnOnce() + Send + 'static) -> Result<(), Error> {
        self.try_run_with_slot(move |slot| {
            job();
            drop(slot);
        })
    }

    /// Like [`try_run`](Self::try_run), handing the job its slot so it can release it
    /// before reporting its result (the client, answered, may send the next request at
    /// once: it should find the thread free).
    pub(crate) fn try_run_with_slot(
        &self,
        job: impl FnOnce(Slot) + Send + 'static,
    ) -> Result<(), Error> {
        let prev = self.0.in_flight.fetch_add(1, Ordering::AcqRel);
        let slot = Slot(Arc::clone(&self.0.in_flight));
        if prev >= self.0.limit {
            return Err(Error::overloaded());
        }
        // `do_send` is right here: the queue is bounded by the counter above, not by the
        // (unbounded) SyncArbiter mailbox.
        self.0.addr.do_send(RunJob(Box::new(move || job(slot))));
        Ok(())
    }
}

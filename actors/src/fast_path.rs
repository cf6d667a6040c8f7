//! The fast path: the connection polls a new request's app itself.
//!
//! Most responses (plaintext, JSON, an error) are produced in the app's first poll, so
//! starting an actor and exchanging messages for them would be pure overhead (about 0.5 µs
//! each, `cargo bench --bench actor_costs`). While the app makes progress without waiting on
//! anything else, the connection drives its future with a flag-only waker and takes its
//! response parts straight from a per-thread [slot](with_slot); no actor starts and no message
//! is sent, and pipelined requests are answered in one pass and one write. The first time the
//! app waits on something else (a body chunk not yet read, a timer, a hub, a slow client) the
//! drive returns [`Driven::Waiting`] and the connection hands the future to an
//! [`AppActor`](crate::app::AppActor); from then on every await is a message.
//!
//! The slot is per thread, not per request: fast-path drives never overlap on a worker
//! thread, and a request that waits (a Comet client) should not carry it.

use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures::channel::oneshot;
use futures::future::LocalBoxFuture;
use weir::rt::Part;
use weir::{Error, Outcome};

/// An app's future, as the runtime drives it.
pub(crate) type AppFuture = LocalBoxFuture<'static, Result<Outcome, Error>>;

/// The connection's answer to one response part: taken, or why not.
type Ack = Result<(), Error>;

/// Self-wakes (empty yields) an app gets on the fast path before it must wait like any other
/// (an app that keeps waking itself gets its own actor, not the connection's time).
const MAX_SELF_WAKES: usize = 16;

/// Where the connection and a request's transport meet during a fast-path drive.
pub(crate) struct Slot {
    /// Which request is being driven: (connection id, request seq).
    key: (u64, u64),
    /// The part the app handed over, for the connection to take.
    part: Option<Part>,
    /// The connection's answer to the last part (the app's `send` completes with it).
    ack: Option<Ack>,
    /// The write buffer was over its mark: the ack will come through this receiver, which
    /// the transport adopts on its next poll (still on the fast path).
    held_ack: Option<oneshot::Receiver<Ack>>,
}

thread_local! {
    static SLOT: RefCell<Option<Slot>> = const { RefCell::new(None) };
}

/// Marks the fast-path drive of one request on this thread; ends it when dropped (also on
/// unwind, so a panicking app never leaves a stale slot behind).
struct Drive;

impl Drive {
    fn begin(key: (u64, u64)) -> Drive {
        SLOT.with(|s| {
            *s.borrow_mut() = Some(Slot {
                key,
                part: None,
                ack: None,
                held_ack: None,
            })
        });
        Drive
    }

    fn with<R>(&self, f: impl FnOnce(&mut Slot) -> R) -> R {
        SLOT.with(|s| f(s.borrow_mut().as_mut().expect("drive in progress")))
    }
}

impl Drop for Drive {
    fn drop(&mut self) {
        SLOT.with(|s| *s.borrow_mut() = None);
    }
}

/// Run `f` on the slot if request `key` is being driven on the fast path right now (the
/// transport's side: it hands parts over and takes acks here instead of sending messages).
pub(crate) fn with_slot<R>(key: (u64, u64), f: impl FnOnce(&mut Slot) -> R) -> Option<R> {
    SLOT.with(|s| s.borrow_mut().as_mut().filter(|i| i.key == key).map(f))
}

impl Slot {
    /// Hand a response part to the connection.
    pub(crate) fn put_part(&mut self, part: Part) {
        self.part = Some(part);
    }

    /// The connection's answer to the last part, or the receiver it will come through
    /// (taken once).
    pub(crate) fn take_ack(&mut self) -> (Option<Ack>, Option<oneshot::Receiver<Ack>>) {
        (self.ack.take(), self.held_ack.take())
    }
}

/// What the connection did with a part the app handed over on the fast path.
pub(crate) enum Answer {
    /// Taken (or refused): the app's `send` completes with this.
    Now(Ack),
    /// Taken, above the write high-water mark: the ack comes through this receiver once the
    /// socket drains.
    Held(oneshot::Receiver<Ack>),
}

/// How a fast-path drive ended.
pub(crate) enum Driven {
    /// The app finished (or panicked: the panic is its error).
    Done(Result<Outcome, Error>),
    /// The app waits on something else: drive it in an actor.
    Waiting(AppFuture),
}

/// The waker a worker's fast-path drives poll apps with: it only records that it was woken,
/// so an app that wakes itself (an empty yield) is polled again at once. One per worker, as
/// fast-path drives never overlap on a thread.
pub(crate) struct FastWaker {
    flag: Arc<WakeFlag>,
    waker: Waker,
}

impl Default for FastWaker {
    fn default() -> FastWaker {
        let flag = Arc::new(WakeFlag::default());
        FastWaker {
            waker: Waker::from(Arc::clone(&flag)),
            flag,
        }
    }
}

#[derive(Default)]
struct WakeFlag(AtomicBool);

impl WakeFlag {
    /// Whether it was woken since the last call (and clear it).
    fn take(&self) -> bool {
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

/// Drive request `key`'s app future on the fast path. `take` is the connection taking one
/// response part into its write buffer. Re-polls for parts are bounded by the write
/// buffer's high-water mark (past it the answer is `Held`, and the app leaves as soon as it
/// waits on it); re-polls for self-wakes by `MAX_SELF_WAKES`.
pub(crate) fn drive(
    mut fut: AppFuture,
    key: (u64, u64),
    waker: &FastWaker,
    mut take: impl FnMut(Part) -> Answer,
) -> Driven {
    let mut cx = Context::from_waker(&waker.waker);
    let drive = Drive::begin(key);
    let mut self_wakes = 0;
    loop {
        waker.flag.take();
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx)));
        match polled {
            Ok(Poll::Ready(out)) => return Driven::Done(out),
            Err(payload) => return Driven::Done(Err(Error::from_panic(&*payload))),
            Ok(Poll::Pending) => {}
        }
        match drive.with(|s| s.part.take()).map(&mut take) {
            // The app's `send` completes on the next poll.
            Some(Answer::Now(res)) => drive.with(|s| s.ack = Some(res)),
            // One more poll lets the transport adopt the receiver the ack will come through.
            Some(Answer::Held(rx)) => drive.with(|s| s.held_ack = Some(rx)),
            None if waker.flag.take() && self_wakes < MAX_SELF_WAKES => self_wakes += 1,
            // Waiting on something else: it needs an actor of its own.
            None => return Driven::Waiting(fut),
        }
    }
}

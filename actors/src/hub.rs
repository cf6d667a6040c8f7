//! The broadcast hub: how actors in the user's system push to HTTP clients held open by
//! Comet apps (long-poll, streaming, server-sent events).
//!
//! - **Owns**: a numbered history of the last `history` messages (ids increase by 1 from 1)
//!   and one bounded queue per subscriber.
//! - **Receives**: [`Publish`] (anyone) → the new message's id; [`Subscribe`] (an app, on
//!   any worker) → a [`Subscription`] with the backlog after `since`; [`Unsubscribe`] (sent
//!   by a `Subscription` when it is dropped, e.g. when the client went away); [`Stats`].
//! - **Sends**: each published message to every subscriber's queue, without waiting: a
//!   subscriber whose queue is full (a client that does not keep up) is dropped and logged,
//!   so one slow reader never stalls the others or grows memory.
//! - **Stops when**: the actix system stops (or every `Addr` is dropped).

use std::collections::{HashMap, VecDeque};

use actix::prelude::*;
use actix::WeakRecipient;
use std::collections::VecDeque as Queue;
use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

/// A broadcast hub for messages of type `T` (see the module docs). `T` is cloned once per
/// subscriber per message (use an `Arc` for large payloads) and must be `Unpin`, as actix
/// actors' state is.
pub struct Hub<T: Clone + Send + Unpin + 'static> {
    next_id: u64,
    history: VecDeque<(u64, T)>,
    history_cap: usize,
    subs: HashMap<u64, Arc<Inbox<T>>>,
    next_sub: u64,
    queue_cap: usize,
}

impl<T: Clone + Send + Unpin + 'static> Hub<T> {
    /// A hub keeping the last `history` messages for late subscribers, with a queue of
    /// `queue` undelivered messages per subscriber before it is dropped as too slow.
    pub fn new(history: usize, queue: usize) -> Hub<T> {
        Hub {
            next_id: 1,
            history: VecDeque::with_capacity(history.min(1024)),
            history_cap: history,
            subs: HashMap::new(),
            next_sub: 0,
            queue_cap: queue.max(1),
        }
    }
}

impl<T: Clone + Send + Unpin + 'static> Actor for Hub<T> {
    type Context = Context<Self>;

    fn stopped(&mut self, _: &mut Self::Context) {
        for inbox in self.subs.values() {
            inbox.close();
        }
    }
}

/// Anyone → hub: publish a message; the reply is its id.
pub struct Publish<T>(pub T);

impl<T: Send + 'static> Message for Publish<T> {
    type Result = u64;
}

/// App → hub: subscribe, receiving the history after id `since` (all kept history for 0,
/// none for `None`) and every later message.
pub struct Subscribe<T> {
    /// Replay messages with ids greater than this.
    pub since: Option<u64>,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T> Subscribe<T> {
    /// Subscribe from `since` (see the type's docs).
    pub fn since(since: Option<u64>) -> Subscribe<T> {
        Subscribe {
            since,
            _t: std::marker::PhantomData,
        }
    }
}

impl<T: Clone + Send + Unpin + 'static> Message for Subscribe<T> {
    type Result = Subscription<T>;
}

/// Subscription → hub: forget subscriber `id` (sent on drop).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe(pub u64);

/// Anyone → hub: counts, for tests and metrics.
#[derive(Message)]
#[rtype(result = "HubStats")]
pub struct Stats;

/// What [`Stats`] answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, MessageResponse)]
pub struct HubStats {
    /// Live subscribers.
    pub subscribers: usize,
    /// Messages in the history.
    pub history: usize,
    /// The id the next message will get.
    pub next_id: u64,
}

/// One subscriber's queue, shared by the hub (which pushes) and the subscription (which
/// pops): one small allocation per waiting client, where a general-purpose channel costs
/// several.
struct Inbox<T> {
    state: Mutex<InboxState<T>>,
}

struct InboxState<T> {
    queue: Queue<(u64, T)>,
    waker: Option<Waker>,
    /// Dropped by the hub (too slow) or the hub stopped: `recv` ends after the queue.
    closed: bool,
}

impl<T> Inbox<T> {
    fn new() -> Inbox<T> {
        Inbox {
            state: Mutex::new(InboxState {
                queue: Queue::new(),
                waker: None,
                closed: false,
            }),
        }
    }

    /// Queue a message unless `cap` are waiting already; `false` means the subscriber is
    /// too slow (and is now closed).
    fn push(&self, msg: (u64, T), cap: usize) -> bool {
        let mut st = self.state.lock().expect("poisoned");
        let ok = st.queue.len() < cap;
        if ok {
            st.queue.push_back(msg);
        } else {
            st.closed = true;
        }
        if let Some(w) = st.waker.take() {
            w.wake();
        }
        ok
    }

    fn close(&self) {
        let mut st = self.state.lock().expect("poisoned");
        st.closed = true;
        if let Some(w) = st.waker.take() {
            w.wake();
        }
    }
}

/// A live subscription: the backlog it started with and a queue of later messages.
/// Dropping it unsubscribes.
pub struct Subscription<T: Send + 'static> {
    id: u64,
    /// Messages after `since` that were already in the history, oldest first.
    pub backlog: Vec<(u64, T)>,
    inbox: Arc<Inbox<T>>,
    /// Weak: a strong recipient allocates sender state per subscriber, and this is only
    /// used once, on drop.
    hub: WeakRecipient<Unsubscribe>,
}

impl<T: Send + 'static> Subscription<T> {
    /// The next message, `None` if the hub dropped this subscriber (too slow) or stopped.
    pub async fn recv(&mut self) -> Option<(u64, T)> {
        poll_fn(|cx| {
            let mut st = self.inbox.state.lock().expect("poisoned");
            if let Some(m) = st.queue.pop_front() {
                return Poll::Ready(Some(m));
            }
            if st.closed {
                return Poll::Ready(None);
            }
            if !st.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                st.waker = Some(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// Take the backlog (leaving it empty).
    pub fn take_backlog(&mut self) -> Vec<(u64, T)> {
        std::mem::take(&mut self.backlog)
    }
}

impl<T: Send + 'static> Drop for Subscription<T> {
    fn drop(&mut self) {
        // A control message with no data; it must arrive even when the hub is busy.
        if let Some(hub) = self.hub.upgrade() {
            hub.do_send(Unsubscribe(self.id));
        }
    }
}

impl<A, T> actix::dev::MessageResponse<A, Subscribe<T>> for Subscription<T>
where
    A: Actor,
    T: Clone + Send + Unpin + 'static,
{
    fn handle(self, _: &mut A::Context, tx: Option<actix::dev::OneshotSender<Subscription<T>>>) {
        if let Some(tx) = tx {
            let _ = tx.send(self);
        }
    }
}

impl<T: Clone + Send + Unpin + 'static> Handler<Publish<T>> for Hub<T> {
    type Result = u64;

    fn handle(&mut self, msg: Publish<T>, _: &mut Self::Context) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        if self.history_cap > 0 {
            if self.history.len() == self.history_cap {
                self.history.pop_front();
            }
            self.history.push_back((id, msg.0.clone()));
        }
        let cap = self.queue_cap;
        self.subs.retain(|sub, inbox| {
            // Only the hub holds it: the subscription is gone (its Unsubscribe may be queued).
            if Arc::strong_count(inbox) == 1 {
                return false;
            }
            let ok = inbox.push((id, msg.0.clone()), cap);
            if !ok {
                tracing::warn!(subscriber = sub, "subscriber too slow; dropping it");
            }
            ok
        });
        id
    }
}

impl<T: Clone + Send + Unpin + 'static> Handler<Subscribe<T>> for Hub<T> {
    type Result = Subscription<T>;

    fn handle(&mut self, msg: Subscribe<T>, ctx: &mut Self::Context) -> Subscription<T> {
        self.next_sub += 1;
        let id = self.next_sub;
        let inbox = Arc::new(Inbox::new());
        self.subs.insert(id, Arc::clone(&inbox));
        let backlog = match msg.since {
            Some(since) => self
                .history
                .iter()
                .filter(|(i, _)| *i > since)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        Subscription {
            id,
            backlog,
            inbox,
            hub: ctx.address().downgrade().recipient(),
        }
    }
}

impl<T: Clone + Send + Unpin + 'static> Handler<Unsubscribe> for Hub<T> {
    type Result = ();

    fn handle(&mut self, msg: Unsubscribe, _: &mut Self::Context) {
        self.subs.remove(&msg.0);
    }
}

impl<T: Clone + Send + Unpin + 'static> Handler<Stats> for Hub<T> {
    type Result = HubStats;

    fn handle(&mut self, _: Stats, _: &mut Self::Context) -> HubStats {
        HubStats {
            subscribers: self.subs.len(),
            history: self.history.len(),
            next_id: self.next_id,
        }
    }
}

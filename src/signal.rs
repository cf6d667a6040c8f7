//! The close signal: how an app learns that its client went away or the server is stopping,
//! on a channel separate from body reads (so watching for it never consumes a chunk).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// Why an exchange is being closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The server is shutting down gracefully: finish the response soon (a streaming response
    /// should end now); sends still work until the shutdown deadline.
    Shutdown,
    /// The client went away: nothing more can be sent.
    ClientGone,
}

const OPEN: u8 = 0;
const SHUTDOWN: u8 = 1;
const GONE: u8 = 2;

/// A one-way, escalating signal (open → shutdown → client gone), cheap to clone and to check,
/// and safe to share with threads (a blocking continuation may watch it from the pool).
#[derive(Clone, Debug, Default)]
pub struct CloseSignal {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    state: AtomicU8,
    // Waiters are rare (apps that park on `closed()`), so a mutex is cheaper than anything
    // clever, and it is never touched on the per-chunk path.
    waiters: Mutex<Vec<Waker>>,
}

impl CloseSignal {
    /// A new, open signal.
    pub fn new() -> CloseSignal {
        CloseSignal::default()
    }

    /// Raise the signal. It only escalates: `Shutdown` after `ClientGone` is ignored.
    pub fn close(&self, reason: CloseReason) {
        let new = match reason {
            CloseReason::Shutdown => SHUTDOWN,
            CloseReason::ClientGone => GONE,
        };
        let old = self.inner.state.fetch_max(new, Ordering::AcqRel);
        if old < new {
            let waiters = std::mem::take(&mut *self.inner.waiters.lock().expect("poisoned"));
            for w in waiters {
                w.wake();
            }
        }
    }

    /// The reason, once raised.
    pub fn reason(&self) -> Option<CloseReason> {
        match self.inner.state.load(Ordering::Acquire) {
            OPEN => None,
            SHUTDOWN => Some(CloseReason::Shutdown),
            _ => Some(CloseReason::ClientGone),
        }
    }

    /// Whether the client is gone (sends can no longer succeed).
    pub fn is_client_gone(&self) -> bool {
        self.inner.state.load(Ordering::Acquire) == GONE
    }

    /// Resolves when the signal is raised (at once if it already is).
    pub fn closed(&self) -> Closed<'_> {
        Closed { signal: self }
    }

    /// Poll form of [`CloseSignal::closed`].
    pub fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<CloseReason> {
        if let Some(r) = self.reason() {
            return Poll::Ready(r);
        }
        let mut waiters = self.inner.waiters.lock().expect("poisoned");
        // Check again under the lock: `close` takes the waiters under it after setting state.
        if let Some(r) = self.reason() {
            return Poll::Ready(r);
        }
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            // Usually the only waiter: room for one, not the default four.
            waiters.reserve_exact(1);
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// Future returned by [`CloseSignal::closed`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Closed<'a> {
    signal: &'a CloseSignal,
}

impl Future for Closed<'_> {
    type Output = CloseReason;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<CloseReason> {
        self.signal.poll_closed(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[test]
    fn escalates_and_wakes() {
        let s = CloseSignal::new();
        let mut fut = Box::pin(async { s.closed().await });
        assert!(fut.as_mut().now_or_never().is_none());
        s.close(CloseReason::Shutdown);
        assert_eq!(fut.now_or_never(), Some(CloseReason::Shutdown));
        s.close(CloseReason::ClientGone);
        s.close(CloseReason::Shutdown);
        assert_eq!(s.reason(), Some(CloseReason::ClientGone));
        assert!(s.is_client_gone());
    }
}

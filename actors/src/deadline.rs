//! One re-armable timer, as the connection and WebSocket actors each keep: made when a
//! deadline is wanted, moved when the deadline moves, dropped when none is wanted (so an
//! actor waiting on its app holds no timer).

use std::future::Future;
use std::pin::Pin;
use std::task::Context;

use actix_rt::time::{sleep_until, Instant, Sleep};

/// An actor's one timer (see the module docs).
#[derive(Default)]
pub(crate) struct Deadline(Option<Pin<Box<Sleep>>>);

impl Deadline {
    /// Arm for `at` (disarm for `None`) and poll: true once `at` has passed, and the timer
    /// is then disarmed, so the caller handles it once.
    pub(crate) fn fired(&mut self, at: Option<Instant>, cx: &mut Context<'_>) -> bool {
        let Some(at) = at else {
            self.0 = None;
            return false;
        };
        let timer = match &mut self.0 {
            Some(t) => {
                if t.deadline() != at {
                    t.as_mut().reset(at);
                }
                t
            }
            None => self.0.insert(Box::pin(sleep_until(at))),
        };
        if timer.as_mut().poll(cx).is_ready() {
            self.0 = None;
            return true;
        }
        false
    }
}

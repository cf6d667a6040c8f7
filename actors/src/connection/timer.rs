//! The connection's one timer: which deadline applies in the current state, and what
//! happens when it passes.
//!
//! A connection holds at most one timer, made when a deadline is wanted and dropped when
//! none is (a request waiting on its app holds none). Deadlines use the runtime's clock
//! (`actix_rt::time::Instant`), so tests can pause and advance it.

use std::task::{Context as TaskContext, Poll};

use actix::prelude::*;
use actix_rt::time::Instant;
use http::StatusCode;
use weir::Error;

use super::access::span_of;
use super::http1::State;
use super::Connection;

/// Which timer is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    /// Pending output made no progress for `write_timeout`.
    Write,
    /// A head took longer than `header_read_timeout` from its first byte.
    HeadRead,
    /// No new request within `keep_alive_timeout`.
    Idle,
    /// A body chunk was asked for and nothing arrived for `body_read_timeout`.
    BodyRead,
    /// A lingering close ran for `linger_timeout`.
    Linger,
    /// A window of the request body's minimum data rate ended (see `rate`).
    BodyRate,
    /// A window of the response's minimum data rate ended.
    ResponseRate,
}

impl Connection {
    fn on_timeout(&mut self, which: Timer, ctx: &mut Context<Self>) {
        match which {
            Timer::Write => {
                tracing::info!(parent: span_of(&self.span), "write timeout: client stopped reading; closing");
                self.abort_now(ctx);
            }
            Timer::HeadRead => {
                if self.rbuf.is_empty() {
                    tracing::debug!(parent: span_of(&self.span), "no request before the header timeout; closing");
                    self.close_now(ctx);
                } else {
                    self.reject(StatusCode::REQUEST_TIMEOUT, "request head timed out");
                }
            }
            Timer::Idle => {
                tracing::debug!(parent: span_of(&self.span), "keep-alive timeout; closing");
                self.close_now(ctx);
            }
            Timer::BodyRead => {
                tracing::info!(parent: span_of(&self.span), "body read timeout; closing");
                if let State::Active(r) = &mut self.state {
                    r.body.fail_want(Error::body_timeout());
                }
                self.close_now(ctx);
            }
            Timer::Linger => self.close_now(ctx),
            Timer::BodyRate => self.on_rate_deadline(true, ctx),
            Timer::ResponseRate => self.on_rate_deadline(false, ctx),
        }
    }

    /// Which timer should run now, and when it fires.
    fn desired_timer(&self) -> Option<(Timer, Instant)> {
        let stall = self.stall_timer();
        let rate = self.meter_deadline().map(|(body, at)| {
            let which = if body {
                Timer::BodyRate
            } else {
                Timer::ResponseRate
            };
            (which, at)
        });
        match (stall, rate) {
            (Some(s), Some(r)) => Some(if r.1 < s.1 { r } else { s }),
            (s, r) => s.or(r),
        }
    }

    /// The deadline of the state's stall or idle timeout.
    fn stall_timer(&self) -> Option<(Timer, Instant)> {
        let cfg = self.cfg();
        if !self.wbuf.is_empty() {
            return Some((Timer::Write, self.write_progress + cfg.write_timeout));
        }
        match &self.state {
            State::Head => match self.head_start {
                Some(t) => Some((Timer::HeadRead, t + cfg.header_read_timeout)),
                None => Some((Timer::Idle, self.read_progress + cfg.keep_alive_timeout)),
            },
            State::Active(r) if r.body.is_wanted() => {
                Some((Timer::BodyRead, self.read_progress + cfg.body_read_timeout))
            }
            State::Active(_) | State::Closing | State::Upgrading(_) => None,
            State::Drain { .. } => {
                Some((Timer::BodyRead, self.read_progress + cfg.body_read_timeout))
            }
            State::Linger { since, .. } => Some((Timer::Linger, *since + cfg.linger_timeout)),
        }
    }

    /// Arm the timer the state wants (or drop it) and fire it if its deadline has passed.
    pub(super) fn poll_timer(
        &mut self,
        ctx: &mut Context<Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<()> {
        let want = self.desired_timer();
        if self.timer.fired(want.map(|(_, at)| at), cx) {
            let (which, _) = want.expect("a timer fires only when one was wanted");
            self.on_timeout(which, ctx);
            if ctx.state().stopping() {
                return Poll::Ready(());
            }
            // The timeout changed the state (an error response to write): go round again.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

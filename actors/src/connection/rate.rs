//! Minimum data rates: reaping clients that trickle.
//!
//! A stall timeout (`body_read_timeout`, `write_timeout`) only notices a client that sends
//! or reads nothing. A client that sends a few body bytes every few seconds, or reads a
//! response 32 bytes at a time, never stalls, and would hold its connection for hours. So,
//! as Kestrel's `MinRequestBodyDataRate`/`MinResponseDataRate` and Apache's
//! `mod_reqtimeout` `MinRate` do, a request body and a response must each move at least
//! `bytes_per_second`.
//!
//! Time counts only while the connection waits on the client: for a body, while the app has
//! asked for a chunk the buffer cannot answer; for a response, while bytes are waiting in the
//! write buffer. So an app that does not read, or produces its response slowly (a long-poll,
//! an SSE stream with minutes between events), never puts its client at fault.
//!
//! - **Body** ([`Meter`]): the bytes read while the app waits, averaged over consecutive
//!   windows of `grace` length (an early burst does not pay for a later trickle).
//! - **Response** ([`Credit`]): the kernel, not weir, decides when a slow reader's bytes
//!   move. It takes more from weir only once the client has drained about half of the
//!   socket's send buffer (Linux wakes a writer when half its queue is free), so bytes
//!   written per window would jump between zero and hundreds of kilobytes for a perfectly
//!   steady reader. So the response runs on credit, counted in seconds: while bytes wait,
//!   credit drains at one second per second; each byte the stream takes earns `1 / rate`
//!   seconds, up to a cap of `grace + (send buffer / 2) / rate` (the time a client at the
//!   rate needs between two of the kernel's wake-ups); credit is kept between waits; a
//!   client whose credit runs out is reaped. A client at the rate earns what it spends; one
//!   below it loses a little every second, however often it makes a little progress.

use std::time::Duration;

use actix::prelude::*;
use actix_rt::time::Instant;
use http::StatusCode;
use weir::Error;

use super::access::span_of;
use super::http1::{Resp, State};
use super::Connection;
use crate::config::MinDataRate;

/// Measures one direction of one connection against a [`MinDataRate`].
#[derive(Debug)]
pub(super) struct Meter {
    rate: MinDataRate,
    /// Time counted before `since`.
    counted: Duration,
    /// Counting now, since this instant.
    since: Option<Instant>,
    /// Counted time at the start of the current window.
    window_start: Duration,
    /// Bytes moved in the current window.
    bytes: u64,
}

impl Meter {
    pub(super) fn new(rate: MinDataRate) -> Meter {
        Meter {
            rate,
            counted: Duration::ZERO,
            since: None,
            window_start: Duration::ZERO,
            bytes: 0,
        }
    }

    /// Start or stop counting time (the connection waits on the client, or not).
    pub(super) fn set_counting(&mut self, on: bool, now: Instant) {
        match (self.since, on) {
            (None, true) => self.since = Some(now),
            (Some(s), false) => {
                self.counted += now.saturating_duration_since(s);
                self.since = None;
            }
            _ => {}
        }
    }

    /// Bytes moved.
    pub(super) fn add(&mut self, n: usize) {
        self.bytes += n as u64;
    }

    /// When the current window ends, if time is counting.
    pub(super) fn deadline(&self) -> Option<Instant> {
        let since = self.since?;
        let window_end = self.window_start + self.rate.grace;
        Some(since + window_end.saturating_sub(self.counted))
    }

    /// At a deadline: whether the window that just ended moved enough bytes. If it did, the
    /// next window starts.
    pub(super) fn window_ok(&mut self, now: Instant) -> bool {
        if let Some(s) = self.since {
            self.counted += now.saturating_duration_since(s);
            self.since = Some(now);
        }
        let elapsed = self.counted - self.window_start;
        if elapsed < self.rate.grace {
            return true; // woken early: the window is not over
        }
        let needed = self.rate.bytes_per_second as f64 * elapsed.as_secs_f64();
        if (self.bytes as f64) < needed {
            return false;
        }
        self.window_start = self.counted;
        self.bytes = 0;
        true
    }
}

/// A response's credit against the minimum rate, in seconds (see the module docs).
#[derive(Debug)]
pub(super) struct Credit {
    rate: MinDataRate,
    /// Credit left when the last wait ended (or the cap, at first).
    left: Duration,
    /// While bytes wait: when the credit runs out.
    deadline: Option<Instant>,
}

impl Credit {
    pub(super) fn new(rate: MinDataRate, send_buffer: usize) -> Credit {
        let mut c = Credit {
            rate,
            left: Duration::ZERO,
            deadline: None,
        };
        c.left = c.cap(send_buffer);
        c
    }

    /// At most `grace + (send_buffer / 2) / rate`.
    fn cap(&self, send_buffer: usize) -> Duration {
        self.rate.grace + self.secs_for((send_buffer / 2) as u64)
    }

    fn secs_for(&self, bytes: u64) -> Duration {
        let secs = bytes as f64 / self.rate.bytes_per_second.max(1) as f64;
        Duration::from_secs_f64(secs.min(1e9))
    }

    /// Bytes are waiting (`true`) or not; credit runs only while they wait.
    pub(super) fn set_waiting(&mut self, waiting: bool, now: Instant) {
        match (self.deadline, waiting) {
            (None, true) => self.deadline = Some(now + self.left),
            (Some(d), false) => {
                self.left = d.saturating_duration_since(now);
                self.deadline = None;
            }
            _ => {}
        }
    }

    /// The stream took `n` bytes: earn `n / rate` seconds, up to the cap.
    pub(super) fn earn(&mut self, n: usize, now: Instant, send_buffer: usize) {
        let cap = self.cap(send_buffer);
        let earned = self.secs_for(n as u64);
        match &mut self.deadline {
            Some(d) => *d = (*d + earned).min(now + cap),
            None => self.left = (self.left + earned).min(cap),
        }
    }

    /// When the credit runs out, if bytes are waiting.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
}

impl Connection {
    /// Start or stop each meter's clock for what the connection waits on now. Called by the
    /// driver at the end of every pass, before it picks the timer.
    pub(super) fn update_meters(&mut self) {
        let body_waits = self.rates_on && self.wants_body_bytes();
        let response_waits = self.rates_on && !self.wbuf.is_empty();
        if !body_waits && !response_waits && self.body_meter.is_none() && self.credit.is_none() {
            return; // the usual pass: nothing waits on the client, no clock read needed
        }
        let now = Instant::now();
        let body_rate = self.cfg().min_request_body_rate;
        match (&mut self.body_meter, body_rate) {
            (Some(m), _) => m.set_counting(body_waits, now),
            (None, Some(rate)) if body_waits => {
                let mut m = Meter::new(rate);
                m.set_counting(true, now);
                self.body_meter = Some(Box::new(m));
            }
            _ => {}
        }
        // The driver flushes before it gets here, so bytes still waiting are waiting on the
        // client.
        let response_rate = self.cfg().min_response_rate;
        match (&mut self.credit, response_rate) {
            (Some(c), _) => c.set_waiting(response_waits, now),
            (None, Some(rate)) if response_waits => {
                let send_buffer = self.io.send_buffer_size().unwrap_or(0);
                let mut c = Credit::new(rate, send_buffer);
                c.set_waiting(true, now);
                self.credit = Some(Box::new(c));
            }
            _ => {}
        }
    }

    /// The earlier of the meters' deadlines, if any counts.
    pub(super) fn meter_deadline(&self) -> Option<(bool, Instant)> {
        let body = self.body_meter.as_ref().and_then(|m| m.deadline());
        let resp = self.credit.as_ref().and_then(|c| c.deadline());
        match (body, resp) {
            (Some(b), Some(r)) if r < b => Some((false, r)),
            (Some(b), _) => Some((true, b)),
            (None, Some(r)) => Some((false, r)),
            (None, None) => None,
        }
    }

    /// A meter's window ended: reap the client if it moved too little.
    pub(super) fn on_rate_deadline(&mut self, body: bool, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let ok = if body {
            self.body_meter.as_mut().is_none_or(|m| m.window_ok(now))
        } else {
            self.credit
                .as_ref()
                .and_then(|c| c.deadline())
                .is_none_or(|at| now < at)
        };
        if ok {
            return;
        }
        let direction = if body { "request body" } else { "response" };
        tracing::info!(parent: span_of(&self.span), "{direction} below the minimum data rate; closing");
        metrics::counter!("weir_min_data_rate_closes_total", "direction" => if body { "body" } else { "response" }).increment(1);
        if let State::Active(r) = &mut self.state {
            if body && matches!(r.resp, Resp::AwaitHead) {
                // Nothing answered yet: say why (RFC 9110 §15.5.9), then close lingering.
                self.abandon_request(Error::body_timeout());
                self.reject(StatusCode::REQUEST_TIMEOUT, "request body too slow");
                return;
            }
        }
        if body {
            self.close_now(ctx);
        } else {
            self.abort_now(ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meter() -> Meter {
        Meter::new(MinDataRate {
            bytes_per_second: 100,
            grace: Duration::from_secs(5),
        })
    }

    fn credit() -> Credit {
        Credit::new(
            MinDataRate {
                bytes_per_second: 100,
                grace: Duration::from_secs(5),
            },
            2000, // half of it is 10 s at 100 B/s: a cap of 15 s
        )
    }

    #[test]
    fn credit_runs_only_while_bytes_wait_and_is_kept_between_waits() {
        let t = Instant::now();
        let mut c = credit();
        assert_eq!(c.deadline(), None);
        c.set_waiting(true, t);
        assert_eq!(c.deadline(), Some(t + Duration::from_secs(15)));
        c.set_waiting(false, t + Duration::from_secs(4));
        assert_eq!(c.deadline(), None);
        // An hour later, 11 s are left: idle time costs nothing.
        let t2 = t + Duration::from_secs(3600);
        c.set_waiting(true, t2);
        assert_eq!(c.deadline(), Some(t2 + Duration::from_secs(11)));
    }

    #[test]
    fn bytes_earn_credit_up_to_the_cap() {
        let t = Instant::now();
        let mut c = credit();
        c.set_waiting(true, t);
        let t1 = t + Duration::from_secs(10);
        c.earn(500, t1, 2000); // 5 s earned
        assert_eq!(c.deadline(), Some(t + Duration::from_secs(20)));
        c.earn(1_000_000, t1, 2000); // capped at 15 s from now
        assert_eq!(c.deadline(), Some(t1 + Duration::from_secs(15)));
    }

    #[test]
    fn a_client_just_below_the_rate_runs_out() {
        let mut t = Instant::now();
        let mut c = credit();
        c.set_waiting(true, t);
        // 90 B/s against 100: it loses 0.1 s a second, so 15 s of credit last 150 s.
        let mut secs = 0;
        while c.deadline().is_some_and(|d| d > t) {
            t += Duration::from_secs(1);
            c.earn(90, t, 2000);
            secs += 1;
            assert!(secs < 1000, "never ran out");
        }
        assert!((140..=160).contains(&secs), "ran out after {secs} s");
    }

    #[test]
    fn no_deadline_while_not_counting() {
        let mut m = meter();
        assert_eq!(m.deadline(), None);
        let t = Instant::now();
        m.set_counting(true, t);
        assert_eq!(m.deadline(), Some(t + Duration::from_secs(5)));
        m.set_counting(false, t + Duration::from_secs(2));
        assert_eq!(m.deadline(), None);
        // Resumed later: only 3 s of the window are left.
        let t2 = t + Duration::from_secs(60);
        m.set_counting(true, t2);
        assert_eq!(m.deadline(), Some(t2 + Duration::from_secs(3)));
    }

    #[test]
    fn a_window_at_the_rate_passes_and_below_it_fails() {
        let t = Instant::now();
        let mut m = meter();
        m.set_counting(true, t);
        m.add(500); // exactly 100 B/s over 5 s
        assert!(m.window_ok(t + Duration::from_secs(5)));
        assert_eq!(m.deadline(), Some(t + Duration::from_secs(10)));
        m.add(499);
        assert!(!m.window_ok(t + Duration::from_secs(10)));
    }

    #[test]
    fn an_early_burst_does_not_cover_a_later_trickle() {
        let t = Instant::now();
        let mut m = meter();
        m.set_counting(true, t);
        m.add(1_000_000);
        assert!(m.window_ok(t + Duration::from_secs(5)));
        m.add(10);
        assert!(!m.window_ok(t + Duration::from_secs(10)));
    }
}

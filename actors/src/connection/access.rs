//! A request's access record and the connection's log spans.
//!
//! The line itself is [`crate::access_log`]'s: here a request captures what its line needs
//! when it starts ([`Record`], only when the log is on) and hands it to the worker's log
//! when it finishes. A request's `tracing` span (`req`, DEBUG) is made, and boxed, only when
//! debug spans are on.

use std::net::SocketAddr;

use crate::access_log::{Record, WorkerLog};

/// What a request carries for logging: its access record (when the access log is on) and
/// its span (when debug spans are on).
pub(super) struct RequestLog {
    rec: Option<Record>,
    span: Option<Box<tracing::Span>>,
}

/// Where log events go when the connection has no span of its own.
static NO_SPAN: tracing::Span = tracing::Span::none();

/// The connection's span, or none.
pub(super) fn span_of(span: &Option<Box<tracing::Span>>) -> &tracing::Span {
    span.as_deref().unwrap_or(&NO_SPAN)
}

/// The span for a request's log lines: its own when it has one, else the connection's.
pub(super) fn req_span<'a>(log: &'a RequestLog, conn: &'a tracing::Span) -> &'a tracing::Span {
    log.span.as_deref().unwrap_or(conn)
}

impl RequestLog {
    /// The log state of a new request: a record if `access` (the worker's log) is on.
    pub(super) fn begin(
        access: Option<&WorkerLog>,
        seq: u64,
        head: &weir::h1::RequestHead,
        conn: &tracing::Span,
    ) -> RequestLog {
        let rec = access.map(|a| {
            Record::new(
                a.format(),
                &head.method,
                head.version,
                &head.target,
                &head.headers,
            )
        });
        let span = tracing::debug_span!(parent: conn, "req", seq, method = %head.method, target = %head.target);
        RequestLog {
            rec,
            span: (!span.is_disabled()).then(|| Box::new(span)),
        }
    }

    /// The response head was encoded: its status and length (counted in the bytes too).
    pub(super) fn head(&mut self, status: u16, head_bytes: usize) {
        if let Some(r) = &mut self.rec {
            r.status = status;
            r.head_bytes = head_bytes as u64;
            r.bytes += head_bytes as u64;
        }
    }

    /// An error response replaced the app's: its status.
    pub(super) fn status(&mut self, status: u16) {
        if let Some(r) = &mut self.rec {
            r.status = status;
        }
    }

    /// More response bytes went into the write buffer.
    pub(super) fn wrote(&mut self, bytes: usize) {
        if let Some(r) = &mut self.rec {
            r.bytes += bytes as u64;
        }
    }

    /// The request is over: write its access line.
    pub(super) fn finish(&self, access: Option<&WorkerLog>, peer: SocketAddr) {
        if let (Some(a), Some(r)) = (access, &self.rec) {
            a.log(r, peer);
        }
    }
}

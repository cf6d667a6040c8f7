//! The access log and the connection's log spans.
//!
//! One line per request (target `weir::access`, level INFO) with the peer, method, target,
//! status, response bytes and duration. What it needs is boxed and made only when the access
//! log is on, so a waiting request does not carry it otherwise.

use actix_rt::time::Instant;
use http::Method;
use tracing::Level;

use weir::rt::ConnInfo;

/// A request's access-log record, when the access log is on.
pub(super) type RequestLog = Option<Box<Access>>;

/// Where log events go when the connection has no span of its own.
static NO_SPAN: tracing::Span = tracing::Span::none();

/// The connection's span, or none.
pub(super) fn span_of(span: &Option<Box<tracing::Span>>) -> &tracing::Span {
    span.as_deref().unwrap_or(&NO_SPAN)
}

/// The span for a request's log lines: its own when it has one, else the connection's.
pub(super) fn req_span<'a>(log: &'a RequestLog, conn: &'a tracing::Span) -> &'a tracing::Span {
    log.as_ref().map_or(conn, |l| &l.span)
}

/// What the access line needs about one request.
pub(super) struct Access {
    start: Instant,
    method: Method,
    target: String,
    /// The response status, once the head is encoded.
    pub(super) status: u16,
    /// Response bytes written (head, framing and body).
    pub(super) bytes: u64,
    /// The request's span, a child of the connection's.
    pub(super) span: tracing::Span,
}

impl Access {
    /// The access record for a new request, if the access log is on (the config says so and
    /// the `weir::access` target is enabled at INFO).
    pub(super) fn begin(
        enabled: bool,
        seq: u64,
        head: &weir::h1::RequestHead,
        conn: &tracing::Span,
    ) -> RequestLog {
        (enabled && tracing::enabled!(target: "weir::access", Level::INFO)).then(|| {
            Box::new(Access {
                start: Instant::now(),
                method: head.method.clone(),
                target: head.target.clone(),
                status: 0,
                bytes: 0,
                span: tracing::debug_span!(parent: conn, "req", seq, method = %head.method, target = %head.target),
            })
        })
    }

    /// Log the access line.
    pub(super) fn log(&self, conn: &ConnInfo) {
        tracing::info!(
            target: "weir::access",
            parent: &self.span,
            peer = %conn.peer_addr(),
            method = %self.method,
            target = %self.target,
            status = self.status,
            bytes = self.bytes,
            micros = self.start.elapsed().as_micros() as u64,
        );
    }
}

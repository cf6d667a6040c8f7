//! The one public error type apps see.
//!
//! Opaque on purpose (as in hyper): callers ask questions with `is_*()` predicates and get the
//! HTTP status the error maps to with [`Error::status`], so new causes can be added without
//! breaking anyone's `match`.

use std::fmt;

use http::{HeaderMap, StatusCode};

use crate::h1::ParseError;

/// An error from the gateway interface: a broken request body, a client that went away, an
/// interface rule the app broke, or the app's own failure.
pub struct Error {
    kind: Kind,
}

enum Kind {
    /// The request could not be framed (bad chunk size, body over the limit, ...).
    Parse(ParseError),
    /// The client went away (or the connection was torn down) before the exchange finished.
    Disconnected,
    /// The request body did not arrive in time.
    BodyTimeout,
    /// `next()` was called twice without a value yielded in between (one-per-yield rule).
    ReadWithoutYield,
    /// Body bytes were sent before `start()`.
    NotStarted,
    /// `start()` was called twice; use `restart()` to replace the head.
    AlreadyStarted,
    /// `restart()` came after body bytes were sent: the head is on the wire already.
    HeadersSent,
    /// A header name or value given to `start()` is not valid HTTP.
    InvalidHeader,
    /// The app panicked.
    Panic(String),
    /// The blocking pool and its queue are full.
    Overloaded,
    /// The app's own error.
    App(Box<dyn std::error::Error + Send + Sync>),
    /// An error the app chose to answer with a specific status.
    Status(StatusCode, String),
    /// Like `Status`, with header fields the answer must carry (a 426's
    /// `Sec-WebSocket-Version`, a 405's `Allow`). Boxed: rare, and `Error` stays small.
    StatusWithHeaders(StatusCode, String, Box<HeaderMap>),
}

impl Error {
    fn new(kind: Kind) -> Error {
        Error { kind }
    }

    /// The client has gone away.
    pub fn disconnected() -> Error {
        Error::new(Kind::Disconnected)
    }

    /// The request body stalled past the body-read timeout.
    pub fn body_timeout() -> Error {
        Error::new(Kind::BodyTimeout)
    }

    pub(crate) fn read_without_yield() -> Error {
        Error::new(Kind::ReadWithoutYield)
    }

    pub(crate) fn not_started() -> Error {
        Error::new(Kind::NotStarted)
    }

    pub(crate) fn already_started() -> Error {
        Error::new(Kind::AlreadyStarted)
    }

    pub(crate) fn headers_sent() -> Error {
        Error::new(Kind::HeadersSent)
    }

    pub(crate) fn invalid_header() -> Error {
        Error::new(Kind::InvalidHeader)
    }

    /// An app panic, caught by the runtime; `msg` is the panic payload when it was a string.
    pub fn panic(msg: String) -> Error {
        Error::new(Kind::Panic(msg))
    }

    /// An app panic, from the payload `catch_unwind` returned.
    pub fn from_panic(payload: &(dyn std::any::Any + Send)) -> Error {
        Error::panic(panic_message(payload))
    }

    /// The blocking pool and its queue are full: 503, with `Retry-After`.
    pub fn overloaded() -> Error {
        Error::new(Kind::Overloaded)
    }

    /// The blocking pool was full (503).
    pub fn is_overloaded(&self) -> bool {
        matches!(self.kind, Kind::Overloaded)
    }

    /// Wrap any error of the app's; it answers 500 if no response was started.
    pub fn other<E>(err: E) -> Error
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        Error::new(Kind::App(err.into()))
    }

    /// An error that answers with `status` and `msg` as a plain-text body (if no response was
    /// started yet).
    pub fn with_status(status: StatusCode, msg: impl Into<String>) -> Error {
        Error::new(Kind::Status(status, msg.into()))
    }

    /// Like [`Error::with_status`], and the error response carries `headers` too (the
    /// server's own framing fields still win).
    pub fn with_status_and_headers(
        status: StatusCode,
        msg: impl Into<String>,
        headers: HeaderMap,
    ) -> Error {
        Error::new(Kind::StatusWithHeaders(
            status,
            msg.into(),
            Box::new(headers),
        ))
    }

    /// Header fields the error response must carry, if any.
    pub fn headers(&self) -> Option<&HeaderMap> {
        match &self.kind {
            Kind::StatusWithHeaders(_, _, h) => Some(h),
            _ => None,
        }
    }

    /// The HTTP status this error maps to when it ends an exchange before a response started.
    pub fn status(&self) -> StatusCode {
        match &self.kind {
            Kind::Parse(e) => e.status(),
            Kind::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Kind::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Kind::Status(s, _) | Kind::StatusWithHeaders(s, _, _) => *s,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The request body's framing was broken or over a limit; see [`Error::parse_error`].
    pub fn is_parse(&self) -> bool {
        matches!(self.kind, Kind::Parse(_))
    }

    /// The framing error behind this error, if it is one.
    pub fn parse_error(&self) -> Option<ParseError> {
        match self.kind {
            Kind::Parse(e) => Some(e),
            _ => None,
        }
    }

    /// The client went away (a send or a read can no longer succeed).
    pub fn is_disconnected(&self) -> bool {
        matches!(self.kind, Kind::Disconnected)
    }

    /// The request body stalled past the body-read timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, Kind::BodyTimeout)
    }

    /// The app asked for a second body chunk without yielding a value in between.
    pub fn is_read_without_yield(&self) -> bool {
        matches!(self.kind, Kind::ReadWithoutYield)
    }

    /// The app broke an interface rule (read without yield, body before `start`, `start`
    /// twice, `restart` after body bytes, an invalid header).
    pub fn is_misuse(&self) -> bool {
        matches!(
            self.kind,
            Kind::ReadWithoutYield
                | Kind::NotStarted
                | Kind::AlreadyStarted
                | Kind::HeadersSent
                | Kind::InvalidHeader
        )
    }

    /// The app panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.kind, Kind::Panic(_))
    }

    /// The text an error response may show the client. Framing errors and explicit statuses
    /// describe the client's own request; an app's internal error is not leaked.
    pub fn public_message(&self) -> String {
        match &self.kind {
            Kind::Parse(e) => e.reason().to_owned(),
            Kind::Status(_, msg) | Kind::StatusWithHeaders(_, msg, _) => msg.clone(),
            Kind::BodyTimeout => "request body timed out".to_owned(),
            Kind::Overloaded => "server busy, retry later".to_owned(),
            _ => self
                .status()
                .canonical_reason()
                .unwrap_or("error")
                .to_owned(),
        }
    }
}

/// The message of a panic payload, when it is a string.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

impl From<ParseError> for Error {
    fn from(e: ParseError) -> Error {
        Error::new(Kind::Parse(e))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::other(e)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "weir::Error({self})")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Parse(e) => write!(f, "bad request body: {e}"),
            Kind::Disconnected => f.write_str("client disconnected"),
            Kind::BodyTimeout => f.write_str("request body timed out"),
            Kind::ReadWithoutYield => f.write_str(
                "input asked for a second chunk without a value yielded in between \
                 (at most one read per yield)",
            ),
            Kind::NotStarted => f.write_str("body sent before start()"),
            Kind::AlreadyStarted => f.write_str("start() called twice; use restart()"),
            Kind::HeadersSent => f.write_str("restart() after body bytes were sent"),
            Kind::InvalidHeader => f.write_str("invalid response header name or value"),
            Kind::Panic(msg) => write!(f, "app panicked: {msg}"),
            Kind::Overloaded => f.write_str("blocking pool full"),
            Kind::App(e) => write!(f, "app error: {e}"),
            Kind::Status(s, msg) | Kind::StatusWithHeaders(s, msg, _) => write!(f, "{s}: {msg}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::App(e) => Some(&**e),
            _ => None,
        }
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

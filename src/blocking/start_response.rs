//! `start_response` for blocking components.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use crate::error::Result;
use crate::exchange::Outcome;
use crate::response::{HeadState, IntoHeaders, Part};
use crate::rt::transport::BlockingTransport;

/// `start_response` for blocking components, and the legacy `write()` callable. The head
/// rules are the async [`Exchange`](crate::Exchange)'s: `start` once, `restart` until the
/// first body bytes, body only after `start`.
pub struct StartResponse {
    transport: Arc<dyn BlockingTransport>,
    head: HeadState,
}

impl std::fmt::Debug for StartResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartResponse")
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

impl StartResponse {
    /// Continue a response whose head is where `head` says (fresh, or carried over the
    /// sync switch).
    pub(crate) fn new(transport: Arc<dyn BlockingTransport>, head: HeadState) -> StartResponse {
        StartResponse { transport, head }
    }

    /// Start the response. Headers go out with the first body bytes, so until then
    /// [`restart`](Self::restart) may replace them. Calling `start` twice is an error.
    pub fn start(&mut self, status: StatusCode, headers: impl IntoHeaders) -> Result<()> {
        self.head.start(status, headers)
    }

    /// `start_response` with `exc_info`: replace the head if no body bytes were sent, else
    /// fail (the error an app re-raises in PEP 3333).
    pub fn restart(&mut self, status: StatusCode, headers: impl IntoHeaders) -> Result<()> {
        self.head.restart(status, headers)
    }

    /// The status given to `start`, if any.
    pub fn status(&self) -> Option<StatusCode> {
        self.head.status()
    }

    /// The pending headers, for middleware to adjust before they are sent.
    pub fn headers_mut(&mut self) -> Option<&mut HeaderMap> {
        self.head.pending_headers_mut()
    }

    /// Whether the head has gone out.
    pub fn is_committed(&self) -> bool {
        self.head.is_committed()
    }

    /// The legacy `write()` callable: send body bytes now (blocking until the connection has
    /// taken them). Empty writes are ignored.
    pub fn write(&mut self, data: impl Into<Bytes>) -> Result<()> {
        let body = data.into();
        if body.is_empty() {
            return Ok(());
        }
        let head = self.head.commit()?;
        self.transport.send(Part {
            head,
            body,
            end: false,
        })
    }

    /// End the response with a last piece of body.
    pub fn end(&mut self, data: impl Into<Bytes>) -> Result<Outcome> {
        let head = self.head.end()?;
        self.transport.send(Part {
            head,
            body: data.into(),
            end: true,
        })?;
        Ok(Outcome::done())
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;
    use crate::rt::testing::{sent, Script};

    fn start_response(script: &Script) -> StartResponse {
        StartResponse::new(script.blocking(), HeadState::Idle)
    }

    #[test]
    fn write_sends_the_head_with_the_first_bytes_only() {
        let script = Script::new();
        let mut sr = start_response(&script);
        sr.start(StatusCode::OK, [("x-a", "1")]).unwrap();
        assert_eq!(sr.status(), Some(StatusCode::OK));
        sr.write("").unwrap();
        assert!(!sr.is_committed(), "an empty write sends nothing");
        sr.write("a").unwrap();
        sr.write("b").unwrap();
        let _ = sr.end("c").unwrap();
        assert_eq!(
            script.sent(),
            [
                sent(Some(200), "a", false),
                sent(None, "b", false),
                sent(None, "c", true)
            ]
        );
    }

    #[test]
    fn restart_before_the_first_write_replaces_the_head() {
        let script = Script::new();
        let mut sr = start_response(&script);
        sr.start(StatusCode::OK, HeaderMap::new()).unwrap();
        sr.restart(StatusCode::INTERNAL_SERVER_ERROR, HeaderMap::new())
            .unwrap();
        sr.headers_mut()
            .unwrap()
            .insert("x-m", HeaderValue::from_static("1"));
        let _ = sr.end("oops").unwrap();
        assert_eq!(script.sent(), [sent(Some(500), "oops", true)]);
    }

    #[test]
    fn restart_after_a_write_is_refused() {
        let script = Script::new();
        let mut sr = start_response(&script);
        sr.start(StatusCode::OK, HeaderMap::new()).unwrap();
        sr.write("a").unwrap();
        let e = sr.restart(StatusCode::OK, HeaderMap::new()).unwrap_err();
        assert!(e.to_string().contains("after body bytes"), "{e}");
        assert!(sr.headers_mut().is_none());
        assert_eq!(sr.status(), None);
    }

    #[test]
    fn start_twice_and_body_before_start_are_refused() {
        let script = Script::new();
        let mut sr = start_response(&script);
        assert!(sr
            .write("a")
            .unwrap_err()
            .to_string()
            .contains("before start()"));
        assert!(sr
            .end("a")
            .unwrap_err()
            .to_string()
            .contains("before start()"));
        sr.start(StatusCode::OK, HeaderMap::new()).unwrap();
        assert!(sr
            .start(StatusCode::OK, HeaderMap::new())
            .unwrap_err()
            .is_misuse());
        assert!(script.sent().is_empty());
    }

    #[test]
    fn nothing_goes_out_after_end() {
        let script = Script::new();
        let mut sr = start_response(&script);
        sr.start(StatusCode::OK, HeaderMap::new()).unwrap();
        let _ = sr.end("").unwrap();
        assert!(sr.is_committed());
        assert!(sr.write("late").is_err());
        assert!(sr.end("late").is_err());
        assert!(sr.restart(StatusCode::OK, HeaderMap::new()).is_err());
        assert_eq!(script.sent(), [sent(Some(200), "", true)]);
    }
}

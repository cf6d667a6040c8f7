//! The response side shared by async and blocking apps: the head an app starts, the parts a
//! runtime receives, and the one state machine for `start_response`.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, StatusCode};

use crate::error::{Error, Result};

/// A response's status line and headers, as given to `start`.
#[derive(Clone, Debug)]
pub struct ResponseHead {
    /// The status code.
    pub status: StatusCode,
    /// The app's headers. The server adds `date`, `server` and framing headers.
    pub headers: HeaderMap,
}

/// One step of the response, as the runtime receives it.
#[derive(Debug)]
pub struct Part {
    /// The head, present on the first part only (when the response is committed). Boxed:
    /// it is built once per response and moved through several hands.
    pub head: Option<Box<ResponseHead>>,
    /// Body bytes (may be empty on the last part).
    pub body: Bytes,
    /// Whether this is the end of the response.
    pub end: bool,
}

/// Things `start` accepts as headers: a `HeaderMap`, or name/value string pairs.
pub trait IntoHeaders {
    /// Convert, validating names and values.
    fn into_headers(self) -> Result<HeaderMap>;
}

impl IntoHeaders for HeaderMap {
    fn into_headers(self) -> Result<HeaderMap> {
        Ok(self)
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> IntoHeaders for [(K, V); N] {
    fn into_headers(self) -> Result<HeaderMap> {
        pairs_to_map(self)
    }
}

impl<K: AsRef<str>, V: AsRef<str>> IntoHeaders for Vec<(K, V)> {
    fn into_headers(self) -> Result<HeaderMap> {
        pairs_to_map(self)
    }
}

fn pairs_to_map<K: AsRef<str>, V: AsRef<str>>(
    pairs: impl IntoIterator<Item = (K, V)>,
) -> Result<HeaderMap> {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        let name =
            HeaderName::from_bytes(k.as_ref().as_bytes()).map_err(|_| Error::invalid_header())?;
        let value = HeaderValue::from_str(v.as_ref()).map_err(|_| Error::invalid_header())?;
        map.append(name, value);
    }
    Ok(map)
}

/// Where a response's head stands: the `start_response` rules, written once for the async
/// [`Exchange`](crate::Exchange) and the blocking
/// [`StartResponse`](crate::blocking::StartResponse), and carried across the sync switch.
///
/// The head goes out with the first body bytes, so until then it may be replaced; after
/// that it is fixed.
#[derive(Debug, Default)]
pub(crate) enum HeadState {
    /// `start` not called yet.
    #[default]
    Idle,
    /// Started, not yet on the wire: `restart` may still replace it. Boxed so a request
    /// that waits before starting (a long-poll) carries one pointer, not a header map.
    Pending(Box<ResponseHead>),
    /// Sent with the first body bytes (or an early `send_head`): fixed.
    Committed,
    /// The last part went out; nothing more may be sent.
    Ended,
}

impl HeadState {
    /// `start_response`: a second call is an error (replacing the head is `restart`'s job,
    /// so an app cannot replace it by accident).
    pub(crate) fn start(&mut self, status: StatusCode, headers: impl IntoHeaders) -> Result<()> {
        if !matches!(self, HeadState::Idle) {
            return Err(Error::already_started());
        }
        *self = HeadState::Pending(Box::new(ResponseHead {
            status,
            headers: headers.into_headers()?,
        }));
        Ok(())
    }

    /// `start_response` with `exc_info`: replace the head while it is still off the wire.
    pub(crate) fn restart(&mut self, status: StatusCode, headers: impl IntoHeaders) -> Result<()> {
        if self.is_committed() {
            return Err(Error::headers_sent());
        }
        *self = HeadState::Idle;
        self.start(status, headers)
    }

    /// Fix the head for a part that is about to be sent: the pending head for the first
    /// part, `None` for the ones after.
    pub(crate) fn commit(&mut self) -> Result<Option<Box<ResponseHead>>> {
        match self {
            HeadState::Idle => Err(Error::not_started()),
            HeadState::Ended => Err(Error::headers_sent()),
            HeadState::Committed => Ok(None),
            HeadState::Pending(_) => match std::mem::replace(self, HeadState::Committed) {
                HeadState::Pending(h) => Ok(Some(h)),
                _ => unreachable!("matched Pending above"),
            },
        }
    }

    /// [`commit`](Self::commit) for the last part: after it nothing more may be sent.
    pub(crate) fn end(&mut self) -> Result<Option<Box<ResponseHead>>> {
        let head = self.commit()?;
        *self = HeadState::Ended;
        Ok(head)
    }

    /// Whether the head has gone out (no more `restart`).
    pub(crate) fn is_committed(&self) -> bool {
        matches!(self, HeadState::Committed | HeadState::Ended)
    }

    /// The pending head's headers, for middleware to adjust before they are sent.
    pub(crate) fn pending_headers_mut(&mut self) -> Option<&mut HeaderMap> {
        match self {
            HeadState::Pending(h) => Some(&mut h.headers),
            _ => None,
        }
    }

    /// The pending head's status.
    pub(crate) fn status(&self) -> Option<StatusCode> {
        match self {
            HeadState::Pending(h) => Some(h.status),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started() -> HeadState {
        let mut h = HeadState::default();
        h.start(StatusCode::OK, [("x-a", "1")]).unwrap();
        h
    }

    #[test]
    fn start_twice_is_already_started() {
        let mut h = started();
        let e = h.start(StatusCode::OK, HeaderMap::new()).unwrap_err();
        assert!(e.is_misuse());
        assert!(e.to_string().contains("start() called twice"), "{e}");
        assert_eq!(h.status(), Some(StatusCode::OK), "the first head stays");
    }

    #[test]
    fn restart_before_commit_replaces_the_head() {
        let mut h = started();
        h.restart(StatusCode::INTERNAL_SERVER_ERROR, [("x-b", "2")])
            .unwrap();
        assert_eq!(h.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
        let headers = h.pending_headers_mut().unwrap();
        assert!(headers.get("x-a").is_none() && headers.get("x-b").is_some());
        let head = h.commit().unwrap().expect("first part carries the head");
        assert_eq!(head.status, StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn restart_without_start_starts() {
        let mut h = HeadState::default();
        h.restart(StatusCode::ACCEPTED, HeaderMap::new()).unwrap();
        assert_eq!(h.status(), Some(StatusCode::ACCEPTED));
    }

    #[test]
    fn restart_after_commit_is_headers_sent() {
        let mut h = started();
        h.commit().unwrap();
        let e = h.restart(StatusCode::OK, HeaderMap::new()).unwrap_err();
        assert!(e.is_misuse());
        assert!(e.to_string().contains("after body bytes"), "{e}");
        assert!(h.is_committed());
    }

    #[test]
    fn commit_hands_the_head_out_once() {
        let mut h = started();
        assert!(h.commit().unwrap().is_some());
        assert!(h.commit().unwrap().is_none());
        assert!(h.pending_headers_mut().is_none());
        assert_eq!(h.status(), None);
    }

    #[test]
    fn commit_or_end_without_start_is_not_started() {
        let mut h = HeadState::default();
        let e = h.commit().unwrap_err();
        assert!(e.to_string().contains("before start()"), "{e}");
        let e = h.end().unwrap_err();
        assert!(e.to_string().contains("before start()"), "{e}");
        assert!(!h.is_committed(), "a refused commit leaves the state alone");
        h.start(StatusCode::OK, HeaderMap::new()).unwrap();
    }

    #[test]
    fn nothing_after_end() {
        let mut h = started();
        assert!(h.end().unwrap().is_some());
        assert!(h.is_committed());
        assert!(h.commit().is_err());
        assert!(h.end().is_err());
        assert!(h.restart(StatusCode::OK, HeaderMap::new()).is_err());
    }

    #[test]
    fn invalid_header_is_refused_and_leaves_idle() {
        let mut h = HeadState::default();
        let e = h.start(StatusCode::OK, [("bad name", "v")]).unwrap_err();
        assert!(e.is_misuse());
        h.start(StatusCode::OK, HeaderMap::new()).unwrap();
    }

    #[test]
    fn head_state_is_a_tag_and_a_pointer() {
        // The tag needs its own word; what matters is that the head itself is boxed.
        assert_eq!(
            std::mem::size_of::<HeadState>(),
            2 * std::mem::size_of::<usize>()
        );
    }
}

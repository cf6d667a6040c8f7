//! The sync switch: an async-aware app's request continued on a pool thread.

use std::sync::Arc;

use bytes::Bytes;

use crate::blocking::{Input, StartResponse};
use crate::error::Result;
use crate::exchange::Outcome;
use crate::request::Request;
use crate::response::HeadState;
use crate::rt::transport::{BlockingTransport, Transport};
use crate::signal::CloseSignal;

/// The blocking half of an exchange after the sync switch: environ, blocking input, and
/// `start_response`, on a pool thread.
#[derive(Debug)]
pub struct SyncExchange {
    /// The request (environ).
    pub request: Request,
    /// The rest of the request body.
    pub input: Input,
    /// The response.
    pub response: StartResponse,
    signal: CloseSignal,
}

impl SyncExchange {
    /// The close signal (client gone / shutting down), for long blocking work to poll.
    pub fn close_signal(&self) -> &CloseSignal {
        &self.signal
    }

    /// Convenience: `response.end(data)`.
    pub fn end(mut self, data: impl Into<Bytes>) -> Result<Outcome> {
        self.response.end(data)
    }
}

/// The continuation of a switched request.
type Continuation = Box<dyn FnOnce(SyncExchange) -> Result<Outcome> + Send>;

/// A pending sync switch, carried out of the async app in its [`Outcome`] (take it with
/// [`rt::take_switch`](crate::rt::take_switch)). The runtime turns it into a [`SyncJob`] on
/// the app's thread and runs that on a pool thread.
pub struct Switch {
    pub(crate) request: Request,
    pub(crate) input_done: bool,
    /// The response head as the async side left it: a pending head is still replaceable, a
    /// committed one is not sent again.
    pub(crate) head: HeadState,
    pub(crate) signal: CloseSignal,
    pub(crate) transport: Box<dyn Transport>,
    pub(crate) cont: Continuation,
}

impl std::fmt::Debug for Switch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Switch")
            .field("request", &self.request)
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

impl Switch {
    /// Trade the async transport for its blocking continuation; the result can move to a
    /// pool thread.
    pub fn into_job(self) -> SyncJob {
        let transport: Arc<dyn BlockingTransport> = self.transport.into_blocking();
        SyncJob {
            sx: SyncExchange {
                request: self.request,
                input: Input::new(transport.clone(), self.input_done),
                response: StartResponse::new(transport, self.head),
                signal: self.signal,
            },
            cont: self.cont,
        }
    }
}

/// A switched request ready to run on a pool thread.
pub struct SyncJob {
    sx: SyncExchange,
    cont: Continuation,
}

impl std::fmt::Debug for SyncJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncJob")
            .field("sx", &self.sx)
            .finish_non_exhaustive()
    }
}

impl SyncJob {
    /// Run the continuation on this thread (blocking).
    pub fn run(self) -> Result<Outcome> {
        (self.cont)(self.sx)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::pin::pin;

    use futures::executor::block_on;
    use http::{HeaderMap, StatusCode};

    use crate::rt::testing::{poll_once, Script, Sent};
    use crate::rt::{take_switch, SyncJob};
    use crate::{Exchange, Outcome};

    const POST: &str = "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 6";

    fn job(outcome: Outcome) -> SyncJob {
        take_switch(outcome).expect("a switch").into_job()
    }

    fn switch_reading_rest(ex: Exchange) -> Outcome {
        ex.switch_to_sync(|mut sx| {
            let mut rest = String::new();
            sx.input.read_to_string(&mut rest)?;
            if sx.response.status().is_none() && !sx.response.is_committed() {
                sx.response.start(StatusCode::OK, HeaderMap::new())?;
            }
            sx.end(rest)
        })
    }

    fn bodies(sent: &[Sent]) -> Vec<&[u8]> {
        sent.iter().map(|s| &s.body[..]).collect()
    }

    #[test]
    fn a_pending_head_carries_over_and_stays_replaceable() {
        let script = Script::new();
        let mut ex = script.exchange(POST);
        ex.start(StatusCode::OK, [("x-async", "1")]).unwrap();
        let outcome = ex.switch_to_sync(|mut sx| {
            assert_eq!(sx.response.status(), Some(StatusCode::OK));
            assert!(sx.response.headers_mut().unwrap().contains_key("x-async"));
            sx.response.restart(StatusCode::CREATED, HeaderMap::new())?;
            sx.end("sync")
        });
        let _ = job(outcome).run().unwrap();
        let sent = script.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].status, Some(StatusCode::CREATED));
        assert!(sent[0].end);
    }

    #[test]
    fn a_committed_head_carries_over_and_is_not_sent_again() {
        let script = Script::new();
        let mut ex = script.exchange(POST);
        ex.start(StatusCode::OK, HeaderMap::new()).unwrap();
        block_on(ex.send("async ")).unwrap();
        let outcome = ex.switch_to_sync(|mut sx| {
            assert!(sx.response.is_committed());
            assert!(sx
                .response
                .restart(StatusCode::OK, HeaderMap::new())
                .is_err());
            sx.response.write("sync ")?;
            sx.end("end")
        });
        let _ = job(outcome).run().unwrap();
        let sent = script.sent();
        let statuses: Vec<_> = sent.iter().map(|s| s.status).collect();
        assert_eq!(statuses, [Some(StatusCode::OK), None, None]);
        assert_eq!(bodies(&sent), [&b"async "[..], b"sync ", b"end"]);
    }

    #[test]
    fn no_head_carries_over_as_not_started() {
        let script = Script::new();
        script.eof();
        let ex = script.exchange(POST);
        let outcome = ex.switch_to_sync(|mut sx| {
            assert!(sx.response.write("x").is_err(), "still needs start");
            sx.response.start(StatusCode::ACCEPTED, HeaderMap::new())?;
            sx.end("")
        });
        let _ = job(outcome).run().unwrap();
        assert_eq!(script.sent()[0].status, Some(StatusCode::ACCEPTED));
    }

    #[test]
    fn the_input_starts_at_the_first_byte_not_handed_out() {
        let script = Script::new();
        script.chunk("abc").chunk("def").eof();
        let mut ex = script.exchange(POST);
        assert_eq!(block_on(ex.next()).unwrap().unwrap(), "abc");
        let _ = job(switch_reading_rest(ex)).run().unwrap();
        assert_eq!(bodies(&script.sent()), [&b"def"[..]]);
    }

    #[test]
    fn a_read_in_flight_is_answered_to_the_blocking_input() {
        let script = Script::new();
        let mut ex = script.exchange(POST);
        {
            let fut = pin!(ex.next());
            assert!(
                poll_once(fut).is_pending(),
                "the chunk request is in flight"
            );
        }
        let job = job(switch_reading_rest(ex));
        script.chunk("abcdef").eof();
        let _ = job.run().unwrap();
        assert_eq!(bodies(&script.sent()), [&b"abcdef"[..]]);
        assert_eq!(
            script.reads(),
            2,
            "the in-flight request, then the end: no request lost or doubled"
        );
    }

    #[test]
    fn an_input_finished_async_is_finished_after_the_switch() {
        let script = Script::new();
        script.chunk("abcdef").eof();
        let mut ex = script.exchange(POST);
        assert_eq!(block_on(ex.read_to_end(6)).unwrap(), "abcdef");
        let reads = script.reads();
        let _ = job(switch_reading_rest(ex)).run().unwrap();
        assert_eq!(bodies(&script.sent()), [&b""[..]]);
        assert_eq!(script.reads(), reads, "the blocking input never asked");
    }

    #[test]
    fn the_close_signal_carries_over() {
        let script = Script::new();
        let ex = script.exchange(POST);
        let signal = ex.close_signal();
        let outcome = ex.switch_to_sync(|sx| {
            assert_eq!(
                sx.close_signal().reason(),
                Some(crate::CloseReason::Shutdown)
            );
            Err(crate::Error::other("stop"))
        });
        let job = job(outcome);
        signal.close(crate::CloseReason::Shutdown);
        assert!(job.run().is_err());
    }
}

//! The sync switch: an async-aware app's request continued on a pool thread.

use std::sync::Arc;

use bytes::Bytes;

use crate::blocking::{Input, StartResponse};
use crate::error::Result;
use crate::exchange::Outcome;
use crate::request::Request;
use crate::response::HeadState;
use crate::rt::{BlockingTransport, Transport};
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

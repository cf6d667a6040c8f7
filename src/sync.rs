//! The blocking side: PEP 3333-style apps, the sync switch's continuation, and the bridge
//! that lets a plain blocking app sit under an async-aware stack.
//!
//! A blocking component gets the environ ([`Request`]), a blocking [`Input`]
//! (`std::io::Read` + `BufRead`, fed by messages: each refill asks the connection for the
//! next body chunk and blocks on the reply, so it never reads past the request's end and
//! never buffers the whole body) and a [`StartResponse`] (`start_response`, with `restart`
//! for `exc_info` and the legacy `write`). It runs on a thread of the server's blocking pool.
//!
//! Three ways in:
//! - a [`SyncApp`] (returns a [`Body`] iterator, as in PEP 3333), made servable by
//!   [`bridge`], which is the async-aware middleware the seed says a server MUST provide;
//! - the sync switch ([`Exchange::switch_to_sync`](crate::Exchange::switch_to_sync), the
//!   seed's `input_factory`): an async-aware app hands the rest of its request to a
//!   continuation that gets a [`SyncExchange`] whose input starts exactly where async input
//!   stopped;
//! - delegated blocking calls ([`Exchange::blocking`](crate::Exchange::blocking), the seed's
//!   `resume_with_result`).
//!
//! Blocking components receive no handle to the pool: only async-aware code (which holds an
//! `Exchange`) can reach the threading API, by construction.

use std::io::{self, BufRead, Read};
use std::sync::Arc;

use bytes::{Buf, Bytes};
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH};
use http::{HeaderMap, StatusCode};

use crate::app::{IntoHeaders, Outcome, Part, ResponseHead};
use crate::error::{Error, Result};
use crate::signal::CloseSignal;
use crate::{App, Exchange, Request};

/// The runtime's blocking transport: what [`Input`] and [`StartResponse`] call from a pool
/// thread. Each call is a message to the connection and a blocking wait for its answer.
pub trait BlockingTransport: Send + Sync {
    /// The next body chunk, `Ok(None)` at the end of the body. Blocks.
    fn read_chunk(&self) -> Result<Option<Bytes>>;

    /// Send a response part; blocks until the connection has taken it (backpressure: a
    /// slow client blocks this thread, not memory).
    fn send(&self, part: Part) -> Result<()>;
}

/// The blocking request body: `std::io::Read` and `BufRead` over the rest of the body.
/// Reads end with `Ok(0)` at the end of the body, whatever its framing.
pub struct Input {
    transport: Arc<dyn BlockingTransport>,
    chunk: Bytes,
    done: bool,
    /// Body bytes this input handed out.
    read: u64,
}

impl Input {
    fn new(transport: Arc<dyn BlockingTransport>, done: bool) -> Input {
        Input {
            transport,
            chunk: Bytes::new(),
            done,
            read: 0,
        }
    }

    /// Bytes handed out by this input so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// The next whole chunk as it arrived (after any buffered remainder), `None` at the end.
    pub fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        if !self.chunk.is_empty() {
            let c = std::mem::take(&mut self.chunk);
            self.read += c.len() as u64;
            return Ok(Some(c));
        }
        if self.done {
            return Ok(None);
        }
        match self.transport.read_chunk() {
            Ok(Some(c)) => {
                self.read += c.len() as u64;
                Ok(Some(c))
            }
            Ok(None) => {
                self.done = true;
                Ok(None)
            }
            Err(e) => {
                self.done = true;
                Err(e)
            }
        }
    }
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("buffered", &self.chunk.len())
            .field("done", &self.done)
            .finish()
    }
}

fn to_io(e: Error) -> io::Error {
    let kind = if e.is_disconnected() {
        io::ErrorKind::ConnectionAborted
    } else if e.is_timeout() {
        io::ErrorKind::TimedOut
    } else {
        io::ErrorKind::InvalidData
    };
    io::Error::new(kind, e)
}

impl BufRead for Input {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.chunk.is_empty() && !self.done {
            match self.transport.read_chunk() {
                Ok(Some(c)) => self.chunk = c,
                Ok(None) => self.done = true,
                Err(e) => {
                    self.done = true;
                    return Err(to_io(e));
                }
            }
        }
        Ok(&self.chunk)
    }

    fn consume(&mut self, amt: usize) {
        let amt = amt.min(self.chunk.len());
        self.chunk.advance(amt);
        self.read += amt as u64;
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// Where a blocking response stands.
#[derive(Debug)]
enum Head {
    None,
    Pending(Box<ResponseHead>),
    Committed,
    Ended,
}

/// `start_response` for blocking components, and the legacy `write()` callable.
pub struct StartResponse {
    transport: Arc<dyn BlockingTransport>,
    head: Head,
}

impl std::fmt::Debug for StartResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartResponse")
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

impl StartResponse {
    /// Start the response. Headers go out with the first body bytes, so until then
    /// [`restart`](Self::restart) may replace them. Calling `start` twice is an error.
    pub fn start(&mut self, status: StatusCode, headers: impl IntoHeaders) -> Result<()> {
        if !matches!(self.head, Head::None) {
            return Err(Error::already_started());
        }
        self.head = Head::Pending(Box::new(ResponseHead {
            status,
            headers: headers.into_headers()?,
        }));
        Ok(())
    }

    /// `start_response` with `exc_info`: replace the head if no body bytes were sent, else
    /// fail (the error an app re-raises in PEP 3333).
    pub fn restart(&mut self, status: StatusCode, headers: impl IntoHeaders) -> Result<()> {
        if matches!(self.head, Head::Committed | Head::Ended) {
            return Err(Error::headers_sent());
        }
        self.head = Head::None;
        self.start(status, headers)
    }

    /// The status given to `start`, if any.
    pub fn status(&self) -> Option<StatusCode> {
        match &self.head {
            Head::Pending(h) => Some(h.status),
            _ => None,
        }
    }

    /// The pending headers, for middleware to adjust before they are sent.
    pub fn headers_mut(&mut self) -> Option<&mut HeaderMap> {
        match &mut self.head {
            Head::Pending(h) => Some(&mut h.headers),
            _ => None,
        }
    }

    /// Whether the head has gone out.
    pub fn is_committed(&self) -> bool {
        matches!(self.head, Head::Committed | Head::Ended)
    }

    /// The legacy `write()` callable: send body bytes now (blocking until the connection has
    /// taken them). Empty writes are ignored.
    pub fn write(&mut self, data: impl Into<Bytes>) -> Result<()> {
        let body = data.into();
        if body.is_empty() {
            return Ok(());
        }
        let head = self.commit()?;
        self.transport.send(Part {
            head,
            body,
            end: false,
        })
    }

    /// End the response with a last piece of body.
    pub fn end(&mut self, data: impl Into<Bytes>) -> Result<Outcome> {
        let head = self.commit()?;
        self.head = Head::Ended;
        self.transport.send(Part {
            head,
            body: data.into(),
            end: true,
        })?;
        Ok(Outcome::done())
    }

    fn commit(&mut self) -> Result<Option<Box<ResponseHead>>> {
        match std::mem::replace(&mut self.head, Head::Committed) {
            Head::Pending(h) => Ok(Some(h)),
            Head::Committed => Ok(None),
            Head::None => {
                self.head = Head::None;
                Err(Error::not_started())
            }
            Head::Ended => {
                self.head = Head::Ended;
                Err(Error::headers_sent())
            }
        }
    }
}

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

/// A pending sync switch, carried out of the async app in its [`Outcome`]. The runtime
/// turns it into a [`SyncJob`] on the app's thread and runs that on a pool thread.
pub struct Switch {
    pub(crate) request: Request,
    pub(crate) input_done: bool,
    pub(crate) head: Option<Box<ResponseHead>>,
    pub(crate) committed: bool,
    pub(crate) signal: CloseSignal,
    pub(crate) transport: Option<Box<dyn crate::Transport>>,
    pub(crate) cont: Continuation,
}

impl std::fmt::Debug for Switch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Switch")
            .field("request", &self.request)
            .field("committed", &self.committed)
            .finish_non_exhaustive()
    }
}

impl Switch {
    /// Trade the async transport for its blocking continuation; the result can move to a
    /// pool thread.
    pub fn into_job(mut self) -> SyncJob {
        let transport = self
            .transport
            .take()
            .expect("a switch carries its transport")
            .into_blocking();
        let head = match (self.head, self.committed) {
            (_, true) => Head::Committed,
            (Some(h), false) => Head::Pending(h),
            (None, false) => Head::None,
        };
        SyncJob {
            sx: SyncExchange {
                request: self.request,
                input: Input::new(transport.clone(), self.input_done),
                response: StartResponse { transport, head },
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

/// A response body for a blocking app: an iterator of chunks, sent one by one.
pub struct Body(Box<dyn Iterator<Item = Result<Bytes>>>);

impl Body {
    /// No body.
    pub fn empty() -> Body {
        Body(Box::new(std::iter::empty()))
    }

    /// One chunk.
    pub fn once(data: impl Into<Bytes>) -> Body {
        Body(Box::new(std::iter::once(Ok(data.into()))))
    }

    /// Any iterator of chunks.
    pub fn chunks<I>(iter: I) -> Body
    where
        I: IntoIterator<Item = Result<Bytes>>,
        I::IntoIter: 'static,
    {
        Body(Box::new(iter.into_iter()))
    }
}

impl Iterator for Body {
    type Item = Result<Bytes>;

    fn next(&mut self) -> Option<Result<Bytes>> {
        self.0.next()
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Body(..)")
    }
}

/// A blocking, PEP 3333-style application: called on a pool thread with the environ, a
/// blocking input and `start_response`; returns the body as an iterator.
pub trait SyncApp: Send + Sync + 'static {
    /// Handle one request.
    fn call(&self, req: &mut Request, input: &mut Input, start: &mut StartResponse)
        -> Result<Body>;
}

impl<F> SyncApp for F
where
    F: Fn(&mut Request, &mut Input, &mut StartResponse) -> Result<Body> + Send + Sync + 'static,
{
    fn call(
        &self,
        req: &mut Request,
        input: &mut Input,
        start: &mut StartResponse,
    ) -> Result<Body> {
        self(req, input, start)
    }
}

/// Run a blocking app to completion in a switched exchange: call it, then send its body
/// chunk by chunk (each send blocks until the connection took it).
pub fn run_sync_app<S: SyncApp + ?Sized>(app: &S, mut sx: SyncExchange) -> Result<Outcome> {
    let body = app.call(&mut sx.request, &mut sx.input, &mut sx.response)?;
    for chunk in body {
        sx.response.write(chunk?)?;
    }
    sx.response.end(Bytes::new())
}

/// The bridge the seed requires: an async-aware app that switches at once and runs a plain
/// blocking app on the pool. Put async-aware middleware around it; sync middleware goes
/// inside (around the `SyncApp`).
pub fn bridge<S: SyncApp>(app: S) -> impl App {
    let app = Arc::new(app);
    move |ex: Exchange| {
        let app = Arc::clone(&app);
        async move { Ok(ex.switch_to_sync(move |sx| run_sync_app(&*app, sx))) }
    }
}

/// Sync middleware: adds a header to every response of the wrapped app (unless present).
pub fn add_header<S: SyncApp>(inner: S, name: &'static str, value: &'static str) -> impl SyncApp {
    let name = HeaderName::from_static(name);
    let value = HeaderValue::from_static(value);
    move |req: &mut Request, input: &mut Input, start: &mut StartResponse| {
        let body = inner.call(req, input, start)?;
        if let Some(h) = start.headers_mut() {
            h.entry(name.clone()).or_insert_with(|| value.clone());
        }
        Ok(body)
    }
}

/// Sync middleware: buffers the wrapped app's body to compute its `content-length` (for
/// apps whose bodies are small and whose clients want a length). Bounded by `max` bytes;
/// past it the response fails with 500 rather than buffer without bound.
pub fn content_length<S: SyncApp>(inner: S, max: usize) -> impl SyncApp {
    move |req: &mut Request, input: &mut Input, start: &mut StartResponse| {
        let body = inner.call(req, input, start)?;
        if start.is_committed() {
            // The app used write(): the head is out, nothing to compute.
            return Ok(body);
        }
        let mut all = bytes::BytesMut::new();
        for chunk in body {
            let chunk = chunk?;
            if all.len() + chunk.len() > max {
                return Err(Error::other(
                    "body over the content-length middleware's bound",
                ));
            }
            all.extend_from_slice(&chunk);
        }
        if let Some(h) = start.headers_mut() {
            h.insert(CONTENT_LENGTH, HeaderValue::from(all.len()));
        }
        Ok(Body::once(all.freeze()))
    }
}

//! The async-aware gateway interface: what an app is called with and how it answers.
//!
//! This is the seed's `wsgi.async_input` made Rust. An app is an `async fn(Exchange)`:
//!
//! - [`Exchange::request`] is the environ (method, target, headers, addresses, extensions);
//! - [`Exchange::next`] is the non-blocking input: one body chunk per call, **at most one call
//!   per value yielded** (the seed's rule; a second call without a yield in between is
//!   [`Error::is_read_without_yield`]), `Ok(None)` at the end of the body;
//! - [`Exchange::start`] / [`Exchange::restart`] are `start_response` (with `exc_info`);
//! - [`Exchange::send`] yields one value of response body (an empty one just gives control
//!   back) and returns once the connection has taken it, so a slow client slows the app rather
//!   than filling memory;
//! - [`Exchange::end`] yields the last value and finishes; it returns the [`Outcome`] the app
//!   returns;
//! - [`Exchange::closed`] resolves when the client goes away or the server is shutting down,
//!   on a signal separate from body reads.
//!
//! The runtime (crate `weir-actors`) supplies a [`Transport`] that turns each of these awaits
//! into a message to the connection actor; apps never see it.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures::future::{poll_fn, LocalBoxFuture};
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH};
use http::{HeaderMap, Method, StatusCode, Version};

use crate::error::{Error, Result};
use crate::h1::{BodyFraming, RequestHead};
use crate::signal::{CloseReason, CloseSignal};
use crate::sync::{BlockingTransport, Switch, SyncExchange};

/// The request an app is called with: the seed's `environ`.
pub struct Request {
    head: RequestHead,
    peer: SocketAddr,
    local: SocketAddr,
    extensions: http::Extensions,
}

impl Request {
    /// Build a request from a parsed head and the connection's addresses (used by runtimes).
    pub fn new(head: RequestHead, peer: SocketAddr, local: SocketAddr) -> Request {
        Request {
            head,
            peer,
            local,
            extensions: http::Extensions::new(),
        }
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        &self.head.method
    }

    /// The request-target exactly as sent.
    pub fn target(&self) -> &str {
        &self.head.target
    }

    /// The path part of the target (not percent-decoded).
    pub fn path(&self) -> &str {
        self.head.path()
    }

    /// The query part of the target, without the `?`.
    pub fn query(&self) -> Option<&str> {
        self.head.query()
    }

    /// The first value of query parameter `name` (split on `&` and `=`, not percent-decoded).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query()?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then_some(v)
        })
    }

    /// The protocol version (HTTP/1.0 or HTTP/1.1).
    pub fn version(&self) -> Version {
        self.head.version
    }

    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.head.headers
    }

    /// How the body is framed: empty, a Content-Length, or chunked.
    pub fn framing(&self) -> BodyFraming {
        self.head.framing
    }

    /// The client's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// The server's address this request arrived on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The URL scheme; weir serves plain TCP, so `"http"`.
    pub fn scheme(&self) -> &'static str {
        "http"
    }

    /// Server- and middleware-specific values, keyed by type.
    pub fn extensions(&self) -> &http::Extensions {
        &self.extensions
    }

    /// Mutable access to the extensions, for middleware that adds keys.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.extensions
    }

    /// Mutable access to the headers, for middleware that rewrites them.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.head.headers
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", self.method())
            .field("target", &self.target())
            .field("version", &self.version())
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

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

/// The runtime's half of an exchange: how body chunks arrive and response parts leave.
/// Implemented by `weir-actors` (messages to the connection actor) and by test doubles.
pub trait Transport {
    /// Ask for the next body chunk and poll for it. `Ok(None)` is the end of the body. Once
    /// called, keep polling the same request until it is ready (the exchange guarantees it).
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>>>;

    /// Hand a response part to the connection. Called only when the previous part was flushed.
    fn start_send(&mut self, part: Part) -> Result<()>;

    /// Ready once the connection has taken the last part (its write buffer is below the
    /// high-water mark), so the app may produce the next value.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>>;

    /// Run `job` on the blocking pool (for [`Exchange::blocking`]). Fails with a 503 error
    /// when the pool and its queue are full.
    fn spawn_blocking(&mut self, job: Box<dyn FnOnce() + Send>) -> Result<()>;

    /// The blocking transport that continues this exchange after the sync switch: its
    /// reads start exactly where this transport's stopped (including a chunk request still
    /// in flight).
    fn into_blocking(self: Box<Self>) -> Arc<dyn BlockingTransport>;
}

/// What an app returns: proof that it finished its response, or the sync switch. Only
/// [`Exchange::end`], [`Exchange::respond`] and [`Exchange::switch_to_sync`] (and their
/// blocking counterparts) make one, so an app cannot forget to end its response.
#[must_use = "return the outcome from the app"]
#[derive(Debug)]
pub struct Outcome {
    switch: Option<Box<Switch>>,
}

impl Outcome {
    pub(crate) fn done() -> Outcome {
        Outcome { switch: None }
    }

    /// The pending sync switch, if the app asked for one (for runtimes).
    pub fn into_switch(self) -> Option<Switch> {
        self.switch.map(|b| *b)
    }
}

/// Where the response stands.
#[derive(Debug)]
enum Head {
    /// `start` not called yet.
    None,
    /// Started, not yet on the wire: `restart` may still replace it. Boxed so a request
    /// that waits before starting (a long-poll) carries one pointer, not a header map.
    Pending(Box<ResponseHead>),
    /// Sent with the first body bytes (or the end): fixed.
    Committed,
}

/// One request/response exchange, handed to an async-aware app.
///
/// A single pointer: apps move it into the futures they build (`end`, `respond`, the
/// switch), and async state machines keep each moved copy, so a small handle keeps a
/// waiting Comet request's memory small.
pub struct Exchange(Box<ExchangeState>);

struct ExchangeState {
    req: Request,
    transport: Box<dyn Transport>,
    signal: CloseSignal,
    head: Head,
    /// The one-per-yield credit: a read spends it, a yielded value restores it.
    may_read: bool,
    /// A chunk request is outstanding at the transport (the `next()` future was dropped
    /// before it resolved); the next call resumes it without spending credit.
    read_pending: bool,
    input_done: bool,
}

impl fmt::Debug for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exchange")
            .field("req", &self.0.req)
            .field("head", &self.0.head)
            .finish_non_exhaustive()
    }
}

impl Exchange {
    /// Create an exchange (used by runtimes).
    pub fn new(req: Request, transport: Box<dyn Transport>, signal: CloseSignal) -> Exchange {
        let input_done = req.framing() == BodyFraming::Empty;
        Exchange(Box::new(ExchangeState {
            req,
            transport,
            signal,
            head: Head::None,
            may_read: true,
            read_pending: false,
            input_done,
        }))
    }

    /// The request (environ).
    pub fn request(&self) -> &Request {
        &self.0.req
    }

    /// Mutable request, for middleware.
    pub fn request_mut(&mut self) -> &mut Request {
        &mut self.0.req
    }

    /// The next body chunk, `Ok(None)` at the end of the body.
    ///
    /// At most one call per value yielded with [`send`](Self::send) (the first call needs no
    /// yield before it). The server reads from the socket only to answer this, so a slow app
    /// slows the client instead of buffering its upload. With `Expect: 100-continue`, the
    /// first call is what sends `100 Continue`.
    pub async fn next(&mut self) -> Result<Option<Bytes>> {
        if self.0.input_done {
            return Ok(None);
        }
        if !self.0.read_pending {
            if !self.0.may_read {
                return Err(Error::read_without_yield());
            }
            self.0.may_read = false;
            self.0.read_pending = true;
        }
        let res = poll_fn(|cx| self.0.transport.poll_chunk(cx)).await;
        self.0.read_pending = false;
        match res {
            Ok(None) => self.0.input_done = true,
            Err(_) => self.0.input_done = true,
            Ok(Some(_)) => {}
        }
        res
    }

    /// Whether the whole body has been handed out.
    pub fn input_done(&self) -> bool {
        self.0.input_done
    }

    /// Start the response (`start_response`). The head is sent with the first body bytes, so
    /// until then [`restart`](Self::restart) can replace it.
    pub fn start(&mut self, status: StatusCode, headers: impl IntoHeaders) -> Result<()> {
        if !matches!(self.0.head, Head::None) {
            return Err(Error::already_started());
        }
        self.0.head = Head::Pending(Box::new(ResponseHead {
            status,
            headers: headers.into_headers()?,
        }));
        Ok(())
    }

    /// Replace the response head (`start_response` with `exc_info`): allowed until the first
    /// body bytes are sent, an error after.
    pub fn restart(&mut self, status: StatusCode, headers: impl IntoHeaders) -> Result<()> {
        if matches!(self.0.head, Head::Committed) {
            return Err(Error::headers_sent());
        }
        self.0.head = Head::None;
        self.start(status, headers)
    }

    /// Whether the head has been sent (no more `restart`).
    pub fn is_committed(&self) -> bool {
        matches!(self.0.head, Head::Committed)
    }

    /// The pending head's headers, to adjust before it is sent (for middleware).
    pub fn pending_headers_mut(&mut self) -> Option<&mut HeaderMap> {
        match &mut self.0.head {
            Head::Pending(h) => Some(&mut h.headers),
            _ => None,
        }
    }

    /// Yield one value of the response body. An empty value only gives control back (and,
    /// like any yield, allows one more [`next`](Self::next)). Returns once the connection has
    /// taken the bytes; fails with [`Error::is_disconnected`] if the client has gone.
    pub async fn send(&mut self, data: impl Into<Bytes>) -> Result<()> {
        let data = data.into();
        self.0.may_read = true;
        if self.0.signal.is_client_gone() {
            return Err(Error::disconnected());
        }
        if data.is_empty() {
            yield_now().await;
            return Ok(());
        }
        let head = self.commit()?;
        self.0.transport.start_send(Part {
            head,
            body: data,
            end: false,
        })?;
        poll_fn(|cx| self.0.transport.poll_flush(cx)).await
    }

    /// Send the response head now, before any body bytes: a stream that may wait before its
    /// first value (a long-held Comet response) shows its status and headers at once. Like
    /// any yield it allows one more [`next`](Self::next). Does nothing once committed.
    pub async fn send_head(&mut self) -> Result<()> {
        self.0.may_read = true;
        if self.is_committed() {
            return Ok(());
        }
        if self.0.signal.is_client_gone() {
            return Err(Error::disconnected());
        }
        let head = self.commit()?;
        self.0.transport.start_send(Part {
            head,
            body: Bytes::new(),
            end: false,
        })?;
        poll_fn(|cx| self.0.transport.poll_flush(cx)).await
    }

    /// Yield the last value and finish the response.
    pub async fn end(mut self, data: impl Into<Bytes>) -> Result<Outcome> {
        let head = self.commit()?;
        self.0.transport.start_send(Part {
            head,
            body: data.into(),
            end: true,
        })?;
        poll_fn(|cx| self.0.transport.poll_flush(cx)).await?;
        Ok(Outcome::done())
    }

    /// A whole response in one step: `start`, a `content-length` (unless given), `end`.
    pub async fn respond(
        mut self,
        status: StatusCode,
        headers: impl IntoHeaders,
        body: impl Into<Bytes>,
    ) -> Result<Outcome> {
        let body = body.into();
        let mut headers = headers.into_headers()?;
        if !headers.contains_key(CONTENT_LENGTH) {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        self.restart(status, headers)?;
        self.end(body).await
    }

    /// Read the rest of the body into memory, yielding between reads as the rule asks.
    /// Fails with a 413 error past `max` bytes.
    pub async fn read_to_end(&mut self, max: usize) -> Result<Bytes> {
        let mut buf = BytesMut::new();
        while let Some(chunk) = self.next().await? {
            if buf.len() + chunk.len() > max {
                return Err(Error::with_status(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request body too large",
                ));
            }
            buf.extend_from_slice(&chunk);
            self.send(Bytes::new()).await?;
        }
        Ok(buf.freeze())
    }

    /// Read and discard the rest of the body; returns how many bytes it had.
    pub async fn discard_body(&mut self) -> Result<u64> {
        let mut n = 0;
        while let Some(chunk) = self.next().await? {
            n += chunk.len() as u64;
            self.send(Bytes::new()).await?;
        }
        Ok(n)
    }

    /// The sync switch (the seed's `input_factory`): hand the rest of this request to
    /// `cont`, which runs on a blocking-pool thread (not this one) with a [`SyncExchange`]
    /// whose [`Input`](crate::sync::Input) starts at exactly the first body byte
    /// [`next`](Self::next) has not handed out, and whose response carries on from here (a
    /// head already started or sent stays valid). Return the value it gives from the app:
    /// that is the "yield it as the next value" of the seed.
    pub fn switch_to_sync<F>(self, cont: F) -> Outcome
    where
        F: FnOnce(SyncExchange) -> Result<Outcome> + Send + 'static,
    {
        let (head, committed) = match self.0.head {
            Head::None => (None, false),
            Head::Pending(h) => (Some(h), false),
            Head::Committed => (None, true),
        };
        Outcome {
            switch: Some(Box::new(Switch {
                request: self.0.req,
                input_done: self.0.input_done,
                head,
                committed,
                signal: self.0.signal,
                transport: Some(self.0.transport),
                cont: Box::new(cont),
            })),
        }
    }

    /// Delegated blocking call (the seed's `resume_with_result`): run `f` on the blocking
    /// pool and resume with its result, without blocking this worker. A panic in `f` comes
    /// back as an error ([`Error::is_panic`]); a full pool as a 503 error.
    pub async fn blocking<T, F>(&mut self, f: F) -> Result<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = futures::channel::oneshot::channel();
        self.0.transport.spawn_blocking(Box::new(move || {
            let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(res);
        }))?;
        match rx.await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(payload)) => Err(Error::panic(crate::error::panic_message(&*payload))),
            Err(_) => Err(Error::other("the blocking pool dropped the job")),
        }
    }

    /// The close signal: resolves when the client goes away or the server shuts down.
    pub fn closed(&self) -> impl Future<Output = CloseReason> + '_ {
        self.0.signal.closed()
    }

    /// Await `fut`, unless the close signal comes first: `Err(reason)` then, and `fut` is
    /// dropped. The way to wait on something else (a hub, a timer) and still stop as soon
    /// as the client leaves.
    pub async fn or_closed<F: Future>(
        &self,
        fut: F,
    ) -> std::result::Result<F::Output, CloseReason> {
        let fut = std::pin::pin!(fut);
        let closed = std::pin::pin!(self.0.signal.closed());
        match futures::future::select(fut, closed).await {
            futures::future::Either::Left((out, _)) => Ok(out),
            futures::future::Either::Right((reason, _)) => Err(reason),
        }
    }

    /// A clone of the close signal, for tasks the app starts.
    pub fn close_signal(&self) -> CloseSignal {
        self.0.signal.clone()
    }

    /// Take the pending head for the first part; `None` once committed.
    fn commit(&mut self) -> Result<Option<Box<ResponseHead>>> {
        match std::mem::replace(&mut self.0.head, Head::Committed) {
            Head::Pending(h) => Ok(Some(h)),
            Head::Committed => Ok(None),
            Head::None => {
                self.0.head = Head::None;
                Err(Error::not_started())
            }
        }
    }
}

/// Give control back to the executor once (what an empty yield means).
async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
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

/// An async-aware application: called once per request with its [`Exchange`].
///
/// Any `Fn(Exchange) -> impl Future<Output = Result<Outcome>>` that is `Clone + Send` is an
/// app; the runtime clones it once per worker thread, so the futures it returns need not be
/// `Send` (they stay on that worker).
pub trait App: Clone + Send + 'static {
    /// Handle one exchange.
    fn call(&self, ex: Exchange) -> LocalBoxFuture<'static, Result<Outcome>>;
}

impl<F, Fut> App for F
where
    F: Fn(Exchange) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<Outcome>> + 'static,
{
    fn call(&self, ex: Exchange) -> LocalBoxFuture<'static, Result<Outcome>> {
        Box::pin(self(ex))
    }
}

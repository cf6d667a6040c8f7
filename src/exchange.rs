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
//! The runtime (crate `weir-actors`) builds the exchange with
//! [`rt::exchange`](crate::rt::exchange) around a [`Transport`] that turns each of these
//! awaits into a message to the connection actor; apps never see it.

use std::fmt;
use std::future::Future;
use std::task::Poll;

use bytes::{Bytes, BytesMut};
use futures::future::{poll_fn, LocalBoxFuture};
use http::header::{HeaderValue, CONTENT_LENGTH};
use http::{HeaderMap, StatusCode};

use crate::blocking::{Switch, SyncExchange};
use crate::error::{Error, Result};
use crate::h1::BodyFraming;
use crate::request::Request;
use crate::response::{HeadState, IntoHeaders, Part};
use crate::rt::transport::Transport;
use crate::signal::{CloseReason, CloseSignal};

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

    /// Runtimes take the switch with [`rt::take_switch`](crate::rt::take_switch).
    pub(crate) fn into_switch(self) -> Option<Switch> {
        self.switch.map(|b| *b)
    }
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
    head: HeadState,
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
    /// Runtimes build one with [`rt::exchange`](crate::rt::exchange).
    pub(crate) fn new(
        req: Request,
        transport: Box<dyn Transport>,
        signal: CloseSignal,
    ) -> Exchange {
        let input_done = req.framing() == BodyFraming::Empty;
        Exchange(Box::new(ExchangeState {
            req,
            transport,
            signal,
            head: HeadState::Idle,
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
        self.0.head.start(status, headers)
    }

    /// Replace the response head (`start_response` with `exc_info`): allowed until the first
    /// body bytes are sent, an error after.
    pub fn restart(&mut self, status: StatusCode, headers: impl IntoHeaders) -> Result<()> {
        self.0.head.restart(status, headers)
    }

    /// Whether the head has been sent (no more `restart`).
    pub fn is_committed(&self) -> bool {
        self.0.head.is_committed()
    }

    /// The pending head's headers, to adjust before it is sent (for middleware).
    pub fn pending_headers_mut(&mut self) -> Option<&mut HeaderMap> {
        self.0.head.pending_headers_mut()
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
        let head = self.0.head.commit()?;
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
        let head = self.0.head.commit()?;
        self.0.transport.start_send(Part {
            head,
            body: Bytes::new(),
            end: false,
        })?;
        poll_fn(|cx| self.0.transport.poll_flush(cx)).await
    }

    /// Yield the last value and finish the response.
    pub async fn end(mut self, data: impl Into<Bytes>) -> Result<Outcome> {
        let head = self.0.head.end()?;
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
    /// whose [`Input`](crate::blocking::Input) starts at exactly the first body byte
    /// [`next`](Self::next) has not handed out, and whose response carries on from here (a
    /// head already started or sent stays valid). Return the value it gives from the app:
    /// that is the "yield it as the next value" of the seed.
    pub fn switch_to_sync<F>(self, cont: F) -> Outcome
    where
        F: FnOnce(SyncExchange) -> Result<Outcome> + Send + 'static,
    {
        let ExchangeState {
            req,
            transport,
            signal,
            head,
            input_done,
            ..
        } = *self.0;
        Outcome {
            switch: Some(Box::new(Switch {
                request: req,
                input_done,
                head,
                signal,
                transport,
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

    /// Turn the server's minimum data rates off (or back on) for this request. The rates
    /// reap clients that trickle a body in or read a response out too slowly; they count only
    /// time spent waiting on the client, so a long-poll or an SSE stream that sends nothing
    /// for minutes is never at fault. Turn them off when a slow client is expected and fine
    /// (a deliberately throttled download, a device on a bad link).
    pub fn set_min_data_rates(&mut self, enabled: bool) -> Result<()> {
        self.0.transport.set_min_data_rates(enabled)
    }
}

impl Exchange {
    /// For the WebSocket upgrade: the parts it needs, if no response was started (the 101
    /// is the response). `Err` gives the exchange back.
    pub(crate) fn into_upgrade_parts(
        self,
    ) -> std::result::Result<(Request, Box<dyn Transport>, CloseSignal), Exchange> {
        if self.0.head.status().is_some() || self.0.head.is_committed() {
            return Err(self);
        }
        let ExchangeState {
            req,
            transport,
            signal,
            ..
        } = *self.0;
        Ok((req, transport, signal))
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

#[cfg(test)]
mod tests {
    use std::pin::pin;

    use futures::executor::block_on;

    use super::*;
    use crate::rt::testing::{poll_once, sent, Script};

    const POST: &str = "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 6";

    #[test]
    fn second_read_without_a_yield_is_refused() {
        let script = Script::new();
        script.chunk("abc").chunk("def");
        let mut ex = script.exchange(POST);
        assert_eq!(block_on(ex.next()).unwrap().unwrap(), "abc");
        let e = block_on(ex.next()).unwrap_err();
        assert!(e.is_read_without_yield(), "{e}");
        assert_eq!(
            script.reads(),
            1,
            "the refused read never reached the transport"
        );
    }

    #[test]
    fn an_empty_send_restores_the_read_credit() {
        let script = Script::new();
        script.chunk("abc").chunk("def").eof();
        let mut ex = script.exchange(POST);
        ex.start(StatusCode::OK, HeaderMap::new()).unwrap();
        assert_eq!(block_on(ex.next()).unwrap().unwrap(), "abc");
        block_on(ex.send(Bytes::new())).unwrap();
        assert_eq!(block_on(ex.next()).unwrap().unwrap(), "def");
        block_on(ex.send("x")).unwrap();
        assert_eq!(block_on(ex.next()).unwrap(), None);
        assert!(ex.input_done());
        assert_eq!(
            script.sent(),
            [sent(Some(200), "x", false)],
            "an empty yield sends nothing"
        );
    }

    #[test]
    fn an_empty_send_gives_control_back_once() {
        let script = Script::new();
        let mut ex = script.exchange(POST);
        let mut fut = pin!(ex.send(Bytes::new()));
        assert!(poll_once(fut.as_mut()).is_pending());
        assert!(matches!(poll_once(fut.as_mut()), Poll::Ready(Ok(()))));
    }

    #[test]
    fn a_dropped_read_resumes_without_spending_credit() {
        let script = Script::new();
        let mut ex = script.exchange(POST);
        {
            let fut = pin!(ex.next());
            assert!(poll_once(fut).is_pending(), "nothing queued yet");
        }
        script.chunk("abcdef");
        assert_eq!(block_on(ex.next()).unwrap().unwrap(), "abcdef");
        assert_eq!(
            script.reads(),
            1,
            "the second call resumed the first request"
        );
        assert!(block_on(ex.next()).unwrap_err().is_read_without_yield());
    }

    #[test]
    fn a_bodiless_request_reads_end_without_asking() {
        let script = Script::new();
        let mut ex = script.exchange("GET / HTTP/1.1\r\nHost: x");
        assert!(ex.input_done());
        assert_eq!(block_on(ex.next()).unwrap(), None);
        assert_eq!(
            block_on(ex.next()).unwrap(),
            None,
            "no credit needed at the end"
        );
        assert_eq!(script.reads(), 0);
    }

    #[test]
    fn a_read_error_ends_the_input() {
        let script = Script::new();
        script.fail(Error::body_timeout());
        let mut ex = script.exchange(POST);
        assert!(block_on(ex.next()).unwrap_err().is_timeout());
        assert!(ex.input_done());
    }

    #[test]
    fn restart_replaces_the_head_until_the_first_bytes() {
        let script = Script::new();
        let mut ex = script.exchange(POST);
        ex.start(StatusCode::OK, [("x-a", "1")]).unwrap();
        ex.restart(StatusCode::BAD_GATEWAY, [("x-b", "2")]).unwrap();
        ex.pending_headers_mut()
            .unwrap()
            .insert("x-c", HeaderValue::from_static("3"));
        assert!(!ex.is_committed());
        block_on(ex.send("a")).unwrap();
        assert!(ex.is_committed());
        let e = ex.restart(StatusCode::OK, HeaderMap::new()).unwrap_err();
        assert!(
            e.is_misuse() && e.to_string().contains("after body bytes"),
            "{e}"
        );
        assert!(ex.pending_headers_mut().is_none());
        let _ = block_on(ex.end("b")).unwrap();
        assert_eq!(
            script.sent(),
            [sent(Some(502), "a", false), sent(None, "b", true)]
        );
    }

    #[test]
    fn start_twice_is_refused() {
        let script = Script::new();
        let mut ex = script.exchange(POST);
        ex.start(StatusCode::OK, HeaderMap::new()).unwrap();
        let e = ex.start(StatusCode::OK, HeaderMap::new()).unwrap_err();
        assert!(e.is_misuse() && e.to_string().contains("twice"), "{e}");
    }

    #[test]
    fn body_without_start_is_refused_and_sends_nothing() {
        let script = Script::new();
        let mut ex = script.exchange(POST);
        let e = block_on(ex.send("a")).unwrap_err();
        assert!(e.to_string().contains("before start()"), "{e}");
        let e = block_on(ex.send_head()).unwrap_err();
        assert!(e.to_string().contains("before start()"), "{e}");
        let e = block_on(ex.end("a")).unwrap_err();
        assert!(e.to_string().contains("before start()"), "{e}");
        assert!(script.sent().is_empty());
    }

    #[test]
    fn send_waits_for_the_ack() {
        let script = Script::new();
        script.hold_acks();
        let mut ex = script.exchange(POST);
        ex.start(StatusCode::OK, HeaderMap::new()).unwrap();
        {
            let mut fut = pin!(ex.send("a"));
            assert!(poll_once(fut.as_mut()).is_pending());
            assert!(poll_once(fut.as_mut()).is_pending(), "still held");
            assert_eq!(
                script.sent(),
                [sent(Some(200), "a", false)],
                "taken, not acked"
            );
            script.release_ack();
            assert!(matches!(poll_once(fut.as_mut()), Poll::Ready(Ok(()))));
        }
        let mut fut = pin!(ex.end("b"));
        assert!(poll_once(fut.as_mut()).is_pending());
        script.release_ack();
        assert!(matches!(poll_once(fut.as_mut()), Poll::Ready(Ok(_))));
        assert_eq!(script.sent(), [sent(None, "b", true)]);
    }

    #[test]
    fn send_head_commits_before_any_body() {
        let script = Script::new();
        let mut ex = script.exchange(POST);
        ex.start(StatusCode::OK, HeaderMap::new()).unwrap();
        block_on(ex.send_head()).unwrap();
        block_on(ex.send_head()).unwrap();
        assert!(ex.is_committed());
        let _ = block_on(ex.end("z")).unwrap();
        assert_eq!(
            script.sent(),
            [sent(Some(200), "", false), sent(None, "z", true)],
            "the head went out once"
        );
    }

    #[test]
    fn send_after_the_client_left_is_disconnected() {
        let script = Script::new();
        let mut ex = script.exchange(POST);
        ex.start(StatusCode::OK, HeaderMap::new()).unwrap();
        ex.close_signal().close(CloseReason::ClientGone);
        assert!(block_on(ex.send("a")).unwrap_err().is_disconnected());
        assert!(script.sent().is_empty());
    }

    #[test]
    fn respond_replaces_a_started_head_and_adds_a_length() {
        let script = Script::new();
        let mut ex = script.exchange(POST);
        ex.start(StatusCode::OK, HeaderMap::new()).unwrap();
        let _ = block_on(ex.respond(StatusCode::CREATED, HeaderMap::new(), "hello")).unwrap();
        let parts = script.sent();
        assert_eq!(parts, [sent(Some(201), "hello", true)]);
    }

    #[test]
    fn read_to_end_yields_between_reads() {
        let script = Script::new();
        script.chunk("abc").chunk("def").eof();
        let mut ex = script.exchange(POST);
        assert_eq!(block_on(ex.read_to_end(6)).unwrap(), "abcdef");
        assert_eq!(script.reads(), 3);
    }

    #[test]
    fn read_to_end_refuses_past_its_bound() {
        let script = Script::new();
        script.chunk("abc").chunk("def").eof();
        let mut ex = script.exchange(POST);
        let e = block_on(ex.read_to_end(4)).unwrap_err();
        assert_eq!(e.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn blocking_returns_the_result_or_the_panic() {
        let script = Script::new();
        let mut ex = script.exchange(POST);
        assert_eq!(block_on(ex.blocking(|| 6 * 7)).unwrap(), 42);
        let e = block_on(ex.blocking(|| panic!("boom"))).unwrap_err();
        assert!(e.is_panic() && e.to_string().contains("boom"), "{e}");
    }

    #[test]
    fn a_finished_outcome_holds_no_switch() {
        let script = Script::new();
        let mut ex = script.exchange(POST);
        ex.start(StatusCode::OK, HeaderMap::new()).unwrap();
        let outcome = block_on(ex.end("")).unwrap();
        assert!(crate::rt::take_switch(outcome).is_none());
    }

    #[test]
    fn the_exchange_stays_one_pointer_with_no_extra_words() {
        use std::mem::size_of;
        assert_eq!(size_of::<Exchange>(), size_of::<usize>());
        // The state is its parts plus one word for the read flags: a new field (or a head
        // state that is not boxed) shows up here before it shows up in a Comet server's RSS.
        let parts = size_of::<Request>()
            + size_of::<Box<dyn Transport>>()
            + size_of::<CloseSignal>()
            + size_of::<HeadState>()
            + size_of::<usize>();
        assert!(
            size_of::<ExchangeState>() <= parts,
            "{} > {parts}",
            size_of::<ExchangeState>()
        );
    }
}

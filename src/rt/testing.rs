//! A scripted [`Transport`] for the interface's own tests: the exchange rules checked without
//! a runtime, a socket or a clock.
//!
//! The test keeps a [`Script`] and hands the exchange a transport over the same state: chunk
//! reads are answered from a queue (pending while it is empty, the way a connection waits
//! for the client), sent parts are recorded, and acks can be held so a test can see that the
//! app's `send` waits for the connection. After the sync switch the blocking transport works
//! on the same state, so a chunk request in flight carries over.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use http::StatusCode;

use super::{BlockingTransport, ConnInfo, Part, Transport};
use crate::error::{Error, Result};
use crate::exchange::Exchange;
use crate::h1::parse_head;
use crate::limits::Limits;
use crate::request::Request;
use crate::signal::CloseSignal;

#[derive(Default)]
struct Shared {
    chunks: VecDeque<Result<Option<Bytes>>>,
    /// Chunk requests started at the transport (a resumed one is not counted again).
    reads: usize,
    /// A chunk request is outstanding.
    reading: bool,
    parts: Vec<Part>,
    hold_acks: bool,
    /// A part was taken and its ack not yet given.
    unacked: bool,
    waker: Option<Waker>,
}

/// The test's handle on a scripted transport.
#[derive(Clone, Default)]
pub(crate) struct Script(Arc<Mutex<Shared>>);

/// What a recorded part looked like, for assertions.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Sent {
    pub status: Option<StatusCode>,
    pub body: Bytes,
    pub end: bool,
}

/// A part as the tests expect it: status of its head (if it has one), body, end flag.
pub(crate) fn sent(status: Option<u16>, body: &'static str, end: bool) -> Sent {
    Sent {
        status: status.map(|s| StatusCode::from_u16(s).unwrap()),
        body: Bytes::from_static(body.as_bytes()),
        end,
    }
}

impl Script {
    pub(crate) fn new() -> Script {
        Script::default()
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.0.lock().expect("poisoned")
    }

    /// Queue a body chunk.
    pub(crate) fn chunk(&self, data: &'static str) -> &Script {
        self.answer(Ok(Some(Bytes::from_static(data.as_bytes()))))
    }

    /// Queue the end of the body.
    pub(crate) fn eof(&self) -> &Script {
        self.answer(Ok(None))
    }

    /// Queue a read error.
    pub(crate) fn fail(&self, e: Error) -> &Script {
        self.answer(Err(e))
    }

    fn answer(&self, a: Result<Option<Bytes>>) -> &Script {
        let waker = {
            let mut s = self.lock();
            s.chunks.push_back(a);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        self
    }

    /// Hold every ack until [`release_ack`](Self::release_ack).
    pub(crate) fn hold_acks(&self) {
        self.lock().hold_acks = true;
    }

    /// Ack the part the connection holds.
    pub(crate) fn release_ack(&self) {
        let waker = {
            let mut s = self.lock();
            s.unacked = false;
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Chunk requests started so far.
    pub(crate) fn reads(&self) -> usize {
        self.lock().reads
    }

    /// The parts sent since the last call, whole.
    pub(crate) fn sent_parts(&self) -> Vec<Part> {
        std::mem::take(&mut self.lock().parts)
    }

    /// The parts sent since the last call, in short.
    pub(crate) fn sent(&self) -> Vec<Sent> {
        self.sent_parts()
            .into_iter()
            .map(|p| Sent {
                status: p.head.map(|h| h.status),
                body: p.body,
                end: p.end,
            })
            .collect()
    }

    /// The async transport, to build an exchange over.
    pub(crate) fn transport(&self) -> Box<dyn Transport> {
        Box::new(Scripted(self.clone()))
    }

    /// The blocking transport, as the sync switch would make it.
    pub(crate) fn blocking(&self) -> Arc<dyn BlockingTransport> {
        Arc::new(Scripted(self.clone()))
    }

    /// An exchange for a request with this head (without the blank line), over this script.
    pub(crate) fn exchange(&self, head: &str) -> Exchange {
        Exchange::new(request(head), self.transport(), CloseSignal::new())
    }
}

/// A request parsed from `head` (its lines, without the final blank line).
pub(crate) fn request(head: &str) -> Request {
    let mut buf = BytesMut::from(format!("{head}\r\n\r\n").as_str());
    let head = parse_head(&mut buf, &Limits::default())
        .expect("a valid head")
        .expect("a whole head");
    let conn = ConnInfo::new(addr("10.0.0.1:5000"), addr("10.0.0.2:80"));
    Request::new(head, conn)
}

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().expect("an address")
}

struct Scripted(Script);

impl Transport for Scripted {
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>>> {
        let mut s = self.0.lock();
        if !s.reading {
            s.reading = true;
            s.reads += 1;
        }
        match s.chunks.pop_front() {
            Some(answer) => {
                s.reading = false;
                Poll::Ready(answer)
            }
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    fn start_send(&mut self, part: Part) -> Result<()> {
        let mut s = self.0.lock();
        assert!(!s.unacked, "a part sent before the last one was acked");
        s.parts.push(part);
        s.unacked = true;
        Ok(())
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let mut s = self.0.lock();
        if s.hold_acks && s.unacked {
            s.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        s.unacked = false;
        Poll::Ready(Ok(()))
    }

    fn spawn_blocking(&mut self, job: Box<dyn FnOnce() + Send>) -> Result<()> {
        // Inline: the job's result is ready before the exchange awaits it, which keeps the
        // tests single-threaded and deterministic.
        job();
        Ok(())
    }

    fn into_blocking(self: Box<Self>) -> Arc<dyn BlockingTransport> {
        Arc::new(*self)
    }
}

impl BlockingTransport for Scripted {
    fn read_chunk(&self) -> Result<Option<Bytes>> {
        let mut s = self.0.lock();
        if !s.reading {
            s.reads += 1;
        }
        s.reading = false;
        s.chunks
            .pop_front()
            .expect("the script ran out of chunks: a blocking read would hang")
    }

    fn send(&self, part: Part) -> Result<()> {
        self.0.lock().parts.push(part);
        Ok(())
    }
}

/// Poll `fut` once with a waker that does nothing: the test decides when to poll again.
pub(crate) fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(futures::task::noop_waker_ref()))
}

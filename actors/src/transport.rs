//! The transports: how an [`Exchange`](weir::Exchange)'s awaits (and, after the sync switch,
//! a blocking continuation's calls) become messages to the request's connection.
//!
//! - [`ActorTransport`]: the async side. On the fast path it hands parts over through the
//!   [fast-path slot](crate::fast_path::with_slot); otherwise each read is a [`ReadChunk`] and
//!   each part a [`Respond`], and the app resumes when the oneshot answer arrives.
//! - [`BlockingActorTransport`]: the same messages from a pool thread, blocking on the
//!   answers; made by the switch from the async transport, taking over a chunk request still
//!   in flight so nothing is lost or read twice.
//!
//! Both are generic over the [`RequestPeer`] they talk to, so they do not depend on the
//! connection actor (which is what creates them).

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use actix::{Addr, WeakAddr};
use bytes::Bytes;
use futures::channel::oneshot;
use futures::FutureExt;
use weir::rt::{BlockingTransport, Part, Transport, WsTransport};
use weir::Error;

use crate::fast_path::with_slot;
use crate::messages::{ChunkReply, MinDataRates, ReadChunk, RequestPeer, Respond, Upgrade};
use crate::pool::SyncPool;
use crate::websocket::{ActorWsTransport, WsConnection};

/// Await a reply the connection sends through a oneshot; a dropped sender means the
/// connection has closed.
pub(crate) fn poll_reply<T>(
    rx: &mut Option<oneshot::Receiver<T>>,
    cx: &mut Context<'_>,
) -> Poll<Result<T, Error>> {
    let Some(r) = rx.as_mut() else {
        return Poll::Ready(Err(Error::disconnected()));
    };
    let res = match r.poll_unpin(cx) {
        Poll::Pending => return Poll::Pending,
        Poll::Ready(Ok(v)) => Ok(v),
        Poll::Ready(Err(oneshot::Canceled)) => Err(Error::disconnected()),
    };
    *rx = None;
    Poll::Ready(res)
}

/// The transport an exchange uses under this runtime (see the module docs).
pub(crate) struct ActorTransport<C: RequestPeer> {
    seq: u64,
    /// Upgraded to `strong` on the first message: a request that only waits (a long-poll)
    /// never pays for a strong address's sender state.
    conn: WeakAddr<C>,
    strong: Option<Addr<C>>,
    pool: SyncPool,
    /// This request's key in the fast-path slot: (connection id, seq).
    key: (u64, u64),
    read: Option<oneshot::Receiver<ChunkReply>>,
    write: Option<oneshot::Receiver<Result<(), Error>>>,
    /// A WebSocket upgrade asked for: the actor that takes the socket over comes here.
    upgrade: Option<oneshot::Receiver<Result<Addr<WsConnection>, Error>>>,
}

impl<C: RequestPeer> ActorTransport<C> {
    /// The transport for request `seq` of connection `conn_id` (whose actor is `conn`).
    pub(crate) fn new(conn_id: u64, seq: u64, conn: WeakAddr<C>, pool: SyncPool) -> Self {
        ActorTransport {
            seq,
            conn,
            strong: None,
            pool,
            key: (conn_id, seq),
            read: None,
            write: None,
            upgrade: None,
        }
    }

    fn addr(&mut self) -> Result<&Addr<C>, Error> {
        if self.strong.is_none() {
            self.strong = Some(self.conn.upgrade().ok_or_else(Error::disconnected)?);
        }
        Ok(self.strong.as_ref().expect("just set"))
    }
}

// Messages go with `try_send`: the exchange keeps at most one read and one part in flight
// per request and a connection serves one request at a time, so its mailbox (capacity 16)
// never fills; a failed send means the connection is gone. (`Addr::send`'s future is not
// `Unpin`, and boxing it would allocate per chunk.)
impl<C: RequestPeer> Transport for ActorTransport<C> {
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, Error>> {
        if self.read.is_none() {
            let (tx, rx) = oneshot::channel();
            let msg = ReadChunk {
                seq: self.seq,
                reply: tx,
            };
            if self.addr()?.try_send(msg).is_err() {
                return Poll::Ready(Err(Error::disconnected()));
            }
            self.read = Some(rx);
        }
        poll_reply(&mut self.read, cx).map(|r| r.and_then(|x| x))
    }

    fn start_send(&mut self, part: Part) -> Result<(), Error> {
        let mut part = Some(part);
        if with_slot(self.key, |s| s.put_part(part.take().expect("once"))).is_some() {
            return Ok(());
        }
        let part = part.expect("not taken off the fast path");
        let (tx, rx) = oneshot::channel();
        let msg = Respond {
            seq: self.seq,
            part,
            ack: tx,
        };
        self.addr()?
            .try_send(msg)
            .map_err(|_| Error::disconnected())?;
        self.write = Some(rx);
        Ok(())
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        match with_slot(self.key, |s| s.take_ack()) {
            Some((Some(res), _)) => return Poll::Ready(res),
            Some((None, Some(rx))) => self.write = Some(rx),
            // The connection re-polls after taking the part; no waker needed.
            Some((None, None)) => return Poll::Pending,
            None => {}
        }
        poll_reply(&mut self.write, cx).map(|r| r.and_then(|x| x))
    }

    fn set_min_data_rates(&mut self, enabled: bool) -> Result<(), Error> {
        let msg = MinDataRates {
            seq: self.seq,
            enabled,
        };
        self.addr()?
            .try_send(msg)
            .map_err(|_| Error::disconnected())
    }

    fn spawn_blocking(&mut self, job: Box<dyn FnOnce() + Send>) -> Result<(), Error> {
        self.pool.try_run(job)
    }

    fn start_upgrade(&mut self, headers: http::HeaderMap) -> Result<(), Error> {
        let (tx, rx) = oneshot::channel();
        let msg = Upgrade {
            seq: self.seq,
            headers,
            reply: tx,
        };
        self.addr()?
            .try_send(msg)
            .map_err(|_| Error::disconnected())?;
        self.upgrade = Some(rx);
        Ok(())
    }

    fn poll_upgraded(&mut self, cx: &mut Context<'_>) -> Poll<Result<Box<dyn WsTransport>, Error>> {
        let addr = futures::ready!(poll_reply(&mut self.upgrade, cx)).and_then(|x| x)?;
        Poll::Ready(Ok(Box::new(ActorWsTransport::new(addr, self.pool.clone()))))
    }

    fn into_blocking(self: Box<Self>) -> Arc<dyn BlockingTransport> {
        let conn = match self.strong {
            Some(a) => a,
            None => match self.conn.upgrade() {
                Some(a) => a,
                None => return Arc::new(Gone),
            },
        };
        Arc::new(BlockingActorTransport {
            seq: self.seq,
            conn,
            // A chunk already asked for (the app dropped its `next()` before the answer)
            // belongs to the blocking side now: nothing lost.
            pending: Mutex::new(self.read),
        })
    }
}

/// A blocking transport for a connection that is already gone.
struct Gone;

impl BlockingTransport for Gone {
    fn read_chunk(&self) -> Result<Option<Bytes>, Error> {
        Err(Error::disconnected())
    }

    fn send(&self, _: Part) -> Result<(), Error> {
        Err(Error::disconnected())
    }
}

/// The transport of a switched continuation on a pool thread: the same messages, with
/// blocking waits for the answers.
pub(crate) struct BlockingActorTransport<C: RequestPeer> {
    seq: u64,
    conn: Addr<C>,
    pending: Mutex<Option<oneshot::Receiver<ChunkReply>>>,
}

impl<C: RequestPeer> BlockingTransport for BlockingActorTransport<C> {
    fn read_chunk(&self) -> Result<Option<Bytes>, Error> {
        let pending = self.pending.lock().expect("poisoned").take();
        let rx = match pending {
            Some(rx) => rx,
            None => {
                let (tx, rx) = oneshot::channel();
                let msg = ReadChunk {
                    seq: self.seq,
                    reply: tx,
                };
                self.conn.try_send(msg).map_err(|_| Error::disconnected())?;
                rx
            }
        };
        futures::executor::block_on(rx).unwrap_or_else(|_| Err(Error::disconnected()))
    }

    fn send(&self, part: Part) -> Result<(), Error> {
        let (tx, rx) = oneshot::channel();
        let msg = Respond {
            seq: self.seq,
            part,
            ack: tx,
        };
        self.conn.try_send(msg).map_err(|_| Error::disconnected())?;
        futures::executor::block_on(rx).unwrap_or_else(|_| Err(Error::disconnected()))
    }
}

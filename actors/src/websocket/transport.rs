//! The app's WebSocket handle's transports: each `recv` is a [`WsRecv`], each `send` a
//! [`WsSend`] to the [`WsConnection`], answered through a oneshot (as the HTTP transports
//! do); the blocking one waits for the answers on a pool thread.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use actix::Addr;
use futures::channel::oneshot;
use weir::rt::{BlockingWsTransport, WsTransport};
use weir::ws::Message;
use weir::Error;

use super::WsConnection;
use crate::messages::{WsDone, WsRecv, WsReply, WsSend};
use crate::pool::SyncPool;
use crate::transport::poll_reply;

/// Says `WsDone` when the last handle (async or blocking) on the socket is dropped.
struct Owner(Addr<WsConnection>);

impl Drop for Owner {
    fn drop(&mut self) {
        // A control message with no data; it must arrive even if the mailbox is busy.
        self.0.do_send(WsDone);
    }
}

// Messages go with `try_send`: the handle keeps at most one recv and one send in flight,
// so the mailbox (capacity 16) never fills; a failed send means the actor is gone.

/// The async transport of an app's [`WebSocket`](weir::ws::WebSocket).
pub(crate) struct ActorWsTransport {
    conn: Addr<WsConnection>,
    pool: SyncPool,
    recv: Option<oneshot::Receiver<WsReply>>,
    write: Option<oneshot::Receiver<Result<(), Error>>>,
    owner: Arc<Owner>,
}

impl ActorWsTransport {
    pub(crate) fn new(conn: Addr<WsConnection>, pool: SyncPool) -> ActorWsTransport {
        ActorWsTransport {
            owner: Arc::new(Owner(conn.clone())),
            conn,
            pool,
            recv: None,
            write: None,
        }
    }
}

impl WsTransport for ActorWsTransport {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Message, Error>> {
        if self.recv.is_none() {
            let (tx, rx) = oneshot::channel();
            if self.conn.try_send(WsRecv { reply: tx }).is_err() {
                return Poll::Ready(Err(Error::disconnected()));
            }
            self.recv = Some(rx);
        }
        poll_reply(&mut self.recv, cx).map(|r| r.and_then(|x| x))
    }

    fn start_send(&mut self, msg: Message) -> Result<(), Error> {
        let (tx, rx) = oneshot::channel();
        self.conn
            .try_send(WsSend { msg, ack: tx })
            .map_err(|_| Error::disconnected())?;
        self.write = Some(rx);
        Ok(())
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        poll_reply(&mut self.write, cx).map(|r| r.and_then(|x| x))
    }

    fn spawn_blocking(&mut self, job: Box<dyn FnOnce() + Send>) -> Result<(), Error> {
        self.pool.try_run(job)
    }

    fn into_blocking(self: Box<Self>) -> Arc<dyn BlockingWsTransport> {
        Arc::new(BlockingActorWsTransport {
            conn: self.conn,
            // A recv already asked for belongs to the blocking side now: nothing lost.
            pending: Mutex::new(self.recv),
            _owner: self.owner,
        })
    }
}

/// The transport of a [`BlockingWebSocket`](weir::ws::BlockingWebSocket) on a pool thread.
struct BlockingActorWsTransport {
    conn: Addr<WsConnection>,
    pending: Mutex<Option<oneshot::Receiver<WsReply>>>,
    _owner: Arc<Owner>,
}

impl BlockingWsTransport for BlockingActorWsTransport {
    fn recv(&self) -> Result<Message, Error> {
        let pending = self.pending.lock().expect("poisoned").take();
        let rx = match pending {
            Some(rx) => rx,
            None => {
                let (tx, rx) = oneshot::channel();
                self.conn
                    .try_send(WsRecv { reply: tx })
                    .map_err(|_| Error::disconnected())?;
                rx
            }
        };
        futures::executor::block_on(rx).unwrap_or_else(|_| Err(Error::disconnected()))
    }

    fn send(&self, msg: Message) -> Result<(), Error> {
        let (tx, rx) = oneshot::channel();
        self.conn
            .try_send(WsSend { msg, ack: tx })
            .map_err(|_| Error::disconnected())?;
        futures::executor::block_on(rx).unwrap_or_else(|_| Err(Error::disconnected()))
    }
}

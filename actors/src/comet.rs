//! Comet helpers: a server-sent-events loop over a hub subscription.
//!
//! The loop holds no thread and polls nothing: it waits on three things at once (the next
//! message, the keep-alive timer, the close signal) and is woken by whichever comes first.

use std::time::Duration;

use futures::FutureExt;
use weir::sse::{self, Event};
use weir::{Bytes, Exchange, Outcome, Result, StatusCode};

use crate::hub::Subscription;

/// Stream a subscription as `text/event-stream`: first its backlog, then each message as it
/// is published, with a comment every `keepalive` so idle streams stay open through proxies.
/// `data` renders a message's `data:` payload from its hub id and the message; the event
/// `id` is the hub's message id too, so a
/// reconnecting `EventSource` resumes with `Last-Event-ID`. Ends when the client goes away
/// (the error from `send`), the server shuts down, or the hub drops a too-slow subscriber.
pub async fn sse<T, F>(
    mut ex: Exchange,
    mut sub: Subscription<T>,
    keepalive: Duration,
    mut data: F,
) -> Result<Outcome>
where
    T: Send + 'static,
    F: FnMut(u64, &T) -> String,
{
    ex.start(StatusCode::OK, sse::HEADERS)?;
    // Open the stream at once (the client's `open` event) and set the reconnect delay.
    ex.send(Bytes::from_static(b"retry: 2000\n\n")).await?;
    for (id, msg) in sub.take_backlog() {
        ex.send(encode(id, &data(id, &msg))).await?;
    }
    let signal = ex.close_signal();
    loop {
        let tick = actix_rt::time::sleep(keepalive);
        futures::select! {
            msg = sub.recv().fuse() => match msg {
                Some((id, msg)) => ex.send(encode(id, &data(id, &msg))).await?,
                None => break,
            },
            _ = tick.fuse() => ex.send(Bytes::from_static(sse::KEEPALIVE)).await?,
            _ = signal.closed().fuse() => break,
        }
    }
    ex.end(Bytes::new()).await
}

fn encode(id: u64, data: &str) -> Bytes {
    Event {
        id: Some(id),
        data,
        ..Event::default()
    }
    .encode()
}

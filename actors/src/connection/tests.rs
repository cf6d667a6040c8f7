//! The connection's middle test tier: the real actor over an in-memory pipe
//! (`tokio::io::duplex`) instead of a socket, with tokio's clock paused so every timeout is
//! exact and instant. Each test writes raw request bytes and reads raw response bytes.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use actix_rt::time::Instant;
use bytes::Bytes;
use futures::channel::oneshot;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use weir::{App, CloseReason, Exchange, Outcome, StatusCode};

use super::Connection;
use crate::messages::Shutdown;
use crate::pool::SyncPool;
use crate::worker::Worker;
use crate::Config;

/// A connection for `app`, and the client's end of its pipe. `closed` resolves when the
/// actor stops. `pipe` is the pipe's buffer per direction: small values make the server's
/// writes block, as a client that does not read would.
struct Harness {
    client: DuplexStream,
    closed: oneshot::Receiver<()>,
    addr: actix::Addr<Connection>,
}

fn conn_info() -> weir::rt::ConnInfo {
    weir::rt::ConnInfo::new(
        SocketAddr::from(([127, 0, 0, 1], 40000)),
        SocketAddr::from(([127, 0, 0, 1], 8080)),
    )
}

fn start<A: App>(app: A, cfg: Config, pipe: usize) -> Harness {
    let (client, server) = tokio::io::duplex(pipe);
    let pool = SyncPool::start(1, 1);
    let worker = Rc::new(Worker::new(cfg, Box::new(move |ex| app.call(ex)), pool));
    let (done, closed) = oneshot::channel();
    let addr = Connection::start(Box::new(server), conn_info(), worker, done);
    Harness {
        client,
        closed,
        addr,
    }
}

fn cfg() -> Config {
    Config {
        access_log: false,
        ..Config::default()
    }
}

async fn hello(mut ex: Exchange) -> weir::Result<Outcome> {
    ex.discard_body().await?;
    let path = ex.request().path().to_owned();
    ex.respond(StatusCode::OK, [("content-type", "text/plain")], path)
        .await
}

/// One response read off the pipe: status, head text, body (Content-Length framing only).
#[derive(Debug)]
struct Resp {
    status: u16,
    head: String,
    body: Vec<u8>,
}

/// Read one Content-Length-framed response, keeping any bytes after it in `buf`.
async fn read_resp(c: &mut DuplexStream, buf: &mut Vec<u8>) -> Option<Resp> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(buf[..end].to_vec()).unwrap();
            let status = head[9..12].parse().unwrap();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let mut tmp = [0u8; 4096];
                let n = c.read(&mut tmp).await.unwrap();
                assert!(n > 0, "EOF inside a body");
                buf.extend_from_slice(&tmp[..n]);
            }
            let body = buf[end + 4..end + 4 + len].to_vec();
            buf.drain(..end + 4 + len);
            return Some(Resp { status, head, body });
        }
        let mut tmp = [0u8; 4096];
        let n = c.read(&mut tmp).await.unwrap();
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
}

/// Whether the server closed its write side: EOF with nothing more to read.
async fn at_eof(c: &mut DuplexStream) -> bool {
    let mut tmp = [0u8; 64];
    matches!(c.read(&mut tmp).await, Ok(0) | Err(_))
}

#[actix_rt::test]
async fn pipelined_requests_are_answered_in_order_in_one_write() {
    let mut h = start(hello, cfg(), 64 * 1024);
    h.client
        .write_all(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    // Both answers are in the first read: the driver serves buffered heads before it writes.
    let mut buf = vec![0u8; 4096];
    let n = h.client.read(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    let a = text.find("\r\n\r\n/a").expect("first answer");
    let b = text
        .find("\r\n\r\n/b")
        .expect("second answer in the same read");
    assert!(a < b, "{text}");
}

#[actix_rt::test]
async fn keep_alive_timeout_is_exact() {
    tokio::time::pause();
    let c = Config {
        keep_alive_timeout: Duration::from_secs(5),
        ..cfg()
    };
    let mut h = start(hello, c, 64 * 1024);
    h.client
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    assert_eq!(
        read_resp(&mut h.client, &mut buf).await.unwrap().status,
        200
    );
    let idle = Instant::now();
    // Still open just before the deadline...
    tokio::time::sleep(Duration::from_millis(4_990)).await;
    assert!(h.closed.try_recv().unwrap().is_none(), "closed too early");
    // ...and closed quietly (no response) once it passes.
    assert!(at_eof(&mut h.client).await);
    let waited = idle.elapsed();
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_millis(5_050),
        "closed after {waited:?}"
    );
}

#[actix_rt::test]
async fn slow_head_gets_408_at_the_header_timeout_from_its_first_byte() {
    tokio::time::pause();
    let c = Config {
        header_read_timeout: Duration::from_secs(10),
        ..cfg()
    };
    let mut h = start(hello, c, 64 * 1024);
    let t0 = Instant::now();
    h.client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    // Trickling more bytes does not extend the deadline (slowloris).
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        h.client.write_all(b"X-A: b\r\n").await.unwrap();
    }
    let mut buf = Vec::new();
    let r = read_resp(&mut h.client, &mut buf).await.unwrap();
    assert_eq!(r.status, 408);
    let at = t0.elapsed();
    assert!(
        at >= Duration::from_secs(10) && at < Duration::from_millis(10_050),
        "408 after {at:?}"
    );
    assert!(r.head.to_ascii_lowercase().contains("connection: close"));
}

#[actix_rt::test]
async fn a_client_that_never_reads_is_dropped_at_the_write_timeout() {
    tokio::time::pause();
    async fn big(ex: Exchange) -> weir::Result<Outcome> {
        ex.respond(StatusCode::OK, [("x", "y")], vec![b'x'; 256 * 1024])
            .await
    }
    let c = Config {
        write_timeout: Duration::from_secs(30),
        ..cfg()
    };
    // A 1 KiB pipe the client never drains: the server's writes stop at once.
    let mut h = start(big, c, 1024);
    h.client
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let t0 = Instant::now();
    (&mut h.closed).await.ok();
    let at = t0.elapsed();
    assert!(
        at >= Duration::from_secs(30) && at < Duration::from_millis(30_050),
        "dropped after {at:?}"
    );
}

#[actix_rt::test]
async fn expect_continue_is_written_when_the_app_first_reads() {
    async fn upload(mut ex: Exchange) -> weir::Result<Outcome> {
        let n = ex.discard_body().await?;
        ex.respond(StatusCode::OK, [("x", "y")], n.to_string())
            .await
    }
    let mut h = start(upload, cfg(), 64 * 1024);
    h.client
        .write_all(
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
        )
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let n = h.client.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"HTTP/1.1 100 Continue\r\n\r\n");
    h.client.write_all(b"hello").await.unwrap();
    let mut rest = Vec::new();
    let r = read_resp(&mut h.client, &mut rest).await.unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"5"[..]));
}

#[actix_rt::test]
async fn an_app_that_waits_leaves_the_fast_path_and_still_answers() {
    async fn later(ex: Exchange) -> weir::Result<Outcome> {
        // A timer: the fast path cannot finish this, so it moves into an app actor.
        actix_rt::time::sleep(Duration::from_millis(20)).await;
        ex.respond(StatusCode::OK, [("x", "y")], "later").await
    }
    tokio::time::pause();
    let mut h = start(later, cfg(), 64 * 1024);
    h.client
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    for _ in 0..2 {
        let r = read_resp(&mut h.client, &mut buf).await.unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"later"[..]));
    }
}

#[actix_rt::test]
async fn unread_body_within_the_drain_limit_keeps_the_connection() {
    async fn ignore(ex: Exchange) -> weir::Result<Outcome> {
        ex.respond(StatusCode::OK, [("x", "y")], "ok").await
    }
    let mut h = start(ignore, cfg(), 64 * 1024);
    h.client
        .write_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n0123456789GET /next HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    for _ in 0..2 {
        let r = read_resp(&mut h.client, &mut buf).await.unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
    }
}

#[actix_rt::test]
async fn a_bad_head_gets_400_then_a_lingering_close() {
    let mut h = start(hello, cfg(), 64 * 1024);
    h.client
        .write_all(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let r = read_resp(&mut h.client, &mut buf).await.unwrap();
    assert_eq!(r.status, 400);
    // The write side is shut (the client sees the end), while the read side still takes
    // what the client sends: writing more does not fail.
    assert!(at_eof(&mut h.client).await);
    h.client.write_all(b"more bytes").await.unwrap();
}

#[actix_rt::test]
async fn shutdown_closes_an_idle_connection_and_lets_a_busy_one_finish() {
    // Idle: closed at once.
    let mut idle = start(hello, cfg(), 64 * 1024);
    idle.addr.do_send(Shutdown);
    assert!(at_eof(&mut idle.client).await);

    // Busy: the app sees the signal and still answers, with `Connection: close`.
    async fn waits(ex: Exchange) -> weir::Result<Outcome> {
        let reason = ex.closed().await;
        assert_eq!(reason, CloseReason::Shutdown);
        ex.respond(StatusCode::OK, [("x", "y")], "bye").await
    }
    let mut busy = start(waits, cfg(), 64 * 1024);
    busy.client
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    // Let the request reach the app before the shutdown arrives.
    actix_rt::task::yield_now().await;
    busy.addr.do_send(Shutdown);
    let mut buf = Vec::new();
    let r = read_resp(&mut busy.client, &mut buf).await.unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"bye"[..]));
    assert!(r.head.to_ascii_lowercase().contains("connection: close"));
    assert!(at_eof(&mut busy.client).await);
}

#[actix_rt::test]
async fn the_client_going_away_raises_the_apps_signal() {
    let (tx, rx) = oneshot::channel();
    let tx = std::sync::Arc::new(std::sync::Mutex::new(Some(tx)));
    let app = move |ex: Exchange| {
        let tx = tx.clone();
        async move {
            let reason = ex.closed().await;
            if let Some(tx) = tx.lock().unwrap().take() {
                let _ = tx.send(reason);
            }
            ex.respond(StatusCode::OK, [("x", "y")], Bytes::new()).await
        }
    };
    let mut h = start(app, cfg(), 64 * 1024);
    h.client
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    actix_rt::task::yield_now().await;
    drop(h.client);
    assert_eq!(rx.await.unwrap(), CloseReason::ClientGone);
}

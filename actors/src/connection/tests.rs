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
use crate::config::MinDataRate;
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
        access_log: None,
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
    read_resp_from(c, buf).await
}

async fn read_resp_from(
    c: &mut (impl tokio::io::AsyncRead + Unpin),
    buf: &mut Vec<u8>,
) -> Option<Resp> {
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

/// Send `raw`, then read `n` responses, each `200` with `body`.
async fn expect_ok_answers(h: &mut Harness, raw: &[u8], n: usize, body: &[u8]) {
    h.client.write_all(raw).await.unwrap();
    let mut buf = Vec::new();
    for _ in 0..n {
        let r = read_resp(&mut h.client, &mut buf).await.unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, body));
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
        // The response rate would reap this client first (see the rate tests below).
        min_response_rate: None,
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
    let two = b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n";
    expect_ok_answers(&mut h, two, 2, b"later").await;
}

#[actix_rt::test]
async fn unread_body_within_the_drain_limit_keeps_the_connection() {
    async fn ignore(ex: Exchange) -> weir::Result<Outcome> {
        ex.respond(StatusCode::OK, [("x", "y")], "ok").await
    }
    let mut h = start(ignore, cfg(), 64 * 1024);
    let raw = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n0123456789GET /next HTTP/1.1\r\nHost: t\r\n\r\n";
    expect_ok_answers(&mut h, raw, 2, b"ok").await;
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

/// 240 B/s over 5 s windows: the defaults, spelled out so the edges below are visible.
fn rate() -> Option<MinDataRate> {
    Some(MinDataRate {
        bytes_per_second: 240,
        grace: Duration::from_secs(5),
    })
}

async fn count_body(mut ex: Exchange) -> weir::Result<Outcome> {
    let n = ex.discard_body().await?;
    ex.respond(StatusCode::OK, [("x", "y")], n.to_string())
        .await
}

/// Send `total` body bytes in pieces of `piece` every `every`, after a head announcing them,
/// while reading the response: returns it, and when its first byte arrived.
async fn trickle_body(
    h: Harness,
    total: usize,
    piece: usize,
    every: Duration,
) -> (Option<Resp>, Instant) {
    let (mut rd, mut wr) = tokio::io::split(h.client);
    let writer = async move {
        let head = format!("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: {total}\r\n\r\n");
        wr.write_all(head.as_bytes()).await.unwrap();
        let mut sent = 0;
        while sent < total {
            tokio::time::sleep(every).await;
            let n = piece.min(total - sent);
            if wr.write_all(&vec![b'b'; n]).await.is_err() {
                return; // the server closed: the reader says why
            }
            sent += n;
        }
    };
    let reader = async move {
        let mut first = [0u8; 1];
        let n = rd.read(&mut first).await.unwrap();
        let at = Instant::now();
        if n == 0 {
            return (None, at);
        }
        let mut buf = first.to_vec();
        let mut pipe = tokio::io::join(rd, tokio::io::sink());
        let resp = read_resp_from(&mut pipe, &mut buf).await;
        (resp, at)
    };
    // The writer may go on (lingering close) after the answer: the answer is what counts.
    tokio::select! {
        out = reader => out,
        _ = async { writer.await; std::future::pending::<()>().await } => unreachable!(),
    }
}

#[actix_rt::test]
async fn a_body_trickling_below_the_rate_gets_408_at_the_first_window() {
    tokio::time::pause();
    let c = Config {
        min_request_body_rate: rate(),
        body_read_timeout: Duration::from_secs(3600),
        ..cfg()
    };
    let h = start(count_body, c, 64 * 1024);
    let t0 = Instant::now();
    // 230 B/s (23 bytes every 100 ms), just under 240: never a stall, so only the rate can
    // notice it, at the end of the first 5 s window.
    let (r, at) = trickle_body(h, 100_000, 23, Duration::from_millis(100)).await;
    assert_eq!(r.unwrap().status, 408);
    let at = at - t0;
    assert!(
        at >= Duration::from_secs(5) && at < Duration::from_millis(5_100),
        "408 after {at:?}"
    );
}

#[actix_rt::test]
async fn a_body_at_the_rate_is_served() {
    tokio::time::pause();
    let c = Config {
        min_request_body_rate: rate(),
        ..cfg()
    };
    let h = start(count_body, c, 64 * 1024);
    // 250 B/s (25 bytes every 100 ms) for 20 s: just over the rate, in every window.
    let (r, _) = trickle_body(h, 5_000, 25, Duration::from_millis(100)).await;
    let r = r.unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"5000"[..]));
}

#[actix_rt::test]
async fn an_app_that_does_not_read_puts_no_client_at_fault() {
    tokio::time::pause();
    async fn late_reader(mut ex: Exchange) -> weir::Result<Outcome> {
        // A minute before the app reads: the client waits on the app, not the reverse.
        actix_rt::time::sleep(Duration::from_secs(60)).await;
        let n = ex.discard_body().await?;
        ex.respond(StatusCode::OK, [("x", "y")], n.to_string())
            .await
    }
    let c = Config {
        min_request_body_rate: rate(),
        ..cfg()
    };
    let mut h = start(late_reader, c, 64 * 1024);
    h.client
        .write_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let r = read_resp(&mut h.client, &mut buf).await.unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"3"[..]));
}

/// Read `total` bytes of response in pieces of `piece` every `every`; returns how many
/// arrived before the server closed.
async fn trickle_read(h: &mut Harness, total: usize, piece: usize, every: Duration) -> usize {
    let mut got = 0;
    let mut tmp = vec![0u8; piece];
    while got < total {
        tokio::time::sleep(every).await;
        match h.client.read(&mut tmp).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    got
}

/// 200 KB in 1 KB sends, as a streaming app writes.
async fn streamed_response(mut ex: Exchange) -> weir::Result<Outcome> {
    ex.discard_body().await?;
    ex.start(StatusCode::OK, [("content-length", "204800")])?;
    for _ in 0..199 {
        ex.send(vec![b'r'; 1024]).await?;
    }
    ex.end(vec![b'r'; 1024]).await
}

/// A response config: the defaults' rate, and a 1 KiB write buffer so that what waits in
/// it stays small (the deadline allows for what waits: see `rate`).
fn response_rated() -> Config {
    Config {
        min_response_rate: rate(),
        write_high_water: 1024,
        ..cfg()
    }
}

#[actix_rt::test]
async fn a_reader_trickling_below_the_rate_is_closed() {
    tokio::time::pause();
    // A 1 KiB pipe: the server's writes wait on the reader at once.
    let mut h = start(streamed_response, response_rated(), 1024);
    h.client
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let t0 = Instant::now();
    // 230 B/s (23 bytes every 100 ms): just under the rate. It falls behind its deadline
    // by 1 - 230/240 of a second every second, so it is closed long before the 200 KB
    // (which would take 15 minutes) have arrived.
    let got = trickle_read(&mut h, 300_000, 23, Duration::from_millis(100)).await;
    (&mut h.closed).await.ok();
    let at = t0.elapsed();
    assert!(got < 204_800 / 2, "{got} bytes arrived at 230 B/s");
    assert!(at >= Duration::from_secs(5), "closed after {at:?}");
}

#[actix_rt::test]
async fn a_reader_at_the_rate_gets_the_whole_response() {
    tokio::time::pause();
    let mut h = start(streamed_response, response_rated(), 1024);
    h.client
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    // 250 B/s (25 bytes every 100 ms), just over the rate, for about 14 minutes.
    let got = trickle_read(&mut h, 204_800 + 50, 25, Duration::from_millis(100)).await;
    assert!(got > 204_800, "closed with {got} bytes read");
}

#[actix_rt::test]
async fn an_app_can_turn_the_rates_off_for_its_request() {
    tokio::time::pause();
    async fn patient(mut ex: Exchange) -> weir::Result<Outcome> {
        ex.set_min_data_rates(false)?;
        let n = ex.discard_body().await?;
        ex.respond(StatusCode::OK, [("x", "y")], n.to_string())
            .await
    }
    let c = Config {
        min_request_body_rate: rate(),
        ..cfg()
    };
    let h = start(patient, c, 64 * 1024);
    // 20 B/s for 30 s: far below the rate, fine for this app.
    let (r, _) = trickle_body(h, 600, 20, Duration::from_secs(1)).await;
    let r = r.unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"600"[..]));
}

//! Timeouts over a real socket, with small configured values: the header-read timeout
//! (slowloris: 408 then close, not extended by a trickle; a silent connection closed quietly),
//! the keep-alive idle timeout (quiet close, not early, restarted by each request), the
//! body-read timeout (the app's read fails with `is_timeout()`, the connection closes; a slow
//! but steady body is fine) and the write timeout (a client that never reads is dropped and
//! the app's `send` fails with `is_disconnected()`; pauses shorter than it are fine). Every
//! test is bounded to a few seconds.

mod support;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{config, is_closed, read_response, roundtrip, serve, wait_for};
use weir_actors::weir::{Bytes, Exchange, Outcome, Result, StatusCode};

/// Slack for timers firing late on a busy 2-core machine.
const LATE: Duration = Duration::from_millis(700);

/// Read until EOF (or a reset); returns the bytes read and whether it ended by EOF/reset
/// rather than by the read timeout.
fn read_until_close(s: &mut TcpStream) -> (Vec<u8>, bool) {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (all, true),
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return (all, false)
            }
            Err(_) => return (all, true),
        }
    }
}

fn assert_between(what: &str, elapsed: Duration, min: Duration, max: Duration) {
    assert!(
        elapsed >= min && elapsed <= max,
        "{what}: took {elapsed:?}, want between {min:?} and {max:?}"
    );
}

/// Slowloris: a head trickled one byte every 100 ms is answered 408 about
/// `header_read_timeout` after its first byte, however long the trickle goes on.
#[test]
fn slowloris_head_gets_408_within_header_read_timeout() {
    let timeout = Duration::from_millis(500);
    let mut cfg = config();
    cfg.header_read_timeout = timeout;
    let srv = serve(support::discard_len_app, cfg);
    let s = srv.connect();
    let mut w = s.try_clone().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let t = Instant::now();
    // 4 s worth of bytes: a timer extended by each byte would not fire before they end.
    let writer = std::thread::spawn(move || {
        let head = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Pad: {}", "a".repeat(40));
        for b in head.bytes().take(40) {
            if stop2.load(Ordering::Relaxed) || w.write_all(&[b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r, false).expect("a 408 response");
    let elapsed = t.elapsed();
    stop.store(true, Ordering::Relaxed);
    assert_eq!(resp.status, 408, "{:?}", resp.text());
    assert_eq!(resp.header("connection"), Some("close"));
    assert_between("408", elapsed, timeout, timeout + LATE);
    assert!(is_closed(&mut r));
    writer.join().unwrap();
}

/// The edge's other side: a head that trickles in but completes within
/// `header_read_timeout` is served.
#[test]
fn slow_head_completing_within_header_read_timeout_is_served() {
    let timeout = Duration::from_millis(1000);
    let mut cfg = config();
    cfg.header_read_timeout = timeout;
    let srv = serve(support::discard_len_app, cfg);
    let mut s = srv.connect();
    let t = Instant::now();
    for piece in ["GET / HT", "TP/1.1\r\nHo", "st: x\r\nX-A: b", "\r\n\r\n"] {
        s.write_all(piece.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }
    assert!(t.elapsed() < timeout, "test too slow: {:?}", t.elapsed());
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!((resp.status, resp.text().as_str()), (200, "len=0"));
    assert_eq!(resp.header("connection"), None);
}

/// A connection that never sends a byte is closed quietly: EOF, no 408, no bytes at all.
/// (Both timeouts that could govern a fresh connection are set to the same value.)
#[test]
fn silent_connection_is_closed_quietly() {
    let timeout = Duration::from_millis(400);
    let mut cfg = config();
    cfg.header_read_timeout = timeout;
    cfg.keep_alive_timeout = timeout;
    let srv = serve(support::discard_len_app, cfg);
    let t = Instant::now();
    let mut s = srv.connect();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let (bytes, closed) = read_until_close(&mut s);
    let elapsed = t.elapsed();
    assert!(closed, "still open after {elapsed:?}");
    assert_eq!(String::from_utf8_lossy(&bytes), "", "not a quiet close");
    assert_between("silent close", elapsed, timeout * 9 / 10, timeout + LATE);

    // The server is fine afterwards.
    let resp = roundtrip(&srv, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(resp.status, 200);
}

/// An idle keep-alive connection is closed quietly after `keep_alive_timeout`: still open at
/// half of it, each request restarts it, then EOF without a byte.
#[test]
fn idle_keep_alive_connection_is_closed_quietly() {
    let timeout = Duration::from_millis(600);
    let mut cfg = config();
    cfg.keep_alive_timeout = timeout;
    cfg.header_read_timeout = Duration::from_secs(5);
    let srv = serve(support::discard_len_app, cfg);
    let mut s = srv.connect();
    let mut r = BufReader::new(s.try_clone().unwrap());

    s.write_all(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    // Half the timeout later: open, and quiet.
    r.get_ref().set_read_timeout(Some(timeout / 2)).unwrap();
    assert!(
        !is_closed(&mut r),
        "closed before half of keep_alive_timeout"
    );

    // A second request restarts the idle timer.
    s.write_all(b"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    let t = Instant::now();
    r.get_ref()
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut rest = Vec::new();
    let res = r.read_to_end(&mut rest);
    let elapsed = t.elapsed();
    assert!(res.is_ok(), "not a clean EOF: {res:?}");
    assert_eq!(String::from_utf8_lossy(&rest), "", "not a quiet close");
    // Measured from the second response: a timer left running from the first would fire
    // at about half of this.
    assert_between("idle close", elapsed, timeout * 9 / 10, timeout + LATE);
}

/// What the body-reading app saw: bytes read before the error, and the error's predicates.
#[derive(Debug, Default, Clone)]
struct ReadOutcome {
    got: usize,
    is_timeout: bool,
    status: u16,
    done: bool,
}

/// Reads the body chunk by chunk, recording what happened, then fails with the read error
/// (`?`-style) or answers `len=N`.
fn recording_app(
    rec: Arc<Mutex<ReadOutcome>>,
) -> impl Fn(Exchange) -> futures::future::LocalBoxFuture<'static, Result<Outcome>> + Clone + Send {
    move |mut ex: Exchange| {
        let rec = rec.clone();
        Box::pin(async move {
            let mut got = 0;
            let err = loop {
                match ex.next().await {
                    Ok(Some(chunk)) => {
                        got += chunk.len();
                        rec.lock().unwrap().got = got;
                        ex.send(Bytes::new()).await?;
                    }
                    Ok(None) => break None,
                    Err(e) => break Some(e),
                }
            };
            *rec.lock().unwrap() = ReadOutcome {
                got,
                is_timeout: err.as_ref().is_some_and(|e| e.is_timeout()),
                status: err.as_ref().map_or(200, |e| e.status().as_u16()),
                done: true,
            };
            match err {
                Some(e) => Err(e),
                None => {
                    ex.respond(StatusCode::OK, [("x", "y")], format!("len={got}"))
                        .await
                }
            }
        })
    }
}

/// A body that stalls mid-way: after `body_read_timeout` the app's `next()` fails with a
/// timeout error and the connection closes (no response is required: the runtime closes at
/// once, so at most a 408 may have been written).
#[test]
fn stalled_body_times_out_and_closes() {
    let timeout = Duration::from_millis(400);
    let mut cfg = config();
    cfg.body_read_timeout = timeout;
    let rec = Arc::new(Mutex::new(ReadOutcome::default()));
    let srv = serve(recording_app(rec.clone()), cfg);
    let mut s = srv.connect();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        .unwrap();
    let t = Instant::now();
    // Never send the other 7 bytes, never close.
    let (bytes, closed) = read_until_close(&mut s);
    let elapsed = t.elapsed();
    let text = String::from_utf8_lossy(&bytes);
    assert!(closed, "connection still open after {elapsed:?}");
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408 "),
        "unexpected bytes: {text:?}"
    );
    assert_between(
        "body timeout close",
        elapsed,
        timeout * 9 / 10,
        timeout + LATE,
    );

    let seen = wait_for(Duration::from_secs(2), || {
        let r = rec.lock().unwrap().clone();
        r.done.then_some(r)
    })
    .expect("the app's read never returned");
    assert_eq!(seen.got, 3);
    assert!(seen.is_timeout, "read error was not a timeout: {seen:?}");
    assert_eq!(seen.status, 408);

    // The server is fine afterwards.
    let resp = roundtrip(
        &srv,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok",
    );
    assert_eq!((resp.status, resp.text().as_str()), (200, "len=2"));
}

/// The edge's other side: the timeout is on a stall, not on the whole body. A body trickled
/// with gaps of half the timeout, taking several times the timeout in all, is read whole.
#[test]
fn slow_steady_body_is_not_timed_out() {
    let timeout = Duration::from_millis(400);
    let mut cfg = config();
    cfg.body_read_timeout = timeout;
    let rec = Arc::new(Mutex::new(ReadOutcome::default()));
    let srv = serve(recording_app(rec.clone()), cfg);
    let mut s = srv.connect();
    let t = Instant::now();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n")
        .unwrap();
    for b in b"abcdef" {
        std::thread::sleep(timeout / 2);
        s.write_all(&[*b]).unwrap();
    }
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r, false).unwrap();
    assert!(t.elapsed() > timeout * 2);
    assert_eq!((resp.status, resp.text().as_str()), (200, "len=6"));
    let seen = rec.lock().unwrap().clone();
    assert!(seen.done && !seen.is_timeout && seen.got == 6, "{seen:?}");
}

/// What the streaming app saw.
#[derive(Default)]
struct StreamLog {
    /// Body bytes the connection has taken.
    sent: AtomicU64,
    /// When a send failed: (after how long, whether it was `is_disconnected()`).
    failed: Mutex<Option<(Duration, bool)>>,
}

/// `/stream?n=K`: K pieces of 64 KiB (endless without `n`), recording progress and failure;
/// anything else: a small 200.
fn streaming_app(
    log: Arc<StreamLog>,
) -> impl Fn(Exchange) -> futures::future::LocalBoxFuture<'static, Result<Outcome>> + Clone + Send {
    move |mut ex: Exchange| {
        let log = log.clone();
        Box::pin(async move {
            if ex.request().path() != "/stream" {
                return ex
                    .respond(StatusCode::OK, [("content-type", "text/plain")], "ok")
                    .await;
            }
            let pieces: u64 = ex
                .request()
                .query_param("n")
                .map_or(u64::MAX, |n| n.parse().unwrap());
            let t = Instant::now();
            ex.start(
                StatusCode::OK,
                [("content-type", "application/octet-stream")],
            )?;
            let piece = Bytes::from(vec![b'z'; 64 * 1024]);
            for _ in 0..pieces {
                if let Err(e) = ex.send(piece.clone()).await {
                    *log.failed.lock().unwrap() = Some((t.elapsed(), e.is_disconnected()));
                    return Err(e);
                }
                log.sent.fetch_add(piece.len() as u64, Ordering::Relaxed);
            }
            ex.end(Bytes::new()).await
        })
    }
}

/// A client that never reads: once the buffers are full and nothing is written for
/// `write_timeout`, the connection is dropped, the app's `send` fails with
/// `is_disconnected()`, and other connections are served.
#[test]
fn client_that_never_reads_is_dropped_after_write_timeout() {
    let timeout = Duration::from_millis(400);
    let mut cfg = config();
    cfg.write_timeout = timeout;
    let log = Arc::new(StreamLog::default());
    let srv = serve(streaming_app(log.clone()), cfg);
    let mut s = srv.connect();
    let t = Instant::now();
    s.write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (after, disconnected) = wait_for(Duration::from_secs(4), || *log.failed.lock().unwrap())
        .unwrap_or_else(|| {
            panic!(
                "app still sending after {:?} ({} bytes taken)",
                t.elapsed(),
                log.sent.load(Ordering::Relaxed)
            )
        });
    assert!(disconnected, "send failed, but not with is_disconnected()");
    // The stall begins once the buffers fill, some time after the app started.
    assert_between(
        "write timeout",
        after,
        timeout,
        timeout + Duration::from_secs(2),
    );
    let sent = log.sent.load(Ordering::Relaxed);
    assert!(sent > 0 && sent < 64 << 20, "{sent} bytes taken");

    let resp = roundtrip(&srv, b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((resp.status, resp.text().as_str()), (200, "ok"));
    drop(s);
}

/// The edge's other side: a reader that pauses for less than `write_timeout` (long enough
/// that the server's writes really stall) is not dropped, and gets the whole body.
#[test]
fn pauses_shorter_than_write_timeout_are_tolerated() {
    let timeout = Duration::from_millis(800);
    let pause = timeout * 3 / 4;
    let pieces = 128; // 8 MiB: more than the socket buffers hold
    let mut cfg = config();
    cfg.write_timeout = timeout;
    let log = Arc::new(StreamLog::default());
    let srv = serve(streaming_app(log.clone()), cfg);
    let mut s = srv.connect();
    s.write_all(
        format!("GET /stream?n={pieces} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    let total = pieces * 64 * 1024;
    let mut stalls = 0;
    let mut all = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    for _ in 0..2 {
        // Pause: the app must stall (nothing taken in the second half of the pause)...
        std::thread::sleep(pause / 2);
        let before = log.sent.load(Ordering::Relaxed);
        std::thread::sleep(pause / 2);
        if log.sent.load(Ordering::Relaxed) == before && before < total {
            stalls += 1;
        }
        // ...then read a couple of MiB.
        let mut n = 0;
        while n < 2 << 20 {
            let k = s.read(&mut buf).unwrap();
            assert!(
                k > 0,
                "connection dropped during a pause shorter than write_timeout"
            );
            all.extend_from_slice(&buf[..k]);
            n += k;
        }
    }
    assert!(
        stalls >= 1,
        "the server never stalled; the test proves nothing"
    );
    s.read_to_end(&mut all)
        .expect("the rest of the body, then EOF");
    assert!(
        log.failed.lock().unwrap().is_none(),
        "the app's send failed"
    );
    assert_eq!(log.sent.load(Ordering::Relaxed), total);
    assert!(all.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert!(all.ends_with(b"\r\n0\r\n\r\n"), "body not finished");
    let body = all.iter().filter(|&&b| b == b'z').count() as u64;
    assert_eq!(body, total);
}

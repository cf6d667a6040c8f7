//! The async-aware interface over a real socket: the one-per-yield rule, start/restart,
//! the close signal separate from body reads, app errors and panics, and backpressure in
//! both directions (no read-ahead for an app that does not read; a client that does not
//! read stalls the app instead of growing memory).

mod support;

use std::io::{BufReader, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{config, read_response, roundtrip, serve};
use weir_actors::weir::{Bytes, CloseReason, Exchange, Outcome, Result, StatusCode};

#[test]
fn reading_twice_without_a_yield_is_an_error() {
    async fn greedy(mut ex: Exchange) -> Result<Outcome> {
        let first = ex.next().await?.map(|c| c.len()).unwrap_or(0);
        let second = ex.next().await;
        let verdict = match second {
            Err(e) if e.is_read_without_yield() => "refused",
            _ => "allowed",
        };
        // After a yield, reading is allowed again.
        ex.send(Bytes::new()).await?;
        let third = ex.next().await.is_ok();
        ex.respond(
            StatusCode::OK,
            [("content-type", "text/plain")],
            format!("first={first} second={verdict} third_ok={third}"),
        )
        .await
    }
    let srv = serve(greedy, config());
    let mut s = srv.connect();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    s.write_all(b"3\r\ndef\r\n0\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.text(), "first=3 second=refused third_ok=true");
}

#[test]
fn restart_replaces_head_until_body_is_sent() {
    async fn app(mut ex: Exchange) -> Result<Outcome> {
        ex.start(StatusCode::OK, [("x-first", "1")])?;
        let twice = ex.start(StatusCode::OK, [("x-first", "2")]).is_err();
        ex.restart(StatusCode::ACCEPTED, [("x-second", "1")])?;
        ex.send("body").await?;
        let late = ex.restart(StatusCode::OK, [("x-third", "1")]).is_err();
        ex.end(format!(" twice_refused={twice} late_refused={late}"))
            .await
    }
    let srv = serve(app, config());
    let resp = roundtrip(&srv, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(resp.status, 202);
    assert_eq!(resp.header("x-first"), None);
    assert_eq!(resp.header("x-second"), Some("1"));
    assert_eq!(resp.text(), "body twice_refused=true late_refused=true");
}

#[test]
fn app_error_before_response_gives_its_status() {
    async fn app(ex: Exchange) -> Result<Outcome> {
        if ex.request().path() == "/teapot" {
            return Err(weir_actors::weir::Error::with_status(
                StatusCode::IM_A_TEAPOT,
                "short and stout",
            ));
        }
        Err(weir_actors::weir::Error::other("database on fire"))
    }
    let srv = serve(app, config());
    let resp = roundtrip(&srv, b"GET /teapot HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(resp.status, 418);
    assert!(resp.text().contains("short and stout"));
    let resp = roundtrip(&srv, b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(resp.status, 500);
    // Internal details are logged, not sent.
    assert!(!resp.text().contains("database"));
}

#[test]
fn app_panic_gives_500_and_server_keeps_serving() {
    async fn app(ex: Exchange) -> Result<Outcome> {
        if ex.request().path() == "/panic" {
            panic!("boom");
        }
        ex.respond(StatusCode::OK, [("content-type", "text/plain")], "fine")
            .await
    }
    let srv = serve(app, config());
    let resp = roundtrip(&srv, b"GET /panic HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(resp.status, 500);
    let resp = roundtrip(&srv, b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(resp.text(), "fine");
}

/// A long-waiting app learns the client went away through `closed()`, without touching
/// the body (which stays unread).
#[test]
fn disconnect_signal_is_separate_from_body_reads() {
    let seen: Arc<Mutex<Option<(CloseReason, bool)>>> = Arc::default();
    let seen2 = seen.clone();
    let app = move |ex: Exchange| {
        let seen = seen2.clone();
        async move {
            let reason = ex.closed().await;
            // The body was never read, and the signal did not consume any of it.
            *seen.lock().unwrap() = Some((reason, ex.input_done()));
            ex.respond(StatusCode::OK, [("content-type", "text/plain")], "late")
                .await
        }
    };
    let srv = serve(app, config());
    {
        let mut s = srv.connect();
        s.write_all(b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
    } // client goes away
    let t = Instant::now();
    while seen.lock().unwrap().is_none() && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        *seen.lock().unwrap(),
        Some((CloseReason::ClientGone, true)),
        "app should see ClientGone within a second"
    );
    assert!(t.elapsed() < Duration::from_secs(1));
}

/// An app that never reads: the server must not read the upload for it. The client's
/// writes stall once the kernel buffers are full.
#[test]
fn no_read_ahead_for_an_app_that_does_not_read() {
    async fn sleeper(ex: Exchange) -> Result<Outcome> {
        ex.closed().await;
        Err(weir_actors::weir::Error::disconnected())
    }
    let srv = serve(sleeper, config());
    let mut s = srv.connect();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n")
        .unwrap();
    s.set_nonblocking(true).unwrap();
    let buf = vec![0u8; 64 * 1024];
    let mut sent = 0usize;
    let t = Instant::now();
    let mut idle_since = Instant::now();
    while t.elapsed() < Duration::from_secs(10) && idle_since.elapsed() < Duration::from_millis(500)
    {
        match s.write(&buf) {
            Ok(n) => {
                sent += n;
                idle_since = Instant::now();
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("{e}"),
        }
    }
    // Kernel socket buffers on loopback hold a few MiB at most; anything far beyond would
    // mean the server is reading the body into memory.
    assert!(
        sent < 32 << 20,
        "client pushed {sent} bytes into an app that reads nothing"
    );
}

/// A client that does not read: the app's sends stop completing once the connection's
/// buffer and the kernel's are full.
#[test]
fn slow_reader_stalls_the_app_instead_of_growing_memory() {
    let sent = Arc::new(AtomicU64::new(0));
    let sent2 = sent.clone();
    let app = move |mut ex: Exchange| {
        let sent = sent2.clone();
        async move {
            ex.start(
                StatusCode::OK,
                [("content-type", "application/octet-stream")],
            )?;
            let piece = Bytes::from(vec![b'z'; 64 * 1024]);
            loop {
                ex.send(piece.clone()).await?;
                sent.fetch_add(piece.len() as u64, Ordering::Relaxed);
            }
        }
    };
    let srv = serve(app, config());
    let mut s = srv.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    // Never read. Wait for the app to stall.
    let mut last = 0;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        let now = sent.load(Ordering::Relaxed);
        if now == last && now > 0 {
            break;
        }
        last = now;
    }
    let total = sent.load(Ordering::Relaxed);
    assert!(total > 0);
    assert!(
        total < 64 << 20,
        "app produced {total} bytes for a client that reads nothing"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sent.load(Ordering::Relaxed), total, "app kept producing");
}

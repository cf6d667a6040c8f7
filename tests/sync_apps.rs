//! Blocking apps on the pool: PEP 3333-style apps through the bridge (blocking `Read` and
//! `BufRead` input, `start_response` with restart, the legacy `write`), sync and async
//! middleware composition, the bounded pool queue (503 + Retry-After) while async requests
//! stay fast, panics, backpressure toward slow clients, and delegated blocking calls.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{config, read_response, roundtrip, serve};
use weir_actors::weir::blocking::{
    add_header, bridge, content_length, Input, ResponseBody, StartResponse,
};
use weir_actors::weir::{App, Bytes, Exchange, Outcome, Request, Result, StatusCode};

/// Counts lines and bytes with `read_line`, like the `mixed` example's legacy app.
fn lines_app(
    _req: &mut Request,
    input: &mut Input,
    start: &mut StartResponse,
) -> Result<ResponseBody> {
    let (mut lines, mut bytes) = (0, 0);
    let mut line = String::new();
    while {
        line.clear();
        input.read_line(&mut line)? > 0
    } {
        lines += 1;
        bytes += line.len();
    }
    start.start(StatusCode::OK, [("content-type", "text/plain")])?;
    Ok(ResponseBody::once(format!("lines={lines} bytes={bytes}")))
}

#[test]
fn sync_app_reads_lines_of_a_chunked_body_to_a_clean_end() {
    let srv = serve(bridge(lines_app), config());
    let resp = roundtrip(
        &srv,
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
          4\r\none\n\r\n6\r\ntwo\nth\r\n4\r\nree\n\r\n2\r\nfo\r\n0\r\n\r\n",
    );
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "lines=4 bytes=16");
}

#[test]
fn sync_input_stops_at_the_end_of_the_request() {
    let srv = serve(bridge(lines_app), config());
    let mut s = srv.connect();
    // Two pipelined requests: the blocking reader must see only the first body.
    s.write_all(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\na\nb\nc\n\
          POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nz\n",
    )
    .unwrap();
    let mut r = BufReader::new(s);
    assert_eq!(
        read_response(&mut r, false).unwrap().text(),
        "lines=3 bytes=6"
    );
    assert_eq!(
        read_response(&mut r, false).unwrap().text(),
        "lines=1 bytes=2"
    );
}

#[test]
fn sync_read_to_end_of_a_large_body() {
    fn sum(_: &mut Request, input: &mut Input, start: &mut StartResponse) -> Result<ResponseBody> {
        let mut all = Vec::new();
        input.read_to_end(&mut all)?;
        let total: u64 = all.iter().map(|&b| b as u64).sum();
        start.start(StatusCode::OK, [("content-type", "text/plain")])?;
        Ok(ResponseBody::once(format!("{} {}", all.len(), total)))
    }
    let srv = serve(bridge(sum), config());
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let expect: u64 = body.iter().map(|&b| b as u64).sum();
    let mut s = srv.connect();
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(&body).unwrap();
    let mut r = BufReader::new(s);
    assert_eq!(
        read_response(&mut r, false).unwrap().text(),
        format!("{} {expect}", body.len())
    );
}

#[test]
fn legacy_write_and_restart_semantics() {
    fn app(req: &mut Request, _: &mut Input, start: &mut StartResponse) -> Result<ResponseBody> {
        start.start(StatusCode::OK, [("x-first", "1")])?;
        // exc_info: replace the head before any body bytes went out.
        start.restart(StatusCode::CREATED, [("x-second", "1")])?;
        if req.path() == "/write" {
            start.write("via write; ")?;
            let late = start.restart(StatusCode::OK, [("x-third", "1")]).is_err();
            return Ok(ResponseBody::once(format!("late_restart_refused={late}")));
        }
        Ok(ResponseBody::chunks(vec![
            Ok(Bytes::from("a")),
            Ok(Bytes::from("b")),
        ]))
    }
    let srv = serve(bridge(app), config());
    let resp = roundtrip(&srv, b"GET /write HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(resp.status, 201);
    assert_eq!(resp.header("x-first"), None);
    assert_eq!(resp.header("x-second"), Some("1"));
    assert_eq!(resp.text(), "via write; late_restart_refused=true");
    let resp = roundtrip(&srv, b"GET /iter HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(resp.text(), "ab");
    assert_eq!(resp.header("transfer-encoding"), Some("chunked"));
}

#[test]
fn sync_middleware_and_async_middleware_compose() {
    let inner = bridge(add_header(
        content_length(lines_app, 1 << 16),
        "x-middleware",
        "sync",
    ));
    // Async-aware middleware on top: it may answer by itself or pass the exchange down.
    let app = move |ex: Exchange| {
        let inner = inner.clone();
        async move {
            if ex.request().headers().get("x-deny").is_some() {
                return ex
                    .respond(StatusCode::FORBIDDEN, [("x-middleware", "async")], "denied")
                    .await;
            }
            inner.call(ex).await
        }
    };
    let srv = serve(app, config());
    let resp = roundtrip(
        &srv,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab\nc",
    );
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("x-middleware"), Some("sync"));
    assert_eq!(resp.header("content-length"), Some("15"));
    assert_eq!(resp.header("transfer-encoding"), None);
    assert_eq!(resp.text(), "lines=2 bytes=4");
    let resp = roundtrip(&srv, b"GET / HTTP/1.1\r\nHost: x\r\nX-Deny: 1\r\n\r\n");
    assert_eq!(resp.status, 403);
    assert_eq!(resp.header("x-middleware"), Some("async"));
}

fn sleepy(req: &mut Request, _: &mut Input, start: &mut StartResponse) -> Result<ResponseBody> {
    let ms: u64 = req
        .query_param("ms")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    std::thread::sleep(Duration::from_millis(ms));
    start.start(StatusCode::OK, [("content-type", "text/plain")])?;
    Ok(ResponseBody::once("slept"))
}

/// Pool of 2 with a queue of 1: 3 sleeping jobs are accepted, the 4th gets 503 with
/// Retry-After, and async requests on other connections still answer promptly.
#[test]
fn full_pool_answers_503_and_async_requests_stay_fast() {
    let sync = bridge(sleepy);
    let app = move |ex: Exchange| {
        let sync = sync.clone();
        async move {
            if ex.request().path() == "/async" {
                return ex
                    .respond(StatusCode::OK, [("content-type", "text/plain")], "quick")
                    .await;
            }
            sync.call(ex).await
        }
    };
    let mut cfg = config();
    cfg.pool_threads = 2;
    cfg.pool_queue = 1;
    let srv = serve(app, cfg);
    let mut busy = Vec::new();
    for _ in 0..3 {
        let mut s = srv.connect();
        s.write_all(b"GET /sync?ms=1500 HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        busy.push(s);
    }
    std::thread::sleep(Duration::from_millis(200));
    let over = roundtrip(&srv, b"GET /sync?ms=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(over.status, 503);
    assert_eq!(over.header("retry-after"), Some("1"));
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        let t = Instant::now();
        let resp = roundtrip(&srv, b"GET /async HTTP/1.1\r\nHost: x\r\n\r\n");
        worst = worst.max(t.elapsed());
        assert_eq!(resp.text(), "quick");
    }
    assert!(
        worst < Duration::from_millis(250),
        "async p100 {worst:?} while the pool was full"
    );
    for s in busy {
        let mut r = BufReader::new(s);
        assert_eq!(read_response(&mut r, false).unwrap().text(), "slept");
    }
}

#[test]
fn sync_panic_gives_500_and_pool_keeps_its_size() {
    fn app(
        req: &mut Request,
        input: &mut Input,
        start: &mut StartResponse,
    ) -> Result<ResponseBody> {
        if req.path() == "/panic" {
            panic!("sync boom");
        }
        if req.path() == "/panic-late" {
            start.start(StatusCode::OK, [("content-type", "text/plain")])?;
            start.write("partial")?;
            panic!("late boom");
        }
        sleepy(req, input, start)
    }
    let mut cfg = config();
    cfg.pool_threads = 2;
    cfg.pool_queue = 0;
    let srv = serve(bridge(app), cfg);
    for _ in 0..5 {
        let resp = roundtrip(&srv, b"GET /panic HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(resp.status, 500);
    }
    // Panic after bytes were sent: the connection is closed, the response incomplete.
    let mut s = srv.connect();
    s.write_all(b"GET /panic-late HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw);
    assert!(
        raw.contains("partial") && !raw.ends_with("0\r\n\r\n"),
        "{raw}"
    );
    // Both threads still there: two 400 ms jobs at once take ~400 ms, not ~800 ms, and
    // neither is refused (queue 0).
    let t = Instant::now();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let addr = srv.addr;
            std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.write_all(b"GET /ok?ms=400 HTTP/1.1\r\nHost: x\r\n\r\n")
                    .unwrap();
                read_response(&mut BufReader::new(s), false).unwrap().status
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 200);
    }
    assert!(
        t.elapsed() < Duration::from_millis(750),
        "{:?}",
        t.elapsed()
    );
}

/// A client that does not read blocks the sync thread's writes instead of growing memory.
#[test]
fn slow_client_blocks_the_sync_thread() {
    let written = Arc::new(AtomicU64::new(0));
    let w2 = written.clone();
    let app =
        move |_: &mut Request, _: &mut Input, start: &mut StartResponse| -> Result<ResponseBody> {
            start.start(
                StatusCode::OK,
                [("content-type", "application/octet-stream")],
            )?;
            let piece = Bytes::from(vec![b'q'; 64 * 1024]);
            loop {
                start.write(piece.clone())?;
                w2.fetch_add(piece.len() as u64, Ordering::Relaxed);
            }
        };
    let srv = serve(bridge(app), config());
    let mut s = srv.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut last = u64::MAX;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        let now = written.load(Ordering::Relaxed);
        if now == last {
            break;
        }
        last = now;
    }
    let total = written.load(Ordering::Relaxed);
    assert!(
        total > 0 && total < 64 << 20,
        "sync app wrote {total} bytes to a non-reader"
    );
    drop(s);
}

#[test]
fn delegated_blocking_calls_resume_with_result_or_panic() {
    async fn app(mut ex: Exchange) -> Result<Outcome> {
        let worker = std::thread::current().id();
        let (v, pool_thread) = ex.blocking(|| (6 * 7, std::thread::current().id())).await?;
        let panicked = ex
            .blocking(|| -> u32 { panic!("pool boom") })
            .await
            .map_err(|e| e.is_panic());
        let back_on_worker = std::thread::current().id() == worker;
        ex.respond(
            StatusCode::OK,
            [("content-type", "text/plain")],
            format!(
                "v={v} other_thread={} panicked={panicked:?} back={back_on_worker}",
                pool_thread != worker
            ),
        )
        .await
    }
    let srv = serve(app, config());
    let resp = roundtrip(&srv, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        resp.text(),
        "v=42 other_thread=true panicked=Err(true) back=true"
    );
}

/// Many concurrent delegated sleeps do not delay async requests on other connections.
#[test]
fn blocking_calls_do_not_block_the_worker() {
    async fn app(mut ex: Exchange) -> Result<Outcome> {
        if ex.request().path() == "/block" {
            ex.blocking(|| std::thread::sleep(Duration::from_millis(800)))
                .await?;
        }
        ex.respond(StatusCode::OK, [("content-type", "text/plain")], "ok")
            .await
    }
    let mut cfg = config();
    cfg.pool_threads = 8;
    let srv = serve(app, cfg);
    let mut blocked = Vec::new();
    for _ in 0..8 {
        let mut s = srv.connect();
        s.write_all(b"GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        blocked.push(s);
    }
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    for _ in 0..10 {
        assert_eq!(
            roundtrip(&srv, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").text(),
            "ok"
        );
    }
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    for s in blocked {
        let mut r = BufReader::new(s);
        assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    }
}

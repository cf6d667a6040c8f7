//! Connection management over a real socket: keep-alive defaults, `Connection: close`,
//! HTTP/1.0 with and without keep-alive, pipelining in order, and no Nagle stalls.

mod support;

use std::io::{BufReader, Write};
use std::time::{Duration, Instant};

use support::{config, is_closed, read_response, serve};
use weir_actors::weir::{Bytes, Exchange, Outcome, Result, StatusCode};

/// Answers with the request path, so pipelined answers can be matched to requests.
async fn path_app(mut ex: Exchange) -> Result<Outcome> {
    ex.discard_body().await?;
    let path = ex.request().path().to_owned();
    ex.respond(StatusCode::OK, [("content-type", "text/plain")], path)
        .await
}

#[test]
fn http11_keeps_alive_by_default() {
    let srv = serve(path_app, config());
    let mut s = srv.connect();
    let mut r = BufReader::new(s.try_clone().unwrap());
    for i in 0..3 {
        write!(s, "GET /n{i} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let resp = read_response(&mut r, false).unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.text(), format!("/n{i}"));
        assert_eq!(resp.header("connection"), None);
    }
}

#[test]
fn connection_close_is_honoured() {
    let srv = serve(path_app, config());
    let mut s = srv.connect();
    s.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(is_closed(&mut r));
}

#[test]
fn http10_closes_without_keep_alive() {
    let srv = serve(path_app, config());
    let mut s = srv.connect();
    s.write_all(b"GET /a HTTP/1.0\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "/a");
    assert!(is_closed(&mut r));
}

#[test]
fn http10_keep_alive_is_honoured() {
    let srv = serve(path_app, config());
    let mut s = srv.connect();
    let mut r = BufReader::new(s.try_clone().unwrap());
    for i in 0..2 {
        write!(s, "GET /k{i} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap();
        let resp = read_response(&mut r, false).unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.text(), format!("/k{i}"));
        assert_eq!(resp.header("connection"), Some("keep-alive"));
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let srv = serve(path_app, config());
    let mut s = srv.connect();
    let mut burst = Vec::new();
    for i in 0..20 {
        // Mix in bodies, so a pipelined request sits behind a body in the buffer.
        if i % 3 == 0 {
            write!(
                burst,
                "POST /p{i} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
            )
            .unwrap();
        } else {
            write!(burst, "GET /p{i} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        }
    }
    s.write_all(&burst).unwrap();
    let mut r = BufReader::new(s);
    for i in 0..20 {
        let resp = read_response(&mut r, false).unwrap();
        assert_eq!(resp.text(), format!("/p{i}"));
    }
}

/// Responses written in many small pieces must not wait on delayed ACKs (~40 ms each with
/// Nagle's algorithm on): the server sets TCP_NODELAY on accepted sockets.
#[test]
fn small_writes_do_not_stall() {
    async fn ticks(mut ex: Exchange) -> Result<Outcome> {
        ex.start(StatusCode::OK, [("content-type", "text/plain")])?;
        for i in 0..20 {
            ex.send(format!("t{i}\n")).await?;
        }
        ex.end(Bytes::new()).await
    }
    let srv = serve(ticks, config());
    let mut s = srv.connect();
    let mut r = BufReader::new(s.try_clone().unwrap());
    // Warm up (first request may include connection setup costs).
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    read_response(&mut r, false).unwrap();
    let t = Instant::now();
    for _ in 0..5 {
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let resp = read_response(&mut r, false).unwrap();
        assert_eq!(resp.text().lines().count(), 20);
    }
    // 100 small writes; with Nagle on they would take seconds.
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        t.elapsed()
    );
}

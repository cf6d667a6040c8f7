//! Connection management over a real socket: keep-alive defaults, `Connection: close`,
//! HTTP/1.0 with and without keep-alive, and pipelining in order. (`TCP_NODELAY`, which
//! keeps small writes from stalling, is checked on the socket itself in `actors/src/io.rs`.)

mod support;

use std::io::{BufReader, Write};

use support::{config, is_closed, read_response, serve};
use weir_actors::weir::{Exchange, Outcome, Result, StatusCode};

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

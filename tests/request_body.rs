//! Request bodies over a real socket: Content-Length and chunked (extensions, trailers),
//! `Expect: 100-continue` sent only on the first read, draining an unread remainder, and
//! the next request never read from inside a body.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::time::Duration;

use support::{config, is_closed, read_response, roundtrip, serve};
use weir_actors::weir::{Exchange, Outcome, Result, StatusCode};

/// Answers `len=N body=<text>` after reading the whole body.
async fn len_app(mut ex: Exchange) -> Result<Outcome> {
    let body = ex.read_to_end(1 << 20).await?;
    let text = format!("len={} body={}", body.len(), String::from_utf8_lossy(&body));
    ex.respond(StatusCode::OK, [("content-type", "text/plain")], text)
        .await
}

/// Answers at once without reading the body.
async fn no_read_app(ex: Exchange) -> Result<Outcome> {
    ex.respond(StatusCode::OK, [("content-type", "text/plain")], "ignored")
        .await
}

#[test]
fn content_length_body() {
    let srv = serve(len_app, config());
    let resp = roundtrip(
        &srv,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world",
    );
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "len=11 body=hello world");
}

#[test]
fn chunked_body_with_extensions_and_trailers() {
    let srv = serve(len_app, config());
    let resp = roundtrip(
        &srv,
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
          5;name=value\r\nhello\r\n1 ; a=\"quoted ext\"\r\n \r\n\
          5\r\nworld\r\n0\r\nX-Trailer: yes\r\nX-Other: 1\r\n\r\n",
    );
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "len=11 body=hello world");
}

#[test]
fn chunked_body_split_byte_by_byte() {
    let srv = serve(len_app, config());
    let mut s = srv.connect();
    let raw = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
                3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n";
    for b in raw {
        s.write_all(&[*b]).unwrap();
    }
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.text(), "len=7 body=abcdefg");
}

#[test]
fn expect_continue_is_sent_on_first_read() {
    let srv = serve(len_app, config());
    let mut s = srv.connect();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "HTTP/1.1 100 Continue\r\n");
    line.clear();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "\r\n");
    s.write_all(b"ping").unwrap();
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.text(), "len=4 body=ping");
}

#[test]
fn expect_continue_not_sent_when_app_does_not_read() {
    let srv = serve(no_read_app, config());
    let mut s = srv.connect();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    let mut first = String::new();
    r.read_line(&mut first).unwrap();
    assert_eq!(first, "HTTP/1.1 200 OK\r\n");
    // The body was never asked for, so the client may never send it: the server closes
    // rather than wait to drain it.
    let mut rest = Vec::new();
    let _ = r.read_to_end(&mut rest);
    let rest = String::from_utf8_lossy(&rest);
    assert!(rest.contains("connection: close"), "{rest}");
    assert!(rest.ends_with("ignored"));
}

#[test]
fn unread_body_is_drained_and_connection_reused() {
    let srv = serve(no_read_app, config());
    let mut s = srv.connect();
    let body = vec![b'x'; 100_000];
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(&body).unwrap();
    s.write_all(b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    let second = read_response(&mut r, false).unwrap();
    assert_eq!(second.status, 200);
    assert_eq!(second.header("connection"), None);
}

#[test]
fn unread_body_over_drain_limit_closes() {
    let mut cfg = config();
    cfg.drain_limit = 1024;
    let srv = serve(no_read_app, cfg);
    let mut s = srv.connect();
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"
    )
    .unwrap();
    s.write_all(&[b'x'; 4096]).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    r.get_ref()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // Keep feeding body; the server must close instead of draining a megabyte.
    let _ = s.write_all(&[b'x'; 8192]);
    assert!(is_closed(&mut r));
}

/// A body that looks like a request must be treated as body, never as the next request.
#[test]
fn next_request_is_not_read_from_inside_a_body() {
    let srv = serve(len_app, config());
    let mut s = srv.connect();
    let inner = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    write!(
        s,
        "POST /outer HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{inner}GET /next HTTP/1.1\r\nHost: x\r\n\r\n",
        inner.len()
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let first = read_response(&mut r, false).unwrap();
    assert_eq!(first.text(), format!("len={} body={inner}", inner.len()));
    let second = read_response(&mut r, false).unwrap();
    assert!(second.text().starts_with("len=0"), "{}", second.text());
}

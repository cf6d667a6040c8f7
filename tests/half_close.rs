//! Clients that send whole requests and then shut their write side (`shutdown(SHUT_WR)`, as
//! `nc -N`, HTTP/1.0-style scripts and some health checkers do): by default they are treated
//! as gone; with `Config::half_close` they get every answer.

mod support;

use std::io::{BufReader, Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use support::{config, is_closed, read_response, serve};
use weir_actors::weir::{Bytes, Exchange, Outcome, Result, StatusCode};
use weir_actors::Config;

/// `/slow` answers after a timer (so not in the read pass that saw the request), `/big`
/// streams 10 MB, anything else answers its path at once.
async fn app(mut ex: Exchange) -> Result<Outcome> {
    ex.discard_body().await?;
    let path = ex.request().path().to_owned();
    match path.as_str() {
        "/slow" => {
            actix_rt::time::sleep(Duration::from_millis(150)).await;
            ex.respond(StatusCode::OK, [("x", "y")], "slow").await
        }
        "/big" => {
            let total = 10 * 1024 * 1024;
            let len = total.to_string();
            ex.start(StatusCode::OK, [("content-length", len.as_str())])?;
            let piece = Bytes::from(vec![b'b'; 64 * 1024]);
            for _ in 1..total / piece.len() {
                ex.send(piece.clone()).await?;
            }
            ex.end(piece).await
        }
        _ => ex.respond(StatusCode::OK, [("x", "y")], path).await,
    }
}

fn half_close() -> Config {
    Config {
        half_close: true,
        ..config()
    }
}

/// Send `raw`, shut the write side, read until the server closes.
fn send_and_half_close(srv: &support::TestServer, raw: &[u8]) -> Vec<u8> {
    let mut s = srv.connect();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(raw).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

#[test]
fn by_default_a_half_closed_client_is_gone() {
    let srv = serve(app, config());
    let out = send_and_half_close(&srv, b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(out.is_empty(), "got {}", String::from_utf8_lossy(&out));
}

#[test]
fn with_half_close_a_slow_answer_still_arrives() {
    let srv = serve(app, half_close());
    let out = send_and_half_close(&srv, b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    let resp = read_response(&mut BufReader::new(&out[..]), false).unwrap();
    assert_eq!((resp.status, resp.text().as_str()), (200, "slow"));
}

#[test]
fn with_half_close_every_pipelined_request_is_answered_in_order() {
    let srv = serve(app, half_close());
    let out = send_and_half_close(
        &srv,
        b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\nPOST /three HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
    );
    let mut r = BufReader::new(&out[..]);
    for want in ["slow", "/two", "/three"] {
        let resp = read_response(&mut r, false).unwrap();
        assert_eq!((resp.status, resp.text().as_str()), (200, want));
    }
    assert!(is_closed(&mut r));
}

#[test]
fn with_half_close_a_large_response_is_not_cut() {
    let srv = serve(app, half_close());
    let out = send_and_half_close(&srv, b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    let resp = read_response(&mut BufReader::new(&out[..]), false).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body.len(), 10 * 1024 * 1024);
}

#[test]
fn with_half_close_a_partial_request_still_closes_at_once() {
    let srv = serve(app, half_close());
    // A head that never completes, and a body that never completes.
    for raw in [
        &b"GET /slow HTTP/1.1\r\nHost: x\r\n"[..],
        &b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"[..],
    ] {
        let out = send_and_half_close(&srv, raw);
        let text = String::from_utf8_lossy(&out);
        assert!(
            !text.contains("200 OK"),
            "answered a partial request: {text}"
        );
    }
}

//! Response framing decided by the server from what the app sends, checked on the raw bytes:
//! an app Content-Length is honoured exactly (too few bytes: the body then EOF; too many: the
//! first Content-Length bytes then EOF; the server keeps serving), no Content-Length means
//! chunked on HTTP/1.1 and close-delimited on HTTP/1.0, HEAD/204/304 carry no body (and the
//! next pipelined response starts right after the head), and every response — error
//! responses included — carries `date` (IMF-fixdate) and `server`.

mod support;

use std::io::{BufReader, Read, Write};
use std::time::{Duration, SystemTime};

use support::{config, is_closed, read_response, roundtrip, serve, Response, TestServer};
use weir_actors::weir::{Error, Exchange, Outcome, Result, StatusCode};

/// Routes by path; each route frames its response differently.
async fn routes(mut ex: Exchange) -> Result<Outcome> {
    ex.discard_body().await?;
    let path = ex.request().path().to_owned();
    let text = [("content-type", "text/plain")];
    match path.as_str() {
        // Content-Length 11, body in two pieces.
        "/length" => {
            ex.start(
                StatusCode::OK,
                [("content-type", "text/plain"), ("content-length", "11")],
            )?;
            ex.send("hello ").await?;
            ex.end("world").await
        }
        // Content-Length 10, only 5 bytes.
        "/short" => {
            ex.start(StatusCode::OK, [("content-length", "10")])?;
            ex.end("hello").await
        }
        // Content-Length 5, 11 bytes.
        "/long" => {
            ex.start(StatusCode::OK, [("content-length", "5")])?;
            ex.end("hello world").await
        }
        // No Content-Length: the server picks the framing.
        "/unsized" => {
            ex.start(StatusCode::OK, text)?;
            ex.send("abc").await?;
            ex.send("defgh").await?;
            ex.end("").await
        }
        // A body the status forbids: the server must drop it.
        "/204" => {
            ex.start(StatusCode::NO_CONTENT, [("content-length", "4")])?;
            ex.end("oops").await
        }
        "/304" => {
            ex.start(StatusCode::NOT_MODIFIED, [("etag", "\"v1\"")])?;
            ex.end("oops").await
        }
        "/fail" => Err(Error::other("app failure")),
        _ => ex.respond(StatusCode::NOT_FOUND, text, "not found").await,
    }
}

/// Send `raw` on a new connection and read everything until the server closes.
fn raw_until_close(srv: &TestServer, raw: &[u8]) -> (String, Vec<u8>) {
    let mut s = srv.connect();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(raw).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all)
        .expect("server closes (EOF) after the response");
    split_head(&all)
}

/// Split a raw response into head text (without the blank line) and body bytes.
fn split_head(all: &[u8]) -> (String, Vec<u8>) {
    let end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in {:?}", String::from_utf8_lossy(all)));
    let head = String::from_utf8(all[..end].to_vec()).unwrap();
    (head, all[end + 4..].to_vec())
}

/// Value of field `name` in a raw head (lowercase names, as weir writes them).
fn field<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        l.split_once(": ")
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v)
    })
}

/// `date` is an IMF-fixdate close to now, `server` is weir.
fn assert_date_and_server(what: &str, date: Option<&str>, server: Option<&str>) {
    let date = date.unwrap_or_else(|| panic!("{what}: no date"));
    assert_eq!(date.len(), 29, "{what}: date {date:?}");
    assert!(date.ends_with(" GMT"), "{what}: date {date:?}");
    let t = httpdate::parse_http_date(date)
        .unwrap_or_else(|e| panic!("{what}: date {date:?} is not an HTTP-date: {e}"));
    assert_eq!(httpdate::fmt_http_date(t), date, "{what}: not IMF-fixdate");
    let skew = match t.duration_since(SystemTime::now()) {
        Ok(ahead) => ahead,
        Err(behind) => behind.duration(),
    };
    assert!(
        skew < Duration::from_secs(5),
        "{what}: date {date:?} is off by {skew:?}"
    );
    assert_eq!(server, Some("weir"), "{what}");
}

fn assert_date_and_server_resp(what: &str, resp: &Response) {
    assert_date_and_server(what, resp.header("date"), resp.header("server"));
}

#[test]
fn app_content_length_is_honoured() {
    let srv = serve(routes, config());
    let (head, body) = raw_until_close(
        &srv,
        b"GET /length HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(field(&head, "content-length"), Some("11"));
    assert_eq!(field(&head, "transfer-encoding"), None);
    assert_eq!(body, b"hello world");

    // Kept alive, the next response starts right after the 11 bytes.
    let mut s = srv.connect();
    s.write_all(b"GET /length HTTP/1.1\r\nHost: x\r\n\r\nGET /length HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    for i in 0..2 {
        let resp = read_response(&mut r, false).unwrap();
        assert_eq!(
            (resp.status, resp.text().as_str()),
            (200, "hello world"),
            "#{i}"
        );
        assert_eq!(resp.header("connection"), None);
    }
}

/// The app ends its body short of its Content-Length: the client gets the bytes there are,
/// then EOF (it can tell the body was cut), and the server goes on serving.
#[test]
fn too_few_bytes_for_content_length_closes() {
    let srv = serve(routes, config());
    // Keep-alive request: the close comes from the broken body, not from the client.
    let (head, body) = raw_until_close(&srv, b"GET /short HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(field(&head, "content-length"), Some("10"));
    assert_eq!(field(&head, "transfer-encoding"), None);
    assert_eq!(body, b"hello");

    let resp = roundtrip(&srv, b"GET /length HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((resp.status, resp.text().as_str()), (200, "hello world"));
}

/// The app sends more than its Content-Length: exactly Content-Length bytes go out, then the
/// connection closes (a pipelined request behind it is not answered).
#[test]
fn too_many_bytes_for_content_length_are_cut() {
    let srv = serve(routes, config());
    let (head, body) = raw_until_close(
        &srv,
        b"GET /long HTTP/1.1\r\nHost: x\r\n\r\nGET /length HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(field(&head, "content-length"), Some("5"));
    assert_eq!(body, b"hello", "extra bytes or a second response leaked");

    let resp = roundtrip(&srv, b"GET /length HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((resp.status, resp.text().as_str()), (200, "hello world"));
}

#[test]
fn no_content_length_on_http11_is_chunked() {
    let srv = serve(routes, config());
    let (head, body) = raw_until_close(
        &srv,
        b"GET /unsized HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(field(&head, "transfer-encoding"), Some("chunked"));
    assert_eq!(field(&head, "content-length"), None);
    // One chunk per send, no empty chunk for the empty end, then the last-chunk.
    assert_eq!(
        String::from_utf8_lossy(&body),
        "3\r\nabc\r\n5\r\ndefgh\r\n0\r\n\r\n"
    );

    // Kept alive: the chunked body ends where it says, and the connection is reused.
    let mut s = srv.connect();
    s.write_all(b"GET /unsized HTTP/1.1\r\nHost: x\r\n\r\nGET /length HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    let first = read_response(&mut r, false).unwrap();
    assert_eq!(first.text(), "abcdefgh");
    assert_eq!(first.header("connection"), None);
    assert_eq!(read_response(&mut r, false).unwrap().text(), "hello world");
}

/// HTTP/1.0 has no chunked: without a Content-Length the body ends at EOF, and the server
/// closes even when the client asked for keep-alive.
#[test]
fn no_content_length_on_http10_is_close_delimited() {
    let srv = serve(routes, config());
    for raw in [
        &b"GET /unsized HTTP/1.0\r\n\r\n"[..],
        b"GET /unsized HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    ] {
        let (head, body) = raw_until_close(&srv, raw);
        let what = String::from_utf8_lossy(raw);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{what}: {head}");
        assert_eq!(field(&head, "content-length"), None, "{what}");
        assert_eq!(field(&head, "transfer-encoding"), None, "{what}");
        assert_eq!(field(&head, "connection"), Some("close"), "{what}");
        assert_eq!(body, b"abcdefgh", "{what}");
    }
    // With a Content-Length, HTTP/1.0 keep-alive is honoured.
    let mut s = srv.connect();
    s.write_all(b"GET /length HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.text(), "hello world");
    assert_eq!(resp.header("connection"), Some("keep-alive"));
    s.write_all(b"GET /length HTTP/1.0\r\n\r\n").unwrap();
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.text(), "hello world");
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(is_closed(&mut r));
}

/// HEAD: no body, the app's Content-Length kept, and the pipelined request after it parsed
/// from the right place (a body on the wire would be read as the next status line).
#[test]
fn head_has_no_body_and_keeps_content_length() {
    let srv = serve(routes, config());
    let mut s = srv.connect();
    s.write_all(
        b"HEAD /length HTTP/1.1\r\nHost: x\r\n\r\n\
          HEAD /unsized HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /length HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let all = String::from_utf8(all).unwrap();
    let parts: Vec<&str> = all.split("\r\n\r\n").collect();
    assert_eq!(parts.len(), 4, "{all:?}");

    let (head1, head2, head3, body3) = (parts[0], parts[1], parts[2], parts[3]);
    assert!(head1.starts_with("HTTP/1.1 200 OK\r\n"), "{head1}");
    assert_eq!(field(head1, "content-length"), Some("11"));
    assert_eq!(field(head1, "transfer-encoding"), None);
    // The unsized HEAD: no body and no chunked framing announced for it.
    assert!(head2.starts_with("HTTP/1.1 200 OK\r\n"), "{head2}");
    assert_eq!(field(head2, "content-length"), None);
    assert_eq!(field(head2, "transfer-encoding"), None);
    assert!(head3.starts_with("HTTP/1.1 200 OK\r\n"), "{head3}");
    assert_eq!(body3, "hello world");
}

/// 204 and 304 carry no body even when the app sends one, and 204 no Content-Length.
#[test]
fn no_body_for_204_and_304() {
    let srv = serve(routes, config());
    let mut s = srv.connect();
    s.write_all(
        b"GET /204 HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /304 HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /length HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let all = String::from_utf8(all).unwrap();
    assert!(!all.contains("oops"), "{all:?}");
    let parts: Vec<&str> = all.split("\r\n\r\n").collect();
    assert_eq!(parts.len(), 4, "{all:?}");

    let (h204, h304, head3, body3) = (parts[0], parts[1], parts[2], parts[3]);
    assert!(h204.starts_with("HTTP/1.1 204 No Content\r\n"), "{h204}");
    assert_eq!(
        field(h204, "content-length"),
        None,
        "204 must not carry one"
    );
    assert_eq!(field(h204, "transfer-encoding"), None);
    assert!(h304.starts_with("HTTP/1.1 304 Not Modified\r\n"), "{h304}");
    assert_eq!(field(h304, "etag"), Some("\"v1\""));
    assert_eq!(field(h304, "transfer-encoding"), None);
    assert!(head3.starts_with("HTTP/1.1 200 OK\r\n"), "{head3}");
    assert_eq!(body3, "hello world");
    for (what, head) in [("204", h204), ("304", h304)] {
        assert_date_and_server(what, field(head, "date"), field(head, "server"));
    }
}

/// `date` and `server` on every kind of response: each framing, 1.0 and 1.1, app errors and
/// responses the connection writes itself for bad requests.
#[test]
fn date_and_server_on_every_response() {
    let mut cfg = config();
    cfg.limits.max_head_bytes = 256;
    cfg.limits.max_body_bytes = 4;
    let srv = serve(routes, cfg);
    let cases: &[(&str, &[u8], u16)] = &[
        (
            "content-length",
            b"GET /length HTTP/1.1\r\nHost: x\r\n\r\n",
            200,
        ),
        ("chunked", b"GET /unsized HTTP/1.1\r\nHost: x\r\n\r\n", 200),
        ("http/1.0", b"GET /length HTTP/1.0\r\n\r\n", 200),
        (
            "404 from the app",
            b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n",
            404,
        ),
        (
            "500 from an app error",
            b"GET /fail HTTP/1.1\r\nHost: x\r\n\r\n",
            500,
        ),
        (
            "400 bad head",
            b"GET / HTTP/1.1\r\nBad Name: v\r\n\r\n",
            400,
        ),
        ("400 no host", b"GET / HTTP/1.1\r\n\r\n", 400),
        ("505", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        (
            "501",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            501,
        ),
        (
            "413 from the body",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
            413,
        ),
    ];
    for &(what, raw, status) in cases {
        let resp = roundtrip(&srv, raw);
        assert_eq!(resp.status, status, "{what}: {:?}", resp.text());
        assert_date_and_server_resp(what, &resp);
    }
    // 431: the head is over the limit.
    let mut big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
    big.resize(300, b'p');
    big.extend_from_slice(b"\r\n\r\n");
    let resp = roundtrip(&srv, &big);
    assert_eq!(resp.status, 431);
    assert_date_and_server_resp("431", &resp);
    // HEAD.
    let mut s = srv.connect();
    s.write_all(b"HEAD /length HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let resp = read_response(&mut BufReader::new(s), true).unwrap();
    assert_date_and_server_resp("HEAD", &resp);
}

/// The app's own `date` and `server` are kept rather than doubled.
#[test]
fn app_date_and_server_are_not_duplicated() {
    async fn own(ex: Exchange) -> Result<Outcome> {
        ex.respond(
            StatusCode::OK,
            [
                ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
                ("server", "custom"),
            ],
            "x",
        )
        .await
    }
    let srv = serve(own, config());
    let (head, body) = raw_until_close(
        &srv,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(body, b"x");
    let count = |name: &str| {
        head.lines()
            .filter(|l| l.to_ascii_lowercase().starts_with(&format!("{name}:")))
            .count()
    };
    assert_eq!((count("date"), count("server")), (1, 1), "{head}");
    assert_eq!(field(&head, "date"), Some("Sun, 06 Nov 1994 08:49:37 GMT"));
    assert_eq!(field(&head, "server"), Some("custom"));
}

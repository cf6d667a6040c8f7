//! Request framing errors over a real socket, table-driven: every malformed or over-limit
//! request gets its status (400, 413, 431, 501, 505) with `connection: close`, and the server
//! then closes the connection. Head errors are answered by the connection itself; body errors
//! reach the app through `next()`, which returns them with `?`, and the runtime answers with
//! the error's status. Every limit is tested at its edge: exactly at the limit is accepted
//! (and the connection stays usable for a pipelined request), one byte over is rejected.
//! Also: an error on one connection leaves a concurrent one alone, and the lingering close
//! lets a client that keeps sending read the whole error response instead of a reset, bounded
//! by `linger_limit` and `linger_timeout` (each at its edge).

mod support;

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{config, is_closed, read_response, serve, TestServer};
use weir_actors::Config;

const MAX_HEAD: usize = 1024;
const MAX_HEADERS: usize = 8;
const MAX_BODY: usize = 64;
const MAX_CHUNK_EXT: usize = 16;
const MAX_TRAILER: usize = 32;

/// Small limits, so each edge is cheap to reach.
fn small_limits() -> Config {
    let mut cfg = config();
    cfg.limits.max_head_bytes = MAX_HEAD;
    cfg.limits.max_headers = MAX_HEADERS;
    cfg.limits.max_body_bytes = MAX_BODY as u64;
    cfg.limits.max_chunk_ext_bytes = MAX_CHUNK_EXT;
    cfg.limits.max_trailer_bytes = MAX_TRAILER;
    cfg
}

/// What a row expects.
#[derive(Clone, Copy, Debug)]
enum Want {
    /// This status, `connection: close`, then the server closes.
    Reject(u16),
    /// 200 with `len=N` (the body the app read), and the connection still serves a
    /// pipelined request sent right behind it.
    Accept(usize),
}
use Want::{Accept, Reject};

/// A table row: name, raw request bytes, expectation.
type Case = (&'static str, Vec<u8>, Want);

/// `table![name => bytes, want; ...]`: bytes may be a byte-string literal or a `Vec<u8>`.
macro_rules! table {
    ($($name:expr => $raw:expr, $want:expr;)*) => {
        [$(($name, Vec::from(&$raw[..]), $want)),*]
    };
}

/// Pipelined behind accepted requests: answered only if the previous body was framed right.
const NEXT: &[u8] = b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n";

fn check(srv: &TestServer, raw: &[u8], want: Want) -> std::result::Result<(), String> {
    let mut s = srv.connect();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut out = raw.to_vec();
    if let Accept(_) = want {
        out.extend_from_slice(NEXT);
    }
    s.write_all(&out).map_err(|e| format!("write: {e}"))?;
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r, false).map_err(|e| format!("reading response: {e}"))?;
    match want {
        Reject(status) => {
            if resp.status != status {
                return Err(format!(
                    "status {} ({:?}), want {status}",
                    resp.status,
                    resp.text()
                ));
            }
            if resp.header("connection") != Some("close") {
                return Err(format!("no `connection: close`: {:?}", resp.headers));
            }
            if !is_closed(&mut r) {
                return Err("connection still open after the error response".into());
            }
        }
        Accept(len) => {
            if resp.status != 200 || resp.text() != format!("len={len}") {
                return Err(format!(
                    "got {} {:?}, want 200 len={len}",
                    resp.status,
                    resp.text()
                ));
            }
            if resp.header("connection") == Some("close") {
                return Err("accepted request closed the connection".into());
            }
            let next = read_response(&mut r, false).map_err(|e| format!("pipelined: {e}"))?;
            if next.status != 200 || next.text() != "len=0" {
                return Err(format!("pipelined got {} {:?}", next.status, next.text()));
            }
        }
    }
    Ok(())
}

/// Run every row (each on a new connection) and report all failures together.
fn run(srv: &TestServer, cases: &[Case]) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(name, raw, want)| {
            check(srv, raw, *want).err().map(|e| {
                format!(
                    "{name} [{want:?}]: {e}\n    sent {:?}",
                    String::from_utf8_lossy(&raw[..raw.len().min(200)])
                )
            })
        })
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

fn run_table(cases: &[Case]) {
    let srv = serve(support::discard_len_app, small_limits());
    run(&srv, cases);
}

#[test]
fn malformed_request_line_is_400() {
    run_table(&table![
        "garbage" => b"garbage\r\n\r\n", Reject(400);
        "no version" => b"GET /\r\nHost: x\r\n\r\n", Reject(400);
        "junk after version" => b"GET / HTTP/1.1 x\r\nHost: x\r\n\r\n", Reject(400);
        "two spaces" => b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", Reject(400);
        "lowercase protocol" => b"GET / http/1.1\r\nHost: x\r\n\r\n", Reject(400);
        "not a version" => b"GET / HTXP/1.1\r\nHost: x\r\n\r\n", Reject(400);
        "method not a token" => b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n", Reject(400);
        "fragment in target" => b"GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", Reject(400);
        "bare CR ends request line" => b"GET / HTTP/1.1\rHost: x\r\n\r\n", Reject(400);
        "well-formed control" => b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", Accept(0);
    ]);
}

#[test]
fn malformed_header_is_400() {
    run_table(&table![
        "no colon" => b"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", Reject(400);
        "space before colon" => b"GET / HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n", Reject(400);
        "tab before colon" => b"GET / HTTP/1.1\r\nHost: x\r\nX-A\t: b\r\n\r\n", Reject(400);
        "empty name" => b"GET / HTTP/1.1\r\nHost: x\r\n: b\r\n\r\n", Reject(400);
        "bad name byte" => b"GET / HTTP/1.1\r\nHost: x\r\nX(A: b\r\n\r\n", Reject(400);
        "obs-fold (space)" => b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", Reject(400);
        "obs-fold (tab)" => b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n", Reject(400);
        "bare CR in value" => b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", Reject(400);
        "bare CR ends field line" => b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\r\n\r\n", Reject(400);
        // A bare LF: rejected as such by default (RFC 9112 §2.2, `allow_bare_lf`), and were it
        // taken as a line end, `b` would be a field line without a colon.
        "LF in value" => b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\nb\r\n\r\n", Reject(400);
        "NUL in value" => b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", Reject(400);
        "DEL in value" => b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n", Reject(400);
        "ordinary fields" => b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a b\tc\r\n\r\n", Accept(0);
    ]);
}

#[test]
fn content_length_rules() {
    run_table(&table![
        "CL with TE" =>
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n\
              5\r\nhello\r\n0\r\n\r\n", Reject(400);
        "TE with CL" =>
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n\
              5\r\nhello\r\n0\r\n\r\n", Reject(400);
        "differing CL lines" =>
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            Reject(400);
        "differing CL list" =>
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!", Reject(400);
        // RFC 9112 §6.3 item 5 lets a recipient reject these even when the values agree, and
        // we do: a front end that collapses them and one that does not would desync.
        "identical CL lines" =>
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
            Reject(400);
        "identical CL lines, apart" =>
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\nHost: x\r\ncontent-length: 5\r\n\r\nhello",
            Reject(400);
        "identical CL list" =>
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello", Reject(400);
        "identical CL list, no space" =>
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5,5\r\n\r\nhello", Reject(400);
        "single CL" => b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", Accept(5);
        "CL +5" => b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello", Reject(400);
        "CL -1" => b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", Reject(400);
        "CL 0x10" =>
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n0123456789abcdef",
            Reject(400);
        "CL 1_0" => b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1_0\r\n\r\n0123456789", Reject(400);
        "CL overflows u64" =>
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            Reject(400);
        "CL empty" => b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n", Reject(400);
        "CL 5.0" => b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5.0\r\n\r\nhello", Reject(400);
        "CL leading zeros" =>
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 005\r\n\r\nhello", Accept(5);
    ]);
}

/// Requests with a bare LF (an LF without CR before it) as a line end, in the head and in
/// chunked framing, with the body length the app reads when they are accepted.
fn bare_lf_cases() -> Vec<Case> {
    const TE: &[u8] = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    let chunked = |body: &[u8]| [TE, body].concat();
    table![
        "every head line" => b"GET / HTTP/1.1\nHost: x\n\n", Accept(0);
        "request line" => b"GET / HTTP/1.1\nHost: x\r\n\r\n", Accept(0);
        "between header lines" => b"GET / HTTP/1.1\r\nHost: x\nX-A: a\r\n\r\n", Accept(0);
        "CRLF then LF ends the head" => b"GET / HTTP/1.1\r\nHost: x\r\n\n", Accept(0);
        "leading empty line" => b"\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", Accept(0);
        "head with CL body" =>
            b"POST / HTTP/1.1\nHost: x\nContent-Length: 5\n\nhello", Accept(5);
        "chunk-size line" => chunked(b"5\nhello\r\n0\r\n\r\n"), Accept(5);
        "after chunk data" => chunked(b"5\r\nhello\n0\r\n\r\n"), Accept(5);
        "trailer line" => chunked(b"5\r\nhello\r\n0\r\nX: y\n\r\n"), Accept(5);
        "final empty line" => chunked(b"5\r\nhello\r\n0\r\n\n"), Accept(5);
    ]
    .to_vec()
}

/// RFC 9112 §2.2 only lets a recipient accept a bare LF; by default (`allow_bare_lf: false`)
/// every one of them is a 400 and the connection is closed, so a front end that reads line
/// ends differently cannot smuggle a request past us.
#[test]
fn bare_lf_is_400_by_default() {
    let cases: Vec<Case> = bare_lf_cases()
        .into_iter()
        .map(|(name, raw, _)| (name, raw, Reject(400)))
        .chain(table![
            "CRLF control" => b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", Accept(0);
            "LF inside chunk data is data" =>
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\na\nb\r\n0\r\n\r\n",
                Accept(3);
        ])
        .collect();
    run_table(&cases);

    // The reason is in the error body.
    let srv = serve(support::discard_len_app, small_limits());
    let mut s = srv.connect();
    s.write_all(b"GET / HTTP/1.1\nHost: x\n\n").unwrap();
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.status, 400);
    assert_eq!(resp.text(), "bare LF line ending (CRLF required)\n");
    assert!(is_closed(&mut r));
}

/// With `allow_bare_lf: true` the same bytes are served (and the connection stays usable);
/// a bare CR is still a 400, whatever the setting.
#[test]
fn bare_lf_is_served_when_allowed() {
    let mut cfg = small_limits();
    cfg.limits.allow_bare_lf = true;
    let srv = serve(support::discard_len_app, cfg);
    let mut cases = bare_lf_cases();
    cases.extend(table![
        "bare CR ends request line" => b"GET / HTTP/1.1\rHost: x\r\n\r\n", Reject(400);
        "bare CR in value" => b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", Reject(400);
        "CL list still rejected" =>
            b"POST / HTTP/1.1\nHost: x\nContent-Length: 5, 5\n\nhello", Reject(400);
    ]);
    run(&srv, &cases);
}

#[test]
fn transfer_encoding_rules() {
    run_table(&table![
        // RFC 9112 §6.3 item 4: chunked not final, so the body length cannot be determined:
        // the server MUST answer 400 (this MUST wins over §6.1's SHOULD-501 for an unknown
        // coding).
        "TE gzip" =>
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nhello", Reject(400);
        "TE chunked, gzip" =>
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", Reject(400);
        "TE chunked twice" =>
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            Reject(400);
        // RFC 9112 §6.1: framing sound, coding not understood: 501.
        "TE gzip, chunked" =>
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
              5\r\nhello\r\n0\r\n\r\n", Reject(501);
        "TE gzip then chunked lines" =>
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n\
              0\r\n\r\n", Reject(501);
        "TE in HTTP/1.0" =>
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            Reject(400);
        "TE chunked, any case" =>
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: CHUNKED\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            Accept(5);
    ]);
}

#[test]
fn unsupported_versions_are_505() {
    run_table(&table![
        "HTTP/2.0" => b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", Reject(505);
        "HTTP/1.2" => b"GET / HTTP/1.2\r\nHost: x\r\n\r\n", Reject(505);
        "HTTP/0.9 style" => b"GET / HTTP/0.9\r\nHost: x\r\n\r\n", Reject(505);
        "HTTP/1.0" => b"GET / HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n", Accept(0);
    ]);
}

#[test]
fn host_rules() {
    run_table(&table![
        "1.1 without Host" => b"GET / HTTP/1.1\r\n\r\n", Reject(400);
        "1.1 with two Host lines" => b"GET / HTTP/1.1\r\nHost: x\r\nHost: x\r\n\r\n", Reject(400);
        "1.1 with two differing Hosts" => b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", Reject(400);
        "1.0 with two Host lines" => b"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", Reject(400);
        "Host with a space" => b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", Reject(400);
        "Host with userinfo" => b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", Reject(400);
        "1.0 without Host" => b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", Accept(0);
        "1.1 with host:port" => b"GET / HTTP/1.1\r\nHost: a:8080\r\n\r\n", Accept(0);
    ]);
}

/// A request head of exactly `len` bytes: request line, Host, one padding field.
fn head_of_len(len: usize) -> Vec<u8> {
    let mut head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
    assert!(len >= head.len() + 4);
    head.resize(len - 4, b'p');
    head.extend_from_slice(b"\r\n\r\n");
    assert_eq!(head.len(), len);
    head
}

#[test]
fn head_size_limit_edge() {
    let mut unterminated = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
    unterminated.resize(2 * MAX_HEAD, b'p');
    run_table(&table![
        "head exactly max_head_bytes" => head_of_len(MAX_HEAD), Accept(0);
        "head one over max_head_bytes" => head_of_len(MAX_HEAD + 1), Reject(431);
        "head far over max_head_bytes" => head_of_len(4 * MAX_HEAD), Reject(431);
        // Never ends: rejected once past the limit, without waiting for a timeout.
        "unterminated head past the limit" => unterminated, Reject(431);
        "empty lines before the request line count" =>
            [vec![b'\n'; MAX_HEAD + 1], head_of_len(64)].concat(), Reject(431);
    ]);
}

/// A head with `n` field lines: Host and `n - 1` others.
fn head_with_fields(n: usize) -> Vec<u8> {
    let mut head = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for i in 1..n {
        head.push_str(&format!("X-{i}: v\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

#[test]
fn header_count_limit_edge() {
    run_table(&table![
        "exactly max_headers" => head_with_fields(MAX_HEADERS), Accept(0);
        "one over max_headers" => head_with_fields(MAX_HEADERS + 1), Reject(431);
        "duplicates count too" =>
            [
                &b"GET / HTTP/1.1\r\nHost: x\r\n"[..],
                &b"X: v\r\n".repeat(MAX_HEADERS),
                b"\r\n",
            ].concat(), Reject(431);
    ]);
}

fn cl_request(len: usize) -> Vec<u8> {
    let mut r = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n").into_bytes();
    r.resize(r.len() + len, b'b');
    r
}

/// A chunked request with one chunk per entry of `sizes`.
fn chunked_request(sizes: &[usize]) -> Vec<u8> {
    let mut r = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for &n in sizes {
        r.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        r.resize(r.len() + n, b'c');
        r.extend_from_slice(b"\r\n");
    }
    r.extend_from_slice(b"0\r\n\r\n");
    r
}

/// Body limit errors surface to the app through `next()`; the app returns them with `?`
/// and the runtime answers with the error's status, 413.
#[test]
fn body_size_limit_edge() {
    run_table(&table![
        "CL exactly max_body_bytes" => cl_request(MAX_BODY), Accept(MAX_BODY);
        "CL one over max_body_bytes" => cl_request(MAX_BODY + 1), Reject(413);
        "chunked exactly max_body_bytes, one chunk" => chunked_request(&[MAX_BODY]), Accept(MAX_BODY);
        "chunked exactly max_body_bytes, two chunks" =>
            chunked_request(&[MAX_BODY / 2, MAX_BODY / 2]), Accept(MAX_BODY);
        "chunked one over, one chunk" => chunked_request(&[MAX_BODY + 1]), Reject(413);
        "chunked one over, two chunks" =>
            chunked_request(&[MAX_BODY / 2, MAX_BODY / 2 + 1]), Reject(413);
        "chunked one over, last chunk one byte" => chunked_request(&[MAX_BODY, 1]), Reject(413);
        "chunk size of 16 hex digits" =>
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabc",
            Reject(413);
    ]);
}

/// Chunk-size errors surface to the app through `next()` and are answered 400.
#[test]
fn bad_chunk_size_is_400() {
    const HEAD: &[u8] = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    let with = |body: &[u8]| [HEAD, body].concat();
    run_table(&table![
        "size then space" => with(b"5 \r\nhello\r\n0\r\n\r\n"), Reject(400);
        "size +5" => with(b"+5\r\nhello\r\n0\r\n\r\n"), Reject(400);
        "size 0x5" => with(b"0x5\r\nhello\r\n0\r\n\r\n"), Reject(400);
        "size 5; (empty extension)" => with(b"5;\r\nhello\r\n0\r\n\r\n"), Reject(400);
        "size missing" => with(b"\r\nhello\r\n0\r\n\r\n"), Reject(400);
        "size not hex" => with(b"g\r\nhello\r\n0\r\n\r\n"), Reject(400);
        "17 hex digits (2^64)" => with(b"10000000000000000\r\nhello\r\n0\r\n\r\n"), Reject(400);
        "17 hex digits (all f)" => with(b"fffffffffffffffff\r\nhello\r\n0\r\n\r\n"), Reject(400);
        "20 hex digits" => with(b"ffffffffffffffffffff\r\nhello\r\n0\r\n\r\n"), Reject(400);
        "data longer than size" => with(b"5\r\nhello!\r\n0\r\n\r\n"), Reject(400);
        "second chunk bad" => with(b"5\r\nhello\r\nz\r\nhello\r\n0\r\n\r\n"), Reject(400);
        "uppercase hex" => with(b"A\r\n0123456789\r\n0\r\n\r\n"), Accept(10);
        "size with extension" => with(b"5;a=b\r\nhello\r\n0\r\n\r\n"), Accept(5);
    ]);
}

/// A chunked body with one 5-byte chunk whose size line carries `ext` (the bytes between the
/// size and the CRLF, which is what `max_chunk_ext_bytes` counts).
fn chunk_with_ext(ext: &str) -> Vec<u8> {
    format!(
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5{ext}\r\nhello\r\n0\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn chunk_extension_limit_edge() {
    let name_of = |n: usize| format!(";{}", "e".repeat(n - 1));
    let value_of = |n: usize| format!(";n={}", "v".repeat(n - 3));
    let (at, over) = (MAX_CHUNK_EXT, MAX_CHUNK_EXT + 1);
    run_table(&table![
        "ext name exactly max_chunk_ext_bytes" => chunk_with_ext(&name_of(at)), Accept(5);
        "ext name one over" => chunk_with_ext(&name_of(over)), Reject(400);
        "ext value exactly max_chunk_ext_bytes" => chunk_with_ext(&value_of(at)), Accept(5);
        "ext value one over" => chunk_with_ext(&value_of(over)), Reject(400);
        "ext far over, never ending" =>
            chunk_with_ext(&format!(";{}", "e".repeat(10 * MAX_CHUNK_EXT))), Reject(400);
    ]);
}

/// A chunked body `hello` followed by the trailer section `trailers` (field lines with their
/// CRLFs, which is what `max_trailer_bytes` counts; the final empty line is not counted).
fn with_trailers(trailers: &str) -> Vec<u8> {
    format!(
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n{trailers}\r\n"
    )
    .into_bytes()
}

#[test]
fn trailer_limit_edge() {
    // One field line of `n` bytes including its CRLF.
    let line_of = |n: usize| format!("X: {}\r\n", "t".repeat(n - 5));
    run_table(&table![
        "trailers exactly max_trailer_bytes" => with_trailers(&line_of(MAX_TRAILER)), Accept(5);
        "trailers one over" => with_trailers(&line_of(MAX_TRAILER + 1)), Reject(400);
        "two lines, together exactly at the limit" =>
            with_trailers(&(line_of(16) + &line_of(MAX_TRAILER - 16))), Accept(5);
        "two lines, together one over" =>
            with_trailers(&(line_of(16) + &line_of(MAX_TRAILER - 15))), Reject(400);
        "malformed trailer" => with_trailers("X y\r\n"), Reject(400);
    ]);
}

/// An error (in a head, or in a body) on one connection leaves another connection, opened
/// before and with a half-sent request on it, working.
#[test]
fn framing_error_does_not_affect_another_connection() {
    let srv = serve(support::discard_len_app, small_limits());
    let mut a = srv.connect();
    let mut ra = BufReader::new(a.try_clone().unwrap());
    a.write_all(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        .unwrap();
    assert_eq!(read_response(&mut ra, false).unwrap().text(), "len=3");
    // Half of the next request, and half of its body.
    a.write_all(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Le")
        .unwrap();

    check(
        &srv,
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n",
        Reject(400),
    )
    .unwrap();
    a.write_all(b"ngth: 4\r\n\r\nde").unwrap();
    check(
        &srv,
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        Reject(400),
    )
    .unwrap();
    check(&srv, &cl_request(MAX_BODY + 1), Reject(413)).unwrap();

    a.write_all(b"fg").unwrap();
    let resp = read_response(&mut ra, false).unwrap();
    assert_eq!((resp.status, resp.text().as_str()), (200, "len=4"));
    assert_eq!(resp.header("connection"), None);
}

/// Lingering close: a client that sends a bad head and keeps sending (here 200 KiB, under
/// the default `linger_limit` of 256 KiB) still reads the whole error response. Closing with
/// unread input would make the kernel send a reset, which can destroy the response.
#[test]
fn lingering_close_delivers_the_response_to_a_client_still_sending() {
    let srv = serve(support::discard_len_app, config());
    let s = srv.connect();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || -> std::io::Result<usize> {
        w.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n")?;
        let garbage = [b'g'; 8 * 1024];
        let mut sent = 0;
        while sent < 200 * 1024 {
            w.write_all(&garbage)?;
            sent += garbage.len();
        }
        Ok(sent)
    });
    // Read only after the client has pushed everything, and after a pause in which a server
    // that closed without lingering would have reset the connection.
    let sent = writer.join().unwrap();
    assert_eq!(
        sent.unwrap(),
        200 * 1024,
        "server stopped reading while lingering"
    );
    std::thread::sleep(Duration::from_millis(200));
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r, false).expect("whole 400 response, not a reset");
    assert_eq!(resp.status, 400);
    assert_eq!(resp.header("connection"), Some("close"));
    assert_eq!(resp.text(), "malformed header field\n");
    assert!(is_closed(&mut r));
}

/// Lingering is bounded by `linger_limit`, at its edge: after the error response the server
/// discards exactly `linger_limit` bytes and keeps listening; one byte more and it closes for
/// good (long before `linger_timeout`), so data sent after that is answered with a reset.
///
/// A socket closed after reading everything sends no reset until more data arrives, so each
/// probe is one write, a pause, and a look at whether the *next* write fails.
#[test]
fn lingering_stops_past_linger_limit() {
    let limit = 16 * 1024;
    let mut cfg = config();
    cfg.linger_limit = limit;
    cfg.linger_timeout = Duration::from_secs(30);
    let srv = serve(support::discard_len_app, cfg);
    let mut s = srv.connect();
    let t = Instant::now();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    assert_eq!(read_response(&mut r, false).unwrap().status, 400);
    let pause = || std::thread::sleep(Duration::from_millis(100));

    // Exactly the limit: the server reads it all and keeps lingering.
    s.write_all(&vec![b'g'; limit as usize]).unwrap();
    pause();
    // One byte over: read, then the server closes (cleanly: nothing unread).
    s.write_all(b"g").expect("closed at exactly linger_limit");
    pause();
    // Had the server closed at the limit, the byte above was answered with a reset and this
    // write fails. It must succeed, and be answered with the reset itself...
    s.write_all(b"g")
        .expect("closed at exactly linger_limit (the byte over it was reset)");
    pause();
    // ...so this one fails.
    assert!(
        s.write_all(b"g").is_err(),
        "still lingering past linger_limit"
    );
    assert!(t.elapsed() < Duration::from_secs(5));
}

/// Lingering is bounded by `linger_timeout`: a client that sends a bad head and then holds
/// the connection open without sending EOF is dropped after it, not before.
#[test]
fn lingering_stops_after_linger_timeout() {
    let linger = Duration::from_millis(500);
    let mut cfg = config();
    cfg.linger_timeout = linger;
    let srv = serve(support::discard_len_app, cfg);
    let mut s = srv.connect();
    let t = Instant::now();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    assert_eq!(read_response(&mut r, false).unwrap().status, 400);
    assert!(is_closed(&mut r), "write side not shut after the response");

    // Before the timeout the server still reads (and discards) what we send.
    std::thread::sleep(linger / 4);
    assert!(writes_ok(&mut s), "dropped before linger_timeout");
    assert!(
        t.elapsed() < linger,
        "test too slow to check the early side"
    );

    // After it, the socket is gone: data sent to it is answered with a reset.
    std::thread::sleep(linger.saturating_sub(t.elapsed()) + Duration::from_millis(500));
    assert!(
        !writes_ok(&mut s),
        "still open {:?} after the bad head",
        t.elapsed()
    );
}

/// Whether two writes 50 ms apart both succeed (a closed peer resets the first, failing the
/// second).
fn writes_ok(s: &mut TcpStream) -> bool {
    let first = s.write_all(b"more").is_ok();
    std::thread::sleep(Duration::from_millis(50));
    first && s.write_all(b"more").is_ok()
}

//! Fuzz the whole connection: the real connection actor (head parser, body stage, app actor,
//! sync switch, response framing, keep-alive, pipelining, lingering close), served through
//! `weir_actors::serve::Connections` over an in-memory `tokio::io::duplex` pipe.
//!
//! # Input
//! `[n | cap << 4] [len_1 .. len_n] wire…`: the low nibble of the first byte is how many
//! piece lengths follow (0..=15; a 0 length counts as 1); the high nibble picks the duplex
//! pipe's capacity for the split run (0: 64 KiB, k: 2^(k-1) bytes, so the server's reads and
//! writes are cut small too). The rest is what the client sends, cut into pieces of those
//! lengths in turn (the last length repeats), then the client shuts its write side.
//!
//! # Apps
//! Each request picks its app behaviour by the first byte of its path (`/a…`, `/b…`; see
//! [`app`]) and a digit after it, so the fuzzer (helped by `connection.dict`) mixes read-all,
//! read-some, no-read, the sync switch after N bytes, errors, panics, streamed responses and
//! wrong Content-Lengths on one connection. Every app response carries `x-m`: the hex of the
//! request-target it answers.
//!
//! # Checks, per input
//! - No panic escapes the runtime (apps panic on purpose; only those panics are tolerated by
//!   the hook, any other panic aborts as a crash) and nothing hangs: the whole connection
//!   must finish within [`CAP`].
//! - Every response on the wire is well framed: parsed with httparse, its body taken by
//!   Content-Length or chunked framing; only the last response may be cut short (a
//!   connection closed mid-response), and nothing may follow a `Connection: close` response.
//! - No request is read from inside a body: a reference parser ([`reference`]) frames the
//!   client bytes conservatively; every `x-m` must name a request head it found, or occur in
//!   the bytes it could not frame.
//! - Responses come in request order (their `x-m` follow the reference's heads in order).
//! - Splitting does not change the answer: the input is served once in one write over a large
//!   pipe and once split as the input says; statuses, `x-m` and bodies must match (`Date`
//!   and other headers are not compared).
//!
//! # Known findings (seeds `corpus/connection/seed-known-*` replay them)
//! - `halfclose-unflushed` (with `WEIR_FUZZ_SMALL_PIPES=1`): with `half_close`, an EOF
//!   read while the connection is between requests with a response still waiting for pipe
//!   space closes at once; the rest of that response is lost.
//! - `split-status` (with `WEIR_FUZZ_STRICT=1`): `GET /a1 HTTP/1.2\rx\n\r\n` is rejected
//!   with 400 when it arrives whole, 505 when it arrives byte by byte.
//! - `linger-after-eof` (with `WEIR_FUZZ_DEBUG=1`, see the times): an EOF read during a
//!   sync switch, then an error response, waits out the whole `linger_timeout` before the
//!   connection closes.
#![no_main]

use std::sync::Once;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weir_actors::serve::Connections;
use weir_actors::weir::rt::ConnInfo;
use weir_actors::weir::{Bytes, Error, Exchange, Limits, Method, Outcome, Result, StatusCode};
use weir_actors::Config;

/// The payload of every panic an app raises on purpose; the panic hook lets these unwind (the
/// runtime must catch them) and aborts on any other.
const INTENDED: &str = "weir-fuzz: intended app panic";

/// Longest a connection may take to finish before the input counts as a hang. Every timeout
/// in [`config`] is shorter, and the client always ends with EOF, so a healthy run takes
/// milliseconds.
const CAP: Duration = Duration::from_secs(3);

/// Largest client input served: longer inputs only slow the fuzzer down.
const MAX_WIRE: usize = 8192;

fuzz_target!(|data: &[u8]| {
    install_panic_hook();
    let Some(input) = decode(data) else {
        return;
    };
    let whole = serve(input.wire, &[input.wire.len().max(1)], 64 * 1024);
    let split = serve(input.wire, &input.pieces, input.capacity);
    let reference = reference(input.wire);
    let a = normalize(check(&whole, input.wire, &reference));
    let b = normalize(check(&split, input.wire, &reference));
    assert_eq!(
        a,
        b,
        "responses depend on how the input was split\nunsplit: {:?}\nsplit:   {:?}",
        String::from_utf8_lossy(&whole),
        String::from_utf8_lossy(&split)
    );
});

/// Which status a malformed head is rejected with may depend on where the input was cut
/// (`GET / HTTP/1.2\rx\n\r\n` is 400 whole but 505 byte by byte: the version is judged on
/// a partial head). Unless `WEIR_FUZZ_STRICT=1`, the runtime's own rejections (no app
/// answered; 4xx, 501, 505) compare as one "rejected" answer, so that the fuzzer looks past
/// that known difference for framing ones.
fn normalize(mut responses: Vec<Response>) -> Vec<Response> {
    static STRICT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *STRICT.get_or_init(|| std::env::var_os("WEIR_FUZZ_STRICT").is_some_and(|v| v == "1")) {
        return responses;
    }
    for r in &mut responses {
        if r.marker.is_none() && matches!(r.status, 400..=499 | 501 | 505) {
            r.status = 400;
            r.body.clear();
        }
    }
    responses
}

/// A decoded fuzz input.
struct Input<'a> {
    pieces: Vec<usize>,
    capacity: usize,
    wire: &'a [u8],
}

fn decode(data: &[u8]) -> Option<Input<'_>> {
    let (&first, rest) = data.split_first()?;
    let n = usize::from(first & 0x0f);
    let capacity = match first >> 4 {
        k if k > 0 && small_pipes() => 1 << (k - 1),
        _ => 64 * 1024,
    };
    if rest.len() < n {
        return None;
    }
    let (lens, wire) = rest.split_at(n);
    if wire.len() > MAX_WIRE {
        return None;
    }
    let mut pieces: Vec<usize> = lens.iter().map(|&b| usize::from(b).max(1)).collect();
    if pieces.is_empty() {
        pieces.push(wire.len().max(1));
    }
    Some(Input {
        pieces,
        capacity,
        wire,
    })
}

/// Whether the high nibble may shrink the pipe (`WEIR_FUZZ_SMALL_PIPES=1`). Off by default:
/// with `half_close`, a client EOF that arrives while a finished response is still waiting
/// for pipe space (connection idle, read buffer empty) closes the connection at once and the
/// unflushed rest of that response is lost (`on_eof` in actors/src/connection/http1.rs
/// counts only buffered input as "whole requests sent"). Every small-pipe input trips over
/// that one known bug; the variable brings the small pipes back once it is fixed.
fn small_pipes() -> bool {
    static SMALL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SMALL.get_or_init(|| std::env::var_os("WEIR_FUZZ_SMALL_PIPES").is_some_and(|v| v == "1"))
}

/// Libfuzzer-sys installs a hook that aborts on every panic, which would turn the apps'
/// intended panics (which the runtime must catch) into crashes. Chain a hook in front of it
/// that stays silent for those and hands everything else on.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let next = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let msg = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
            if msg != Some(INTENDED) {
                next(info);
            }
        }));
    });
}

/// Small limits and short timeouts, so that the fuzzer reaches the edges quickly and a run
/// stays fast. `half_close` is on: the client shuts its write side after its last byte, and
/// must still get the answers to the requests it sent whole, whatever the splits.
fn config() -> Config {
    Config {
        limits: Limits {
            max_head_bytes: 1024,
            max_headers: 16,
            max_body_bytes: 4096,
            max_chunk_ext_bytes: 64,
            max_trailer_bytes: 256,
            ..Limits::default()
        },
        workers: 1,
        max_connections_per_worker: 4,
        keep_alive_timeout: Duration::from_millis(1000),
        header_read_timeout: Duration::from_millis(1000),
        body_read_timeout: Duration::from_millis(1000),
        write_timeout: Duration::from_millis(1000),
        drain_limit: 256,
        // Short: with `half_close`, an error response after the client's EOF was already
        // read (during a sync switch, say) waits out the whole linger time before closing,
        // as nothing more will be read to notice the EOF again. Harmless, but slow here.
        linger_timeout: Duration::from_millis(20),
        linger_limit: 1024,
        write_high_water: 512,
        read_buffer: 512,
        abandon_grace: Duration::from_millis(200),
        pool_threads: 2,
        pool_queue: 8,
        access_log: None,
        half_close: true,
        ..Config::default()
    }
}

thread_local! {
    /// One actix `System` and one `Connections` for the whole process, reused by every
    /// input. A fresh `System` per input (a runtime, an arbiter and two pool threads started
    /// and stopped each time) ran at about 40 inputs/s; reusing them is several times faster
    /// and still safe: each input waits until its connection has closed, nothing in the app
    /// outlives its connection beyond `abandon_grace`, and nothing carries state from one
    /// connection to the next, just as for a server's successive clients.
    static RUNTIME: (actix_rt::SystemRunner, Connections) = {
        let sys = actix_rt::System::new();
        let conns = sys.block_on(async { Connections::new(app, config()) });
        (sys, conns)
    };
}

/// Serve one connection: write `wire` in pieces of `pieces` lengths (cycling the last),
/// shut the write side, and return every byte the server sent.
fn serve(wire: &[u8], pieces: &[usize], capacity: usize) -> Vec<u8> {
    let start = std::time::Instant::now();
    let out = RUNTIME.with(|(sys, conns)| sys.block_on(connection(conns, wire, pieces, capacity)));
    // `WEIR_FUZZ_DEBUG=1`: show each connection's exchange and how long it took.
    if std::env::var_os("WEIR_FUZZ_DEBUG").is_some() {
        eprintln!(
            "--- {:?} in {} pieces over a {capacity}-byte pipe:\n{:?}\n=> {:?}",
            start.elapsed(),
            pieces.len(),
            String::from_utf8_lossy(wire),
            String::from_utf8_lossy(&out)
        );
    }
    out
}

async fn connection(
    conns: &Connections,
    wire: &[u8],
    pieces: &[usize],
    capacity: usize,
) -> Vec<u8> {
    let (client, server) = tokio::io::duplex(capacity);
    let addr = "127.0.0.1:1".parse().unwrap();
    let done = conns.serve(server, ConnInfo::new(addr, addr));
    let (mut rd, mut wr) = tokio::io::split(client);
    let writer = async {
        let mut rest = wire;
        let mut lens = pieces.iter().copied();
        let mut len = pieces[0];
        while !rest.is_empty() {
            len = lens.next().unwrap_or(len);
            let (piece, tail) = rest.split_at(len.min(rest.len()));
            // The server may have closed already: the rest is not its to read.
            if wr.write_all(piece).await.is_err() {
                break;
            }
            rest = tail;
            // Let the server read this piece on its own before the next arrives.
            tokio::task::yield_now().await;
        }
        let _ = wr.shutdown().await;
    };
    let reader = async {
        let mut out = Vec::new();
        let _ = rd.read_to_end(&mut out).await;
        out
    };
    let all = async {
        let ((), out) = futures::join!(writer, reader);
        done.await;
        out
    };
    match tokio::time::timeout(CAP, all).await {
        Ok(out) => out,
        Err(_) => panic!("the connection did not finish within {CAP:?}: a hang"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// FNV-1a: a body digest that needs no dependency.
fn fnv(data: &[u8], mut h: u64) -> u64 {
    for &b in data {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    h
}
const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// The app: the byte after the path's `/` picks the behaviour, a digit after it a size.
/// Answers never depend on how the body arrived in chunks (only on its bytes), so the split
/// and unsplit runs must agree.
///
/// - `a` (and anything unlisted): read the whole body, answer its length and digest;
/// - `b`: read one chunk, then answer;
/// - `c`: answer without reading;
/// - `d`: read N×7 bytes asynchronously, switch to sync, read the rest there, answer the
///   length and digest;
/// - `e`: fail with an error (after reading one chunk if N is odd);
/// - `f`: panic before answering;
/// - `g`: stream the answer in several sends (chunked), reading the body in between;
/// - `h`: stream, then panic mid-response;
/// - `i`: declare a Content-Length shorter than the body sent;
/// - `j`: declare a Content-Length longer than the body sent;
/// - `k`: switch to sync, then panic there;
/// - `l`: switch to sync, read the whole body there, stream the answer with blocking writes;
/// - `m`: read twice without a yield in between (the one-read-per-yield rule's error).
///
/// HEAD requests always get a plain answer: the runtime's own error responses to a HEAD
/// would need the request's method to frame, which the client side does not track.
async fn app(mut ex: Exchange) -> Result<Outcome> {
    let req = ex.request();
    let marker = hex(req.target().as_bytes());
    let path = req.path().as_bytes();
    let kind = path.get(1).copied().unwrap_or(b'a');
    let n = path
        .get(2)
        .filter(|d| d.is_ascii_digit())
        .map_or(0, |d| usize::from(d - b'0'));
    let mut headers = vec![("x-m".to_owned(), marker)];
    if req.method() == Method::HEAD {
        headers.push(("x-method".to_owned(), "HEAD".to_owned()));
        return ex.respond(StatusCode::OK, headers, "head").await;
    }
    match kind {
        b'b' => {
            let _ = ex.next().await?;
            ex.respond(StatusCode::OK, headers, "some").await
        }
        b'c' => ex.respond(StatusCode::ACCEPTED, headers, "none").await,
        b'd' => {
            let after = n * 7;
            let (mut len, mut h) = (0usize, FNV_START);
            while len < after {
                match ex.next().await? {
                    Some(chunk) => {
                        len += chunk.len();
                        h = fnv(&chunk, h);
                        ex.send(Bytes::new()).await?;
                    }
                    None => break,
                }
            }
            Ok(ex.switch_to_sync(move |mut sx| {
                while let Some(chunk) = sx.input.next_chunk()? {
                    len += chunk.len();
                    h = fnv(&chunk, h);
                }
                sx.response.start(StatusCode::OK, headers)?;
                sx.end(format!("len={len} h={h:x}"))
            }))
        }
        b'e' => {
            if n % 2 == 1 {
                let _ = ex.next().await?;
            }
            Err(Error::other("intended app error"))
        }
        b'f' => panic!("{}", INTENDED),
        b'g' => {
            ex.start(StatusCode::OK, headers)?;
            let mut h = FNV_START;
            for part in ["one ", "two ", "three "] {
                ex.send(part).await?;
                if let Some(chunk) = ex.next().await? {
                    h = fnv(&chunk, h);
                }
            }
            // The rest of the body, so the digest covers it all whatever the chunks were.
            while let Some(chunk) = ex.next().await? {
                h = fnv(&chunk, h);
                ex.send(Bytes::new()).await?;
            }
            ex.end(format!("h={h:x}")).await
        }
        b'h' => {
            ex.start(StatusCode::OK, headers)?;
            ex.send("partial ").await?;
            panic!("{}", INTENDED)
        }
        b'i' => {
            headers.push(("content-length".to_owned(), "2".to_owned()));
            ex.start(StatusCode::OK, headers)?;
            ex.end("longer than two").await
        }
        b'j' => {
            headers.push(("content-length".to_owned(), (20 + n).to_string()));
            ex.start(StatusCode::OK, headers)?;
            ex.send("short").await?;
            ex.end("er").await
        }
        b'k' => Ok(ex.switch_to_sync(|_sx| panic!("{}", INTENDED))),
        b'l' => Ok(ex.switch_to_sync(move |mut sx| {
            let mut body = Vec::new();
            std::io::Read::read_to_end(&mut sx.input, &mut body)?;
            sx.response.start(StatusCode::OK, headers)?;
            sx.response.write("sync ")?;
            sx.response.write(format!("len={} ", body.len()))?;
            sx.end(format!("h={:x}", fnv(&body, FNV_START)))
        })),
        b'm' => {
            let _ = ex.next().await?;
            let _ = ex.next().await?;
            ex.respond(StatusCode::OK, headers, "read twice").await
        }
        _ => {
            let body = ex.read_to_end(1 << 16).await?;
            let answer = format!("len={} h={:x}", body.len(), fnv(&body, FNV_START));
            ex.respond(StatusCode::OK, headers, answer).await
        }
    }
}

/// One response as the checker compares it.
#[derive(Debug, PartialEq, Eq)]
struct Response {
    status: u16,
    /// `x-m`: the hex request-target the app answered, if an app answered.
    marker: Option<String>,
    body: Vec<u8>,
    /// False for a response the connection closed before its end.
    whole: bool,
}

/// The client-side framing of the input, as a conservative reference parser sees it.
struct Reference {
    /// Hex request-targets of the heads it framed, in order.
    heads: Vec<String>,
    /// Where it stopped framing: anything from here on may hold requests it did not see.
    tail: usize,
}

/// Frame the client bytes the plain way: httparse heads; bodies by exactly one
/// all-digit Content-Length, or (HTTP/1.1) by `Transfer-Encoding: chunked` alone; no body
/// otherwise. At anything else (a bad head, conflicting or odd framing, an odd chunk line)
/// it stops: the server may reject or read those differently, so bytes from there on are
/// "unknown", never "inside a body".
fn reference(wire: &[u8]) -> Reference {
    let mut heads = Vec::new();
    let mut pos = 0;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        let Ok(httparse::Status::Complete(n)) = req.parse(&wire[pos..]) else {
            return Reference { heads, tail: pos };
        };
        let (Some(target), Some(version)) = (req.path, req.version) else {
            return Reference { heads, tail: pos };
        };
        let mut lengths = req
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("content-length"));
        let mut codings = req
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("transfer-encoding"));
        let framing = match (
            lengths.next(),
            lengths.next(),
            codings.next(),
            codings.next(),
        ) {
            (None, _, None, _) => Some(Framing::Length(0)),
            (Some(cl), None, None, _) => {
                let v = cl.value;
                if !v.is_empty() && v.len() <= 18 && v.iter().all(u8::is_ascii_digit) {
                    std::str::from_utf8(v)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .map(Framing::Length)
                } else {
                    None
                }
            }
            (None, _, Some(te), None)
                if version == 1 && te.value.eq_ignore_ascii_case(b"chunked") =>
            {
                Some(Framing::Chunked)
            }
            _ => None,
        };
        let Some(framing) = framing else {
            return Reference { heads, tail: pos };
        };
        heads.push(hex(target.as_bytes()));
        pos += n;
        let end = match framing {
            Framing::Length(len) => pos.checked_add(len).filter(|&e| e <= wire.len()),
            Framing::Chunked => match chunked_end(&wire[pos..]) {
                Chunked::End(n) => Some(pos + n),
                Chunked::Incomplete => None,
                // A chunk line the reference does not vouch for: unknown from here on.
                Chunked::Odd => return Reference { heads, tail: pos },
            },
        };
        match end {
            Some(end) => pos = end,
            // The input ends inside this body: all of the rest is body.
            None => {
                return Reference {
                    heads,
                    tail: wire.len(),
                }
            }
        }
    }
}

enum Framing {
    Length(usize),
    Chunked,
}

enum Chunked {
    /// The body (trailers included) ends after this many bytes.
    End(usize),
    Incomplete,
    Odd,
}

/// Where a chunked body ends: hex sizes (no extensions, no whitespace), CRLFs, trailer lines.
fn chunked_end(buf: &[u8]) -> Chunked {
    let mut pos = 0;
    loop {
        let Some(line) = line_at(buf, pos) else {
            return Chunked::Incomplete;
        };
        let size_hex = &buf[pos..line];
        if size_hex.is_empty() || size_hex.len() > 8 || !size_hex.iter().all(u8::is_ascii_hexdigit)
        {
            return Chunked::Odd;
        }
        let size = usize::from_str_radix(std::str::from_utf8(size_hex).unwrap(), 16).unwrap();
        pos = line + 2;
        if size == 0 {
            // Trailer lines until an empty one.
            loop {
                let Some(line) = line_at(buf, pos) else {
                    return Chunked::Incomplete;
                };
                let empty = line == pos;
                pos = line + 2;
                if empty {
                    return Chunked::End(pos);
                }
            }
        }
        if buf.len() < pos + size + 2 {
            return Chunked::Incomplete;
        }
        if &buf[pos + size..pos + size + 2] != b"\r\n" {
            return Chunked::Odd;
        }
        pos += size + 2;
    }
}

/// The offset of the next CRLF at or after `pos`.
fn line_at(buf: &[u8], pos: usize) -> Option<usize> {
    buf.get(pos..)?
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|i| pos + i)
}

/// Parse every response the server sent, asserting the framing, ordering and no-smuggling
/// properties, and return them (without the `100 Continue`s) for the split comparison.
fn check(out: &[u8], wire: &[u8], reference: &Reference) -> Vec<Response> {
    let responses = parse_responses(out);
    let tail = &wire[reference.tail.min(wire.len())..];
    let mut next_head = 0;
    for r in &responses {
        let Some(marker) = &r.marker else { continue };
        let target = unhex(marker);
        let in_tail = !target.is_empty() && tail.windows(target.len()).any(|w| w == target);
        match reference.heads[next_head..]
            .iter()
            .position(|h| h == marker)
        {
            Some(i) => next_head += i + 1,
            None if in_tail => next_head = reference.heads.len(),
            None if reference.heads.contains(marker) => panic!(
                "response for {:?} out of request order\n{}",
                String::from_utf8_lossy(&target),
                String::from_utf8_lossy(out)
            ),
            None => panic!(
                "a response answers {:?}, which the client sent only inside a body\n{}",
                String::from_utf8_lossy(&target),
                String::from_utf8_lossy(out)
            ),
        }
    }
    responses
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn parse_responses(out: &[u8]) -> Vec<Response> {
    let show = || String::from_utf8_lossy(out).into_owned();
    let mut responses = Vec::new();
    let mut pos = 0;
    let mut closed = false;
    while pos < out.len() {
        assert!(
            !closed,
            "bytes after a `Connection: close` response\n{}",
            show()
        );
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        let n = match resp.parse(&out[pos..]) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => {
                // Cut inside a head: only a prefix of "HTTP/1.1 " is even worth reporting.
                responses.push(Response {
                    status: 0,
                    marker: None,
                    body: Vec::new(),
                    whole: false,
                });
                break;
            }
            Err(e) => panic!("malformed response head at {pos}: {e}\n{}", show()),
        };
        let status = resp.code.unwrap();
        assert_eq!(resp.version, Some(1), "responses are HTTP/1.1\n{}", show());
        let header = |name: &str| {
            resp.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value)
        };
        let count = |name: &str| {
            resp.headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(name))
                .count()
        };
        pos += n;
        if (100..200).contains(&status) {
            assert_eq!(status, 100, "only 100 Continue is interim\n{}", show());
            continue;
        }
        let marker = header("x-m").map(|v| String::from_utf8(v.to_vec()).unwrap());
        let head_only = header("x-method") == Some(b"HEAD") || status == 204 || status == 304;
        assert!(
            count("content-length") <= 1,
            "one Content-Length\n{}",
            show()
        );
        let chunked = match header("transfer-encoding") {
            None => false,
            Some(v) if v == b"chunked" => true,
            Some(v) => panic!("odd Transfer-Encoding {v:?}\n{}", show()),
        };
        assert!(
            !(chunked && header("content-length").is_some()),
            "both Content-Length and chunked\n{}",
            show()
        );
        if header("connection").is_some_and(|v| v.eq_ignore_ascii_case(b"close")) {
            closed = true;
        }
        let (body, whole) = if head_only {
            (Vec::new(), true)
        } else if chunked {
            match dechunk(&out[pos..]) {
                Some((body, used)) => {
                    pos += used;
                    (body, true)
                }
                None => {
                    pos = out.len();
                    (Vec::new(), false)
                }
            }
        } else if header("content-length").is_none() {
            // Close-delimited (an HTTP/1.0 client's streamed answer): legal only when the
            // connection closes after it, so everything up to EOF is its body.
            assert!(
                closed,
                "unframed response without `Connection: close`\n{}",
                show()
            );
            let body = out[pos..].to_vec();
            pos = out.len();
            (body, true)
        } else {
            let len = header("content-length").unwrap();
            let len: usize = std::str::from_utf8(len).unwrap().parse().unwrap();
            if out.len() - pos >= len {
                pos += len;
                (out[pos - len..pos].to_vec(), true)
            } else {
                let body = out[pos..].to_vec();
                pos = out.len();
                (body, false)
            }
        };
        if !whole {
            assert_eq!(pos, out.len());
        }
        responses.push(Response {
            status,
            marker,
            body,
            whole,
        });
    }
    responses
}

/// Decode a chunked response body strictly (the server writes no extensions or trailers):
/// the body and the bytes used, or `None` if it was cut short. Malformed chunk lines panic.
fn dechunk(buf: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let line = line_at(buf, pos)?;
        let size = std::str::from_utf8(&buf[pos..line])
            .ok()
            .and_then(|s| usize::from_str_radix(s, 16).ok())
            .unwrap_or_else(|| {
                panic!(
                    "malformed chunk size line {:?}",
                    String::from_utf8_lossy(&buf[pos..line])
                )
            });
        pos = line + 2;
        if size == 0 {
            if buf.get(pos..pos + 2)? != b"\r\n" {
                panic!("the server sent chunked trailers or garbage after the last chunk");
            }
            return Some((body, pos + 2));
        }
        let data = buf.get(pos..pos + size)?;
        body.extend_from_slice(data);
        pos += size;
        assert_eq!(
            buf.get(pos..pos + 2)?,
            b"\r\n",
            "chunk data not followed by CRLF"
        );
        pos += 2;
    }
}

//! The sync switch (`input_factory`): an async-aware app hands the rest of a request to a
//! blocking continuation on another thread, whose input starts exactly where async input
//! stopped: before the first chunk, between chunks, after the last, or inside chunked
//! framing. Property test: random bodies, random wire splits (Content-Length and chunked),
//! random switch points; async + sync bytes equal the body, byte for byte.

mod support;

use std::io::{BufReader, Write};
use std::sync::OnceLock;
use std::time::Duration;

use proptest::prelude::*;
use sha2::{Digest, Sha256};
use support::{config, read_response, serve, TestServer};
use weir_actors::weir::{Bytes, Error, Exchange, Outcome, Result, StatusCode};

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads async until `after` bytes, sends `A` bytes of response first if `?pre=1`, switches,
/// reads the rest blocking. Answers `total sha async sync same_thread`.
async fn switching(mut ex: Exchange) -> Result<Outcome> {
    let after: u64 = ex
        .request()
        .query_param("after")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::with_status(StatusCode::BAD_REQUEST, "after"))?;
    let pre = ex.request().query_param("pre").is_some();
    let mut hash = Sha256::new();
    let mut a = 0u64;
    ex.start(
        StatusCode::OK,
        [("content-type", "text/plain"), ("x-async", "set")],
    )?;
    if pre {
        ex.send("pre;").await?;
    }
    while a < after {
        match ex.next().await? {
            Some(c) => {
                a += c.len() as u64;
                hash.update(&c);
                ex.send(Bytes::new()).await?;
            }
            None => break,
        }
    }
    let async_thread = std::thread::current().id();
    Ok(ex.switch_to_sync(move |mut sx| {
        let mut s = 0u64;
        while let Some(c) = sx.input.next_chunk()? {
            s += c.len() as u64;
            hash.update(&c);
        }
        let same = std::thread::current().id() == async_thread;
        sx.end(format!(
            "{} {} {a} {s} {same}",
            a + s,
            hex(&hash.finalize())
        ))
    }))
}

fn server() -> &'static TestServer {
    static S: OnceLock<TestServer> = OnceLock::new();
    S.get_or_init(|| serve(switching, config()))
}

/// Send `pieces` with a short pause between them so they arrive as separate reads.
fn send_pieces(pieces: Vec<Vec<u8>>, head: String) -> String {
    let srv = server();
    let mut s = srv.connect();
    let reader = s.try_clone().unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let writer = std::thread::spawn(move || {
        for p in pieces {
            s.write_all(&p).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        s
    });
    let mut r = BufReader::new(reader);
    let resp = read_response(&mut r, false).unwrap();
    let _ = writer.join();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("x-async"), Some("set"));
    resp.text()
}

fn chunked(body: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        write!(out, "{n:x}\r\n").unwrap();
        out.extend_from_slice(&rest[..n]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[n..];
        i += 1;
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn split(wire: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
    points.sort_unstable();
    points.dedup();
    let mut out = Vec::new();
    let mut last = 0;
    for p in points.into_iter().chain([wire.len()]) {
        if p > last {
            out.push(wire[last..p].to_vec());
            last = p;
        }
    }
    out
}

fn check(text: &str, body: &[u8], after: u64) {
    let parts: Vec<&str> = text.trim_start_matches("pre;").split(' ').collect();
    let total: u64 = parts[0].parse().unwrap();
    let a: u64 = parts[2].parse().unwrap();
    let s: u64 = parts[3].parse().unwrap();
    assert_eq!(total, body.len() as u64, "{text}");
    assert_eq!(
        parts[1],
        hex(&Sha256::digest(body)),
        "bytes lost or repeated: {text}"
    );
    assert_eq!(a + s, total);
    assert!(a >= after.min(total), "async stopped early: {text}");
    assert_eq!(parts[4], "false", "continuation ran on the worker thread");
}

#[test]
fn switch_before_the_first_chunk() {
    let body = b"all of it goes to the blocking side".to_vec();
    let head = format!(
        "POST /?after=0 HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let text = send_pieces(vec![body.clone()], head);
    check(&text, &body, 0);
    assert!(
        text.ends_with(&format!(" 0 {} false", body.len())),
        "{text}"
    );
}

#[test]
fn switch_after_the_last_chunk() {
    let body = b"all async".to_vec();
    let head = format!(
        "POST /?after=1000&pre=1 HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let text = send_pieces(vec![body.clone()], head);
    // Bytes sent before the switch stay in the response; the sync side sees the end.
    assert!(text.starts_with("pre;"), "{text}");
    check(&text, &body, 1000);
    assert!(text.ends_with(" 9 0 false"), "{text}");
}

#[test]
fn switch_between_chunks_inside_chunked_framing() {
    let body: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 256) as u8).collect();
    let wire = chunked(&body, &[1000, 3000, 1000]);
    // Cut inside the second chunk's size line and inside its data.
    let cuts = [1000 + 7 + 1, 1000 + 7 + 3, 2500, 4100];
    let head = "POST /?after=1000 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    let text = send_pieces(split(&wire, &cuts), head.to_owned());
    check(&text, &body, 1000);
}

#[derive(Debug, Clone)]
struct Case {
    body: Vec<u8>,
    chunked: bool,
    sizes: Vec<usize>,
    cuts: Vec<usize>,
    after: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(any::<u8>(), 0..20_000),
        any::<bool>(),
        prop::collection::vec(1usize..5000, 1..6),
        prop::collection::vec(any::<usize>(), 0..8),
        0u64..25_000,
    )
        .prop_map(|(body, chunked, sizes, cuts, after)| Case {
            body,
            chunked,
            sizes,
            cuts,
            after,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn switch_loses_and_repeats_nothing(c in case()) {
        let (head, wire) = if c.chunked {
            (
                format!("POST /?after={} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", c.after),
                chunked(&c.body, &c.sizes),
            )
        } else {
            (
                format!("POST /?after={} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", c.after, c.body.len()),
                c.body.clone(),
            )
        };
        let text = send_pieces(split(&wire, &c.cuts), head);
        check(&text, &c.body, c.after);
    }
}

/// The app gives up on a read (drops `next()` while its chunk request is in flight) and
/// switches: the chunk that answers that request goes to the blocking side.
#[test]
fn switch_with_a_read_in_flight_loses_nothing() {
    use futures::FutureExt;
    async fn impatient(mut ex: Exchange) -> Result<Outcome> {
        let timer = actix_rt::time::sleep(Duration::from_millis(100));
        futures::select! {
            c = ex.next().fuse() => { c?; return Err(Error::other("chunk came too early")); }
            _ = timer.fuse() => {}
        }
        Ok(ex.switch_to_sync(|mut sx| {
            let mut all = Vec::new();
            while let Some(c) = sx.input.next_chunk()? {
                all.extend_from_slice(&c);
            }
            sx.response
                .start(StatusCode::OK, [("content-type", "text/plain")])?;
            sx.end(all)
        }))
    }
    let srv = serve(impatient, config());
    let mut s = srv.connect();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(b"0123456789").unwrap();
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.text(), "0123456789");
}

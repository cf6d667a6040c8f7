//! `echo`: streaming both ways with one-chunk-per-yield input.
//!
//! Every GET route also answers HEAD (RFC 9110 §9.3.2) with the same status and fields and
//! no body: routes match `Method::GET | Method::HEAD`, and the runtime drops the body.
//!
//! - `GET /` → `Hello, World!`
//! - `POST /echo` → each request-body chunk is sent back as it arrives (chunked response), so
//!   a slow sender sees its bytes come back before it finishes sending.
//! - `POST /count` → `bytes=N sha256=HEX` of the whole body, streamed through the hash.
//! - `GET /drip?n=N&ms=M` → N lines `tick I`, one every M ms (N ≤ 1000, M ≤ 10000).
//! - `GET /big?bytes=N` → N bytes (N ≤ 1 GiB) with a Content-Length, generated as sent.
//! - `GET /ws` → a WebSocket echo: each text or binary message comes back as it was
//!   (fragmented ones reassembled). Messages and frames up to `--ws-max-message` bytes
//!   (default 20 MiB, past Autobahn's 16 MiB cases 9.*); `tests/autobahn/run` runs the
//!   conformance suite against it. A WebSocket handshake to `/` gets the same echo, since
//!   the conformance runner always asks for `/`.
//! - anything else → 404.
//!
//! Run: `cargo run --example echo -- --bind 127.0.0.1:8080`, then e.g.
//! `curl -N http://127.0.0.1:8080/drip?n=5&ms=300` or
//! `curl --data-binary @Cargo.toml http://127.0.0.1:8080/count`, or
//! `curl -I http://127.0.0.1:8080/` for the head alone (`-- --help` lists every option).

mod common;

use std::time::Duration;

use clap::Parser;
use futures::FutureExt;
use sha2::{Digest, Sha256};
use weir_actors::weir::ws::{Accept, Message};
use weir_actors::weir::{Bytes, Error, Exchange, Method, Outcome, Result, StatusCode};
use weir_actors::{Config, Server};

/// `echo`: streaming both ways (`GET /`, `POST /echo`, `POST /count`, `GET /drip`,
/// `GET /big`; see the example's source for each).
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    server: common::ServerOptions,
    /// Largest WebSocket message and frame on `/ws`, in bytes
    #[arg(long, value_name = "BYTES", default_value_t = 20 << 20)]
    ws_max_message: usize,
}

const TEXT: [(&str, &str); 1] = [("content-type", "text/plain")];

async fn echo(ex: Exchange) -> Result<Outcome> {
    let route = (
        ex.request().method().clone(),
        ex.request().path().to_owned(),
    );
    // HEAD is GET without the body (RFC 9110 §9.3.2): every GET route takes both, and the
    // runtime leaves the body out while keeping Content-Length.
    let upgrade = ex
        .request()
        .headers()
        .get("upgrade")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    match (&route.0, route.1.as_str()) {
        // The conformance runner (kosoku) cannot choose a path: it asks for `/`.
        (&Method::GET, "/") if upgrade => ws_echo(ex).await,
        (&Method::GET | &Method::HEAD, "/") => {
            ex.respond(StatusCode::OK, TEXT, "Hello, World!").await
        }
        (&Method::POST, "/echo") => echo_body(ex).await,
        (&Method::POST, "/count") => count(ex).await,
        (&Method::GET | &Method::HEAD, "/drip") => drip(ex).await,
        (&Method::GET | &Method::HEAD, "/big") => big(ex).await,
        (&Method::GET, "/ws") => ws_echo(ex).await,
        _ => ex.respond(StatusCode::NOT_FOUND, TEXT, "not found\n").await,
    }
}

/// For HEAD the head is all that goes out: end the response there rather than generate a
/// body the runtime would drop (for `/drip`, over minutes of ticks).
fn is_head(ex: &Exchange) -> bool {
    ex.request().method() == Method::HEAD
}

/// Each chunk goes back as it arrives: every `send` is the yield that allows the next read.
async fn echo_body(mut ex: Exchange) -> Result<Outcome> {
    ex.start(
        StatusCode::OK,
        [("content-type", "application/octet-stream")],
    )?;
    while let Some(chunk) = ex.next().await? {
        ex.send(chunk).await?;
    }
    ex.end(Bytes::new()).await
}

async fn count(mut ex: Exchange) -> Result<Outcome> {
    let mut hash = Sha256::new();
    let mut n = 0u64;
    while let Some(chunk) = ex.next().await? {
        n += chunk.len() as u64;
        hash.update(&chunk);
        ex.send(Bytes::new()).await?;
    }
    let hex: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    ex.respond(StatusCode::OK, TEXT, format!("bytes={n} sha256={hex}"))
        .await
}

fn param(ex: &Exchange, name: &str, max: u64) -> Result<u64> {
    let bad = || Error::with_status(StatusCode::BAD_REQUEST, format!("{name} must be 0..={max}"));
    let v = ex.request().query_param(name).ok_or_else(bad)?;
    v.parse::<u64>().ok().filter(|&v| v <= max).ok_or_else(bad)
}

async fn drip(mut ex: Exchange) -> Result<Outcome> {
    let n = param(&ex, "n", 1000)?;
    let ms = param(&ex, "ms", 10_000)?;
    ex.start(StatusCode::OK, TEXT)?;
    if is_head(&ex) {
        return ex.end(Bytes::new()).await;
    }
    for i in 1..=n {
        if i > 1 {
            // Wait, but stop at once if the client goes away or the server shuts down.
            let tick = actix_rt::time::sleep(Duration::from_millis(ms));
            futures::select! {
                _ = tick.fuse() => {}
                _ = ex.closed().fuse() => break,
            }
        }
        ex.send(format!("tick {i}\n")).await?;
    }
    ex.end(Bytes::new()).await
}

async fn big(mut ex: Exchange) -> Result<Outcome> {
    const PIECE: usize = 64 * 1024;
    static PATTERN: [u8; PIECE] = {
        let mut p = [0u8; PIECE];
        let mut i = 0;
        while i < PIECE {
            p[i] = b'a' + (i % 26) as u8;
            i += 1;
        }
        p
    };
    let total = param(&ex, "bytes", 1 << 30)?;
    let len = total.to_string();
    ex.start(
        StatusCode::OK,
        [
            ("content-type", "application/octet-stream"),
            ("content-length", len.as_str()),
        ],
    )?;
    if is_head(&ex) {
        return ex.end(Bytes::new()).await;
    }
    let mut left = total;
    while left > PIECE as u64 {
        ex.send(Bytes::from_static(&PATTERN)).await?;
        left -= PIECE as u64;
    }
    ex.end(Bytes::from_static(&PATTERN[..left as usize])).await
}

/// A WebSocket echo: text and binary messages go back as they came, until the client
/// closes (the runtime echoes the close and answers pings itself).
async fn ws_echo(ex: Exchange) -> Result<Outcome> {
    let mut ws = ex.websocket(Accept::new())?.await?;
    loop {
        match ws.recv().await {
            Ok(msg @ (Message::Text(_) | Message::Binary(_))) => ws.send(msg).await?,
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    Ok(ws.done())
}

#[actix_rt::main]
async fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    common::init_logging();
    let server = Server::new(echo)
        .config(Config {
            ws_max_message: cli.ws_max_message,
            ws_max_frame: cli.ws_max_message,
            ..cli.server.config()
        })
        .bind(&cli.server.bind)?;
    let addr = server.local_addrs()[0];
    let running = server.run()?;
    common::announce(addr);
    running.await
}

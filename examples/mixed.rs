//! `mixed`: async-aware and blocking components on one server, on the same connection.
//!
//! Every GET route also answers HEAD (RFC 9110 §9.3.2): the router matches
//! `Method::GET | Method::HEAD`, and the runtime sends the head without the body.
//!
//! - `GET /` → `Hello, World!` from the async side.
//! - `POST /switch?after=N` → reads the body asynchronously until at least N bytes were
//!   handed out (or the body ended), switches to a blocking thread (the sync switch), reads
//!   the rest with blocking reads, and answers `bytes=TOTAL sha256=HEX async=A sync=S`.
//! - `GET /block?ms=M` → a blocking sleep of M ms (M ≤ 10000) delegated to the pool; the
//!   worker stays free, so `GET /` on other connections is not delayed. Answers `slept=M`.
//! - `POST /legacy` → a plain PEP 3333-style blocking app (through the bridge), under sync
//!   middleware that adds `X-Middleware: sync` and one that computes Content-Length; it
//!   reads the body with `read_line` and answers `lines=L bytes=B`.
//!
//! Run: `cargo run --example mixed -- --bind 127.0.0.1:8080 --pool 8 --queue 16`, then e.g.
//! `curl --data-binary @Cargo.toml 'http://127.0.0.1:8080/switch?after=100'`
//! (`-- --help` lists every option with its default).

mod common;

use std::io::BufRead;
use std::time::Duration;

use clap::Parser;

use sha2::{Digest, Sha256};
use weir_actors::weir::blocking::{
    add_header, bridge, content_length, Input, ResponseBody, StartResponse,
};
use weir_actors::weir::{
    App, Bytes, Error, Exchange, Method, Outcome, Request, Result, StatusCode,
};
use weir_actors::Server;

/// `mixed`: async-aware and blocking components on one server (`GET /`, `POST /switch`,
/// `GET /block`, `POST /legacy`; see the example's source for each). `--pool` and `--queue`
/// size the blocking pool that `/block`, `/switch` and `/legacy` use.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    server: common::ServerOptions,
}

const TEXT: [(&str, &str); 1] = [("content-type", "text/plain")];

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Read asynchronously up to `after` bytes, then switch; the blocking continuation reads the
/// rest from exactly where async input stopped.
async fn switch(mut ex: Exchange) -> Result<Outcome> {
    let after: u64 = match ex.request().query_param("after").map(|v| v.parse()) {
        Some(Ok(n)) => n,
        _ => {
            return Err(Error::with_status(
                StatusCode::BAD_REQUEST,
                "after=N required",
            ))
        }
    };
    let mut hash = Sha256::new();
    let mut async_bytes = 0u64;
    while async_bytes < after {
        match ex.next().await? {
            Some(chunk) => {
                async_bytes += chunk.len() as u64;
                hash.update(&chunk);
                ex.send(Bytes::new()).await?;
            }
            None => break,
        }
    }
    Ok(ex.switch_to_sync(move |mut sx| {
        let mut sync_bytes = 0u64;
        while let Some(chunk) = sx.input.next_chunk()? {
            sync_bytes += chunk.len() as u64;
            hash.update(&chunk);
        }
        let body = format!(
            "bytes={} sha256={} async={async_bytes} sync={sync_bytes}",
            async_bytes + sync_bytes,
            hex(&hash.finalize())
        );
        sx.response.start(StatusCode::OK, TEXT)?;
        sx.end(body)
    }))
}

async fn block(mut ex: Exchange) -> Result<Outcome> {
    let ms = match ex.request().query_param("ms").map(|v| v.parse::<u64>()) {
        Some(Ok(ms)) if ms <= 10_000 => ms,
        _ => {
            return Err(Error::with_status(
                StatusCode::BAD_REQUEST,
                "ms must be 0..=10000",
            ))
        }
    };
    // resume_with_result: the sleep runs on the pool; this worker serves others meanwhile.
    let slept = ex
        .blocking(move || {
            std::thread::sleep(Duration::from_millis(ms));
            ms
        })
        .await?;
    ex.respond(StatusCode::OK, TEXT, format!("slept={slept}"))
        .await
}

/// A plain blocking app, as PEP 3333 would have it.
fn legacy(
    _req: &mut Request,
    input: &mut Input,
    start: &mut StartResponse,
) -> Result<ResponseBody> {
    let (mut lines, mut bytes) = (0u64, 0u64);
    let mut line = String::new();
    loop {
        line.clear();
        let n = input.read_line(&mut line)?;
        if n == 0 {
            break;
        }
        lines += 1;
        bytes += n as u64;
    }
    start.start(StatusCode::OK, TEXT)?;
    Ok(ResponseBody::once(format!("lines={lines} bytes={bytes}")))
}

#[actix_rt::main]
async fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    common::init_logging();
    // Sync middleware wraps the sync app; the bridge puts it under the async-aware router.
    let legacy = bridge(add_header(
        content_length(legacy, 1 << 20),
        "x-middleware",
        "sync",
    ));
    let app = move |ex: Exchange| {
        let legacy = legacy.clone();
        async move {
            let method = ex.request().method().clone();
            // GET routes take HEAD too: same head, and the runtime leaves the body out.
            match (method, ex.request().path()) {
                (Method::GET | Method::HEAD, "/") => {
                    ex.respond(StatusCode::OK, TEXT, "Hello, World!").await
                }
                (Method::POST, "/switch") => switch(ex).await,
                (Method::GET | Method::HEAD, "/block") => block(ex).await,
                (Method::POST, "/legacy") => legacy.call(ex).await,
                _ => ex.respond(StatusCode::NOT_FOUND, TEXT, "not found\n").await,
            }
        }
    };
    let server = Server::new(app)
        .config(cli.server.config())
        .bind(&cli.server.bind)?;
    let addr = server.local_addrs()[0];
    let running = server.run()?;
    common::announce(addr);
    running.await
}

//! `weir-server`: the benchmark routes (see the `weir_bench` crate docs) written against
//! weir's own API, the way its examples are: one async-aware app, `Exchange::next` with an
//! empty `send` as the yield, `Exchange::blocking` for the blocking route and
//! `Exchange::switch_to_sync` for the blocking reader, `Exchange::websocket` for `/ws`. Configuration: `Config::default()`
//! with `--workers` applied and the access log off; logging only if `RUST_LOG` asks.

use weir_actors::access_log::{AccessLogConfig, AccessLogFormat, AccessLogSink};
use weir_actors::weir::ws::{Accept, Message};
use weir_actors::weir::{Bytes, Exchange, Method, Outcome, Result, StatusCode};
use weir_actors::{Config, Server};
use weir_bench::{block_ms, ServerArgs, PATTERN, POLL_TIMEOUT, STREAM_BYTES, STREAM_CHUNKS};

const TEXT: [(&str, &str); 1] = [("content-type", "text/plain")];

async fn app(ex: Exchange) -> Result<Outcome> {
    let method = ex.request().method().clone();
    match (method, ex.request().path()) {
        (Method::GET, "/") => ex.respond(StatusCode::OK, TEXT, "Hello, World!").await,
        (Method::POST, "/count") => count(ex).await,
        (Method::POST, "/switch-count") => Ok(switch_count(ex)),
        (Method::GET, "/stream") => stream(ex).await,
        (Method::GET, "/poll") => poll(ex).await,
        (Method::GET, "/block") => block(ex).await,
        (Method::GET, "/ws") => ws_echo(ex).await,
        _ => ex.respond(StatusCode::NOT_FOUND, TEXT, "not found\n").await,
    }
}

/// Async input, one chunk per yield: the empty `send` is the yield that allows the next read.
async fn count(mut ex: Exchange) -> Result<Outcome> {
    let mut n = 0u64;
    while let Some(chunk) = ex.next().await? {
        n += chunk.len() as u64;
        ex.send(Bytes::new()).await?;
    }
    ex.respond(StatusCode::OK, TEXT, n.to_string()).await
}

/// The sync switch at byte 0: the whole body is read by blocking reads on a pool thread.
fn switch_count(ex: Exchange) -> Outcome {
    ex.switch_to_sync(|mut sx| {
        let mut n = 0u64;
        while let Some(chunk) = sx.input.next_chunk()? {
            n += chunk.len() as u64;
        }
        sx.response.start(StatusCode::OK, TEXT)?;
        sx.end(n.to_string())
    })
}

/// 1 MiB as 16 × 64 KiB sends, with a Content-Length.
async fn stream(mut ex: Exchange) -> Result<Outcome> {
    let len = STREAM_BYTES.to_string();
    ex.start(
        StatusCode::OK,
        [
            ("content-type", "application/octet-stream"),
            ("content-length", len.as_str()),
        ],
    )?;
    for _ in 1..STREAM_CHUNKS {
        ex.send(Bytes::from_static(&PATTERN)).await?;
    }
    ex.end(Bytes::from_static(&PATTERN)).await
}

/// Long-poll: wait for an event that never comes, until the timeout or the client leaves.
async fn poll(mut ex: Exchange) -> Result<Outcome> {
    let _ = ex.or_closed(actix_rt::time::sleep(POLL_TIMEOUT)).await;
    ex.start(StatusCode::NO_CONTENT, TEXT)?;
    ex.end(Bytes::new()).await
}

/// A blocking sleep delegated to the pool; the worker serves other connections meanwhile.
async fn block(mut ex: Exchange) -> Result<Outcome> {
    let Some(ms) = block_ms(ex.request().query()) else {
        return ex
            .respond(StatusCode::BAD_REQUEST, TEXT, "ms must be 0..=10000\n")
            .await;
    };
    let slept = ex
        .blocking(move || {
            std::thread::sleep(std::time::Duration::from_millis(ms));
            ms
        })
        .await?;
    ex.respond(StatusCode::OK, TEXT, format!("slept={slept}"))
        .await
}

/// WebSocket echo: each text or binary message back as it came.
async fn ws_echo(ex: Exchange) -> Result<Outcome> {
    let mut ws = ex.websocket(Accept::new())?.await?;
    while let Ok(msg) = ws.recv().await {
        match msg {
            Message::Text(_) | Message::Binary(_) => ws.send(msg).await?,
            Message::Close(_) => break,
            _ => {}
        }
    }
    Ok(ws.done())
}

#[actix_rt::main]
async fn main() -> std::io::Result<()> {
    let args = ServerArgs::from_env();
    weir_bench::init_logging();
    let config = Config {
        workers: args.workers,
        access_log: args.access_log.map(|path| AccessLogConfig {
            format: AccessLogFormat::Line,
            sink: AccessLogSink::File(path),
        }),
        ..Config::default()
    };
    let server = Server::new(app).config(config).bind(args.bind)?;
    let addr = server.local_addrs()[0];
    let running = server.run()?;
    weir_bench::announce(addr);
    running.await
}

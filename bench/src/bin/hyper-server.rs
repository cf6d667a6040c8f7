//! `hyper-server`: the benchmark routes (see the `weir_bench` crate docs) on hyper 1 with
//! hyper-util, configured as hyper's documentation recommends for speed: `TCP_NODELAY` on
//! every accepted socket and `http1::Builder::pipeline_flush(true)`. One worker is a
//! current-thread tokio runtime (more: a multi-thread runtime with that many workers);
//! `tokio::task::spawn_blocking` for the blocking route; tokio-tungstenite on hyper's
//! upgrade (`with_upgrades`) for `/ws`. With `--access-log FILE`, one `tracing::info!` line
//! per request (peer, method, target, status, micros), formatted by `tracing-subscriber`
//! into `tracing-appender`'s non-blocking writer to the file: the usual way to log requests
//! from a hyper service.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Either, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use weir_bench::{block_ms, ServerArgs, PATTERN, POLL_TIMEOUT, STREAM_BYTES, STREAM_CHUNKS};

type Chunks = futures::stream::Iter<
    std::iter::Map<std::ops::Range<usize>, fn(usize) -> Result<Frame<Bytes>, Infallible>>,
>;
/// A whole body, or the 1 MiB stream: no boxing on the plaintext path.
type Body = Either<Full<Bytes>, StreamBody<Chunks>>;

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(Either::Left(Full::new(body.into())))
        .expect("static head")
}

/// WebSocket echo with tokio-tungstenite on hyper's upgrade, as hyper-tungstenite does it:
/// answer 101 with the accept key, then run the socket on the upgraded connection.
fn ws(mut req: Request<Incoming>) -> Response<Body> {
    let Some(key) = req.headers().get("sec-websocket-key") else {
        return text(StatusCode::BAD_REQUEST, "not a WebSocket handshake\n");
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            TokioIo::new(upgraded),
            tokio_tungstenite::tungstenite::protocol::Role::Server,
            None,
        )
        .await;
        while let Some(Ok(msg)) = ws.next().await {
            if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                return;
            }
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-accept", accept)
        .body(Either::Left(Full::new(Bytes::new())))
        .expect("static head")
}

/// `handle`, with an access line after it when the log is on.
async fn logged(
    req: Request<Incoming>,
    peer: std::net::SocketAddr,
) -> Result<Response<Body>, hyper::Error> {
    let start = std::time::Instant::now();
    let method = req.method().clone();
    let target = req.uri().clone();
    let res = handle(req).await?;
    tracing::info!(
        target: "access",
        %peer,
        %method,
        %target,
        status = res.status().as_u16(),
        micros = start.elapsed().as_micros() as u64,
    );
    Ok(res)
}

async fn handle(req: Request<Incoming>) -> Result<Response<Body>, hyper::Error> {
    Ok(match (req.method(), req.uri().path()) {
        (&Method::GET, "/ws") => ws(req),
        (&Method::GET, "/") => text(StatusCode::OK, Bytes::from_static(b"Hello, World!")),
        (&Method::POST, "/count") => {
            let mut body = req.into_body();
            let mut n = 0u64;
            while let Some(frame) = body.frame().await {
                if let Some(data) = frame?.data_ref() {
                    n += data.len() as u64;
                }
            }
            text(StatusCode::OK, n.to_string())
        }
        (&Method::GET, "/stream") => {
            fn chunk(_: usize) -> Result<Frame<Bytes>, Infallible> {
                Ok(Frame::data(Bytes::from_static(&PATTERN)))
            }
            let chunks: Chunks = futures::stream::iter((0..STREAM_CHUNKS).map(chunk as fn(_) -> _));
            Response::builder()
                .header("content-type", "application/octet-stream")
                .header("content-length", STREAM_BYTES)
                .body(Either::Right(StreamBody::new(chunks)))
                .expect("static head")
        }
        (&Method::GET, "/poll") => {
            tokio::time::sleep(POLL_TIMEOUT).await;
            let mut res = text(StatusCode::NO_CONTENT, Bytes::new());
            res.headers_mut().remove("content-type");
            res
        }
        (&Method::GET, "/block") => match block_ms(req.uri().query()) {
            Some(ms) => {
                let slept = tokio::task::spawn_blocking(move || {
                    std::thread::sleep(Duration::from_millis(ms));
                    ms
                })
                .await;
                match slept {
                    Ok(ms) => text(StatusCode::OK, format!("slept={ms}")),
                    Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "blocking call failed\n"),
                }
            }
            None => text(StatusCode::BAD_REQUEST, "ms must be 0..=10000\n"),
        },
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    })
}

async fn serve(args: ServerArgs, log: bool) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.bind).await?;
    weir_bench::announce(listener.local_addr()?);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            // Out of descriptors and the like: keep serving the connections we have.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let mut builder = http1::Builder::new();
            builder.pipeline_flush(true);
            let io = TokioIo::new(stream);
            let _ = if log {
                builder
                    .serve_connection(io, service_fn(move |req| logged(req, peer)))
                    .with_upgrades()
                    .await
            } else {
                builder
                    .serve_connection(io, service_fn(handle))
                    .with_upgrades()
                    .await
            };
        });
    }
}

fn main() -> std::io::Result<()> {
    let args = ServerArgs::from_env();
    // The guard flushes the non-blocking writer's queue when `main` returns.
    let mut _guard = None;
    if let Some(path) = &args.access_log {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let (writer, guard) = tracing_appender::non_blocking(file);
        _guard = Some(guard);
        tracing_subscriber::fmt()
            .with_writer(writer)
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .init();
    }
    let log = args.access_log.is_some();
    let runtime = if args.workers == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.workers)
            .enable_all()
            .build()?
    };
    runtime.block_on(serve(args, log))
}

//! `actixweb-server`: the benchmark routes (see the `weir_bench` crate docs) on actix-web 4,
//! written the way its documentation shows: `HttpServer` with `.workers(N)` and otherwise
//! default settings, `web::Payload` streamed for the upload, a streaming body with
//! `no_chunking` for the 1 MiB response, `web::block` for the blocking route, actix-ws for
//! `/ws`. No logger middleware, no log subscriber, unless `--access-log FILE`: then
//! `middleware::Logger::default()` with `env_logger` writing to the file (its
//! `Target::Pipe`), as actix-web's docs set up a logger.

use std::convert::Infallible;
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use bytes::Bytes;
use futures::StreamExt;
use weir_bench::{block_ms, ServerArgs, PATTERN, POLL_TIMEOUT, STREAM_BYTES, STREAM_CHUNKS};

async fn hello() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain")
        .body("Hello, World!")
}

async fn count(mut body: web::Payload) -> actix_web::Result<HttpResponse> {
    let mut n = 0u64;
    while let Some(chunk) = body.next().await {
        n += chunk?.len() as u64;
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain")
        .body(n.to_string()))
}

async fn stream() -> HttpResponse {
    let chunks = futures::stream::iter(
        (0..STREAM_CHUNKS).map(|_| Ok::<_, Infallible>(Bytes::from_static(&PATTERN))),
    );
    HttpResponse::Ok()
        .content_type("application/octet-stream")
        .no_chunking(STREAM_BYTES as u64)
        .streaming(chunks)
}

async fn poll() -> HttpResponse {
    actix_web::rt::time::sleep(POLL_TIMEOUT).await;
    HttpResponse::NoContent().finish()
}

async fn block(req: HttpRequest) -> actix_web::Result<HttpResponse> {
    let Some(ms) = block_ms(Some(req.query_string())) else {
        return Ok(HttpResponse::BadRequest().body("ms must be 0..=10000\n"));
    };
    let slept = web::block(move || {
        std::thread::sleep(Duration::from_millis(ms));
        ms
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain")
        .body(format!("slept={slept}")))
}

/// WebSocket echo with actix-ws, as its README shows: `handle`, then a local task that
/// echoes text and binary messages and answers pings (actix-ws leaves pongs to the app).
async fn ws(req: HttpRequest, body: web::Payload) -> actix_web::Result<HttpResponse> {
    let (response, mut session, mut stream) = actix_ws::handle(&req, body)?;
    actix_web::rt::spawn(async move {
        while let Some(Ok(msg)) = stream.next().await {
            let sent = match msg {
                actix_ws::Message::Text(t) => session.text(t).await,
                actix_ws::Message::Binary(b) => session.binary(b).await,
                actix_ws::Message::Ping(p) => session.pong(&p).await,
                actix_ws::Message::Close(reason) => {
                    let _ = session.close(reason).await;
                    return;
                }
                _ => Ok(()),
            };
            if sent.is_err() {
                return;
            }
        }
    });
    Ok(response)
}

fn main() -> std::io::Result<()> {
    let args = ServerArgs::from_env();
    let logged = args.access_log.is_some();
    if let Some(path) = &args.access_log {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        env_logger::Builder::new()
            .filter_module("actix_web::middleware::logger", log::LevelFilter::Info)
            .target(env_logger::Target::Pipe(Box::new(file)))
            .init();
    }
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::Condition::new(
                    logged,
                    actix_web::middleware::Logger::default(),
                ))
                .route("/", web::get().to(hello))
                .route("/count", web::post().to(count))
                .route("/stream", web::get().to(stream))
                .route("/poll", web::get().to(poll))
                .route("/block", web::get().to(block))
                .route("/ws", web::get().to(ws))
        })
        .workers(args.workers)
        .bind(args.bind)?;
        let addr = server.addrs()[0];
        let running = server.run();
        weir_bench::announce(addr);
        running.await
    })
}

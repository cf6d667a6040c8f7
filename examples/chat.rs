//! `chat`: a chat room in one process: a [`Hub`] actor broadcasts each message to every
//! client held open by a Comet route (server-sent events, long-poll, a streaming response).
//!
//! A message is the JSON object `{"id":N,"name":"…","text":"…"}` wherever one is sent to a
//! client; ids increase by 1 from 1. The hub keeps the last `--history` messages for clients
//! that resume (`since`, `Last-Event-ID`); older ones are gone. An id this run of the server
//! has not issued yet (at least `next_id`) comes from a client of an earlier run, since ids
//! begin at 1 again on restart: such a client gets every kept message.
//!
//! - `GET /` → the page: type a name and messages, see everyone's appear live. It uses a
//!   WebSocket on `/ws`, falls back to `EventSource` on `/events` when WebSocket is missing
//!   or never connects, and to long-polling `/poll` when `EventSource` is missing or keeps
//!   failing (`/?transport=sse` and `/?transport=poll` force a fallback). No external
//!   assets.
//! - `POST /send` with a JSON body `{"name":…,"text":…}` (`content-type: application/json`)
//!   or a form body `name=…&text=…` (`application/x-www-form-urlencoded`; without a
//!   content-type, a body starting with `{` is JSON) → 204 once published. Empty name or
//!   text, a name over 64 characters, bad JSON or a missing field → 400 with a plain-text
//!   reason; a text over 4096 bytes (or a body over 64 KiB) → 413; another content-type →
//!   415.
//! - `GET /poll?since=ID` → long-poll: 200 with a JSON array of the kept messages with
//!   id > ID as soon as there is at least one, or 204 after `--poll-timeout` seconds
//!   (default 25). Without `since`, it waits for the next message.
//! - `GET /events` → `text/event-stream`, one event per message (`id:` = message id,
//!   `data:` = the message), a keep-alive comment every 15 s. Resumes after the
//!   `Last-Event-ID` header when the browser reconnects; else after `?since=ID` if given
//!   (the page passes `since=0` to show the kept history once); else starts from now,
//!   with no replay.
//! - `GET /ws?since=ID` → a WebSocket: each message is pushed as one JSON text frame (the
//!   kept ones after ID first, as for `/stream`); what the client sends is ignored (messages
//!   go through `POST /send`). A subscriber the hub drops as too slow is closed with 1013
//!   (try again later), and the page reconnects with `since`.
//! - `GET /stream` → a chunked `application/x-ndjson` response, one line of JSON per
//!   message, forever (`?since=ID` replays kept messages after ID first; the response head
//!   goes out with the first line).
//! - `GET /stats` (diagnostics) → `{"subscribers":N,"history":H,"next_id":M}`: the hub's
//!   live subscribers (one per waiting long-poll, SSE or stream client), kept messages, and
//!   the id the next message will get.
//!
//! A subscriber that cannot keep up (256 messages queued) is dropped by the hub; its SSE
//! stream ends and the browser reconnects with `Last-Event-ID`, picking up from the history.
//!
//! Every GET route also answers HEAD (RFC 9110 §9.3.2) with the same head and no body; for
//! `/events` and `/stream` that head is all there is, so a HEAD ends there instead of
//! holding the connection.
//!
//! Options: `--bind HOST:PORT` (default `127.0.0.1:8080`; port 0 picks a free port),
//! `--workers N`, `--pool N`, `--queue N` (as in the other examples), `--poll-timeout SECS`
//! (default 25), `--history N` (default 1000); `-- --help` lists them with their defaults.
//!
//! Run: `cargo run --example chat -- --bind 127.0.0.1:8080`, open
//! <http://127.0.0.1:8080/> in two browser tabs, or from a shell:
//! `curl -N http://127.0.0.1:8080/stream` in one terminal and
//! `curl -d name=ann -d text=hi http://127.0.0.1:8080/send` in another.

mod common;

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use futures::future::Either;
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use weir_actors::actix::{Actor, Addr};
use weir_actors::hub::{Hub, Publish, Stats, Subscribe, Subscription};
use weir_actors::weir::h1::BodyFraming;
use weir_actors::weir::ws::{Accept, Message as WsMessage};
use weir_actors::weir::{
    sse, Bytes, CloseReason, Error, Exchange, Method, Outcome, Result, StatusCode,
};
use weir_actors::{comet, Server};

const PAGE: &str = include_str!("chat.html");
const MAX_TEXT_BYTES: usize = 4096;
const MAX_NAME_CHARS: usize = 64;
/// Room for a 4 KiB text once form-encoded (up to 3 bytes per byte) and a name.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// Messages queued for one subscriber before the hub drops it as too slow.
const SUBSCRIBER_QUEUE: usize = 256;
/// Messages in one long-poll answer at most, oldest first (the next poll gets the rest).
const MAX_POLL_BATCH: usize = 1000;
const SSE_KEEPALIVE: Duration = Duration::from_secs(15);

const JSON: [(&str, &str); 2] = [
    ("content-type", "application/json"),
    ("cache-control", "no-store"),
];
const TEXT: [(&str, &str); 1] = [("content-type", "text/plain; charset=utf-8")];
/// For the bodiless 204s.
const NO_STORE: [(&str, &str); 1] = [("cache-control", "no-store")];

/// A chat message as published; its id is the hub's.
struct Chat {
    name: String,
    text: String,
}

type ChatHub = Hub<Arc<Chat>>;

/// A message as clients see it.
#[derive(Serialize)]
struct Wire<'a> {
    id: u64,
    name: &'a str,
    text: &'a str,
}

fn to_json(id: u64, m: &Chat) -> String {
    serde_json::to_string(&Wire {
        id,
        name: &m.name,
        text: &m.text,
    })
    .expect("a message serializes")
}

/// What every worker's copy of the app holds.
#[derive(Clone)]
struct State {
    hub: Addr<ChatHub>,
    poll_timeout: Duration,
}

async fn chat(ex: Exchange, st: Arc<State>) -> Result<Outcome> {
    let method = ex.request().method().clone();
    // HEAD is GET without the body (RFC 9110 §9.3.2): every GET route takes both.
    let get = method == Method::GET || method == Method::HEAD;
    match (ex.request().path(), get, method == Method::POST) {
        ("/", true, _) => {
            let html = [
                ("content-type", "text/html; charset=utf-8"),
                ("cache-control", "no-cache"),
            ];
            ex.respond(StatusCode::OK, html, PAGE).await
        }
        ("/send", _, true) => send(ex, st).await,
        ("/poll", true, _) => poll(ex, st).await,
        ("/events", true, _) => events(ex, st).await,
        ("/stream", true, _) => stream(ex, st).await,
        ("/ws", true, _) => websocket(ex, st).await,
        ("/stats", true, _) => stats(ex, st).await,
        ("/send", _, _) => not_allowed(ex, "POST").await,
        ("/" | "/poll" | "/events" | "/stream" | "/stats" | "/ws", _, _) => {
            not_allowed(ex, "GET, HEAD").await
        }
        _ => ex.respond(StatusCode::NOT_FOUND, TEXT, "not found\n").await,
    }
}

async fn not_allowed(ex: Exchange, allow: &str) -> Result<Outcome> {
    let headers = [TEXT[0], ("allow", allow)];
    ex.respond(
        StatusCode::METHOD_NOT_ALLOWED,
        headers,
        "method not allowed\n",
    )
    .await
}

fn bad_request(msg: impl Into<String>) -> Error {
    Error::with_status(StatusCode::BAD_REQUEST, msg)
}

/// Subscribe after `since`. An id this run has not issued yet (`since >= next_id`) was seen
/// from an earlier run of the server (ids begin at 1 again on restart): all kept messages
/// are replayed then, so a page left open across a restart misses nothing.
async fn subscribe(hub: &Addr<ChatHub>, since: Option<u64>) -> Result<Subscription<Arc<Chat>>> {
    let since = match since {
        Some(s) if s > 0 => {
            let next_id = hub.send(Stats).await.map_err(Error::other)?.next_id;
            Some(if s >= next_id { 0 } else { s })
        }
        other => other,
    };
    hub.send(Subscribe::since(since))
        .await
        .map_err(Error::other)
}

/// `?since=ID`: `None` when absent, 400 when not a number.
fn since_param(ex: &Exchange) -> Result<Option<u64>> {
    match ex.request().query_param("since") {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| bad_request("since must be a message id (a whole number)\n")),
    }
}

/// `POST /send`: parse a JSON or form body, publish, 204.
async fn send(mut ex: Exchange, st: Arc<State>) -> Result<Outcome> {
    let too_large = || {
        Error::with_status(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body over {MAX_BODY_BYTES} bytes\n"),
        )
    };
    if let BodyFraming::Length(n) = ex.request().framing() {
        if n > MAX_BODY_BYTES as u64 {
            return Err(too_large());
        }
    }
    let kind = body_kind(&ex)?;
    let body = ex.read_to_end(MAX_BODY_BYTES).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            e
        }
    })?;
    let msg = parse_message(&body, kind)?;
    st.hub
        .send(Publish(Arc::new(msg)))
        .await
        .map_err(Error::other)?;
    ex.respond(StatusCode::NO_CONTENT, NO_STORE, "").await
}

/// How a `/send` body is encoded, from its content-type.
#[derive(Clone, Copy)]
enum BodyKind {
    Json,
    Form,
    /// No content-type: JSON if the body starts with `{`, else a form.
    Sniff,
}

/// The body's encoding; 415 for a content-type that is neither JSON nor a form.
fn body_kind(ex: &Exchange) -> Result<BodyKind> {
    let Some(ct) = ex.request().headers().get("content-type") else {
        return Ok(BodyKind::Sniff);
    };
    let essence = ct
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Ok(BodyKind::Json),
        "application/x-www-form-urlencoded" => Ok(BodyKind::Form),
        _ => Err(Error::with_status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send application/json or application/x-www-form-urlencoded\n",
        )),
    }
}

/// Parse and check a message body.
fn parse_message(body: &[u8], kind: BodyKind) -> Result<Chat> {
    let json = match kind {
        BodyKind::Json => true,
        BodyKind::Form => false,
        BodyKind::Sniff => body.trim_ascii_start().starts_with(b"{"),
    };
    let (name, text) = if json {
        #[derive(Deserialize)]
        struct Incoming {
            name: String,
            text: String,
        }
        let m: Incoming = serde_json::from_slice(body)
            .map_err(|e| bad_request(format!("invalid JSON body: {e}\n")))?;
        (m.name, m.text)
    } else {
        let (mut name, mut text) = (None, None);
        for (k, v) in form_urlencoded::parse(body) {
            match &*k {
                "name" => name = Some(v.into_owned()),
                "text" => text = Some(v.into_owned()),
                _ => {}
            }
        }
        let missing = |f: &str| bad_request(format!("invalid form body: missing field `{f}`\n"));
        (
            name.ok_or_else(|| missing("name"))?,
            text.ok_or_else(|| missing("text"))?,
        )
    };
    let name = name.trim().to_owned();
    if name.is_empty() {
        return Err(bad_request("name must not be empty\n"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(bad_request(format!(
            "name must be at most {MAX_NAME_CHARS} characters\n"
        )));
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(Error::with_status(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("text must be at most {MAX_TEXT_BYTES} bytes\n"),
        ));
    }
    if text.trim().is_empty() {
        return Err(bad_request("text must not be empty\n"));
    }
    Ok(Chat { name, text })
}

/// `GET /poll?since=ID`: answer with the backlog at once, else wait for the next message,
/// the timeout or the client leaving (which drops the subscription).
async fn poll(ex: Exchange, st: Arc<State>) -> Result<Outcome> {
    let since = since_param(&ex)?;
    let mut sub = subscribe(&st.hub, since).await?;
    let mut batch = sub.take_backlog();
    batch.truncate(MAX_POLL_BATCH);
    if batch.is_empty() {
        let next = async {
            let timeout = actix_rt::time::sleep(st.poll_timeout);
            futures::select_biased! {
                m = sub.recv().fuse() => m,
                _ = timeout.fuse() => None,
            }
        };
        match ex.or_closed(next).await {
            Ok(Some(m)) => {
                batch.push(m);
                // Whatever else is already queued goes in the same answer.
                while batch.len() < MAX_POLL_BATCH {
                    match sub.recv().now_or_never() {
                        Some(Some(m)) => batch.push(m),
                        _ => break,
                    }
                }
            }
            // Timed out, or dropped by the hub: the client polls again.
            Ok(None) => {}
            Err(CloseReason::ClientGone) => return Err(Error::disconnected()),
            // Shutting down: answer now (the client polls again, elsewhere or later).
            Err(CloseReason::Shutdown) => {}
        }
    }
    drop(sub);
    if batch.is_empty() {
        return ex.respond(StatusCode::NO_CONTENT, NO_STORE, "").await;
    }
    let items: Vec<Wire<'_>> = batch
        .iter()
        .map(|(id, m)| Wire {
            id: *id,
            name: &m.name,
            text: &m.text,
        })
        .collect();
    let body = serde_json::to_string(&items).expect("messages serialize");
    ex.respond(StatusCode::OK, JSON, body).await
}

/// `GET /events`: server-sent events, one per message (`data:` is the message JSON),
/// resuming after `Last-Event-ID` (or `?since=`).
async fn events(mut ex: Exchange, st: Arc<State>) -> Result<Outcome> {
    let since = match sse::last_event_id(ex.request()) {
        Some(id) => Some(id),
        None => since_param(&ex)?,
    };
    let sub = subscribe(&st.hub, since).await?;
    if ex.request().method() == Method::HEAD {
        // The head `comet::sse` would send; no body follows, so nothing to hold open.
        ex.start(StatusCode::OK, sse::HEADERS)?;
        return ex.end(Bytes::new()).await;
    }
    comet::sse(ex, sub, SSE_KEEPALIVE, |id, m: &Arc<Chat>| to_json(id, m)).await
}

/// `GET /stream`: one line of JSON per message, until the client leaves or the server stops.
async fn stream(mut ex: Exchange, st: Arc<State>) -> Result<Outcome> {
    let since = since_param(&ex)?;
    let mut sub = subscribe(&st.hub, since).await?;
    ex.start(
        StatusCode::OK,
        [
            ("content-type", "application/x-ndjson"),
            ("cache-control", "no-store"),
            ("x-accel-buffering", "no"),
        ],
    )?;
    if ex.request().method() == Method::HEAD {
        // No body follows a HEAD response: end at the head rather than hold the connection.
        return ex.end(Bytes::new()).await;
    }
    // The head goes out now, so the client sees the stream open before the first message.
    ex.send_head().await?;
    for (id, m) in sub.take_backlog() {
        ex.send(line(id, &m)).await?;
    }
    loop {
        match ex.or_closed(sub.recv()).await {
            Ok(Some((id, m))) => ex.send(line(id, &m)).await?,
            // Dropped by the hub as too slow: end; the client reconnects with `since`.
            Ok(None) | Err(CloseReason::Shutdown) => break,
            Err(CloseReason::ClientGone) => return Err(Error::disconnected()),
        }
    }
    ex.end(Bytes::new()).await
}

/// `GET /ws`: one JSON text frame per message, until the client leaves or the server stops
/// (the runtime then sends close 1001 and the client's close ends the loop).
async fn websocket(ex: Exchange, st: Arc<State>) -> Result<Outcome> {
    let since = since_param(&ex)?;
    // The handshake is checked first: a bad one (a plain GET, HEAD) is answered at once.
    let upgrading = ex.websocket(Accept::new())?;
    let mut sub = subscribe(&st.hub, since).await?;
    let mut ws = upgrading.await?;
    for (id, m) in sub.take_backlog() {
        ws.send(to_json(id, &m)).await?;
    }
    loop {
        // Whichever comes first: a message to push, or anything from the client (its
        // close, or the connection's end). A dropped `recv` is resumed by the next one.
        let event = {
            let next = std::pin::pin!(sub.recv());
            let heard = std::pin::pin!(ws.recv());
            match futures::future::select(next, heard).await {
                Either::Left((m, _)) => Either::Left(m),
                Either::Right((r, _)) => Either::Right(r),
            }
        };
        match event {
            Either::Left(Some((id, m))) => ws.send(to_json(id, &m)).await?,
            // Dropped by the hub as too slow: RFC 6455 §7.4.1's 1013, try again later.
            Either::Left(None) => return ws.close(1013, "too slow; reconnect").await,
            Either::Right(Ok(WsMessage::Close(_)) | Err(_)) => break,
            Either::Right(Ok(_)) => {}
        }
    }
    Ok(ws.done())
}

fn line(id: u64, m: &Chat) -> String {
    let mut s = to_json(id, m);
    s.push('\n');
    s
}

/// `GET /stats`: the hub's counts, for diagnostics and tests.
async fn stats(ex: Exchange, st: Arc<State>) -> Result<Outcome> {
    #[derive(Serialize)]
    struct Counts {
        subscribers: usize,
        history: usize,
        next_id: u64,
    }
    let s = st.hub.send(Stats).await.map_err(Error::other)?;
    let body = serde_json::to_string(&Counts {
        subscribers: s.subscribers,
        history: s.history,
        next_id: s.next_id,
    })
    .expect("counts serialize");
    ex.respond(StatusCode::OK, JSON, body).await
}

/// `chat`: a chat room in one process. A hub actor broadcasts each message to every client
/// held open by server-sent events (`GET /events`), long-poll (`GET /poll`) or a streaming
/// response (`GET /stream`); `GET /` is the page, `POST /send` publishes.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    server: common::ServerOptions,
    /// Seconds a long-poll waits for a message before answering 204 (0..=3600, fractions
    /// allowed)
    #[arg(
        long,
        value_name = "SECS",
        default_value = "25",
        value_parser = poll_timeout,
        allow_negative_numbers = true
    )]
    poll_timeout: Duration,
    /// Messages the hub keeps for clients that resume (0..=100000)
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1000,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(..=100_000),
        allow_negative_numbers = true
    )]
    history: usize,
}

/// `--poll-timeout`: whole or fractional seconds within 0..=3600.
fn poll_timeout(v: &str) -> std::result::Result<Duration, String> {
    match v.parse::<f64>() {
        Ok(secs) if (0.0..=3600.0).contains(&secs) => Ok(Duration::from_secs_f64(secs)),
        Ok(_) => Err("must be within 0..=3600 seconds".to_owned()),
        Err(e) => Err(format!("not a number of seconds: {e}")),
    }
}

#[actix_rt::main]
async fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    common::init_logging();
    // The hub lives on this (the main) arbiter; every worker's app holds its address.
    let hub = ChatHub::new(cli.history, SUBSCRIBER_QUEUE).start();
    let state = State {
        hub,
        poll_timeout: cli.poll_timeout,
    };
    // One Arc clone per request: cloning the hub's `Addr` itself would allocate sender
    // state for every waiting client.
    let state = Arc::new(state);
    let app = move |ex: Exchange| chat(ex, Arc::clone(&state));
    let server = Server::new(app)
        .config(cli.server.config())
        .bind(&cli.server.bind)?;
    let addr = server.local_addrs()[0];
    let running = server.run()?;
    common::announce(addr);
    tracing::info!(
        history = cli.history,
        poll_timeout = ?cli.poll_timeout,
        "chat ready: open http://{addr}/"
    );
    running.await
}

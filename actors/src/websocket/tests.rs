//! The WebSocket actor's middle test tier: a real HTTP connection upgraded over an
//! in-memory pipe (`tokio::io::duplex`), with tokio's clock paused so the keep-alive and
//! closing timeouts are exact and instant.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use futures::channel::oneshot;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use weir::ws::{Accept, Message};
use weir::{App, Exchange, Outcome};

use crate::connection::Connection;
use crate::pool::SyncPool;
use crate::worker::Worker;
use crate::Config;

const HANDSHAKE: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/// The client's end of the pipe (past the 101), and a receiver that resolves when the
/// connection slot is freed (the WebSocket actor stopped).
async fn open<A: App>(app: A, cfg: Config) -> (DuplexStream, oneshot::Receiver<()>) {
    let (mut client, server) = tokio::io::duplex(64 * 1024);
    let pool = SyncPool::start(1, 1);
    let worker = Rc::new(Worker::new(cfg, Box::new(move |ex| app.call(ex)), pool));
    let (done, closed) = oneshot::channel();
    let info = weir::rt::ConnInfo::new(
        SocketAddr::from(([127, 0, 0, 1], 40000)),
        SocketAddr::from(([127, 0, 0, 1], 8080)),
    );
    Connection::start(Box::new(server), info, worker, done);
    client.write_all(HANDSHAKE).await.unwrap();
    // Read the 101 head byte by byte, so no frame byte is taken with it.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(client.read_u8().await.unwrap());
    }
    assert!(head.starts_with(b"HTTP/1.1 101 "), "{head:?}");
    (client, closed)
}

/// `elapsed` is `want`, give or take the timer wheel's millisecond (tokio rounds deadlines
/// up to the next tick).
fn about(elapsed: Duration, want: Duration) -> bool {
    elapsed >= want && elapsed <= want + Duration::from_millis(2)
}

fn cfg() -> Config {
    Config {
        access_log: None,
        ..Config::default()
    }
}

/// One server frame: (opcode, payload); server frames are small and unmasked here.
async fn read_frame(c: &mut DuplexStream) -> Option<(u8, Vec<u8>)> {
    let b0 = c.read_u8().await.ok()?;
    let len = c.read_u8().await.ok()? as usize;
    assert!(len < 126);
    let mut payload = vec![0; len];
    c.read_exact(&mut payload).await.ok()?;
    Some((b0 & 0x0f, payload))
}

/// A masked client frame with a small payload.
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x80 | opcode, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    out.extend_from_slice(payload); // a zero mask leaves the payload as it is
    out
}

async fn echo(ex: Exchange) -> weir::Result<Outcome> {
    let mut ws = ex.websocket(Accept::new())?.await?;
    while let Ok(msg) = ws.recv().await {
        match msg {
            Message::Text(_) | Message::Binary(_) => ws.send(msg).await?,
            _ => break,
        }
    }
    Ok(ws.done())
}

#[actix_rt::test]
async fn keep_alive_pings_are_on_time_and_a_silent_peer_is_dropped_at_the_pong_timeout() {
    tokio::time::pause();
    let c = Config {
        ws_ping_interval: Some(Duration::from_secs(30)),
        ws_pong_timeout: Duration::from_secs(10),
        ..cfg()
    };
    let (mut client, closed) = open(echo, c).await;
    let start = tokio::time::Instant::now();
    assert_eq!(read_frame(&mut client).await.unwrap().0, 0x9, "a ping");
    assert!(
        about(start.elapsed(), Duration::from_secs(30)),
        "{:?}",
        start.elapsed()
    );
    // Answered: the next ping comes an interval after the pong.
    client.write_all(&frame(0xA, b"")).await.unwrap();
    let answered = tokio::time::Instant::now();
    assert_eq!(read_frame(&mut client).await.unwrap().0, 0x9);
    assert!(
        about(answered.elapsed(), Duration::from_secs(30)),
        "{:?}",
        answered.elapsed()
    );
    // Not answered: dropped exactly at the pong timeout, without a close frame.
    let pinged = tokio::time::Instant::now();
    assert_eq!(read_frame(&mut client).await, None, "no more frames");
    assert!(
        about(pinged.elapsed(), Duration::from_secs(10)),
        "{:?}",
        pinged.elapsed()
    );
    assert!(closed.await.is_err(), "the slot is freed");
}

#[actix_rt::test]
async fn a_close_the_client_never_answers_ends_after_the_linger_timeout() {
    tokio::time::pause();
    let c = Config {
        linger_timeout: Duration::from_secs(2),
        ..cfg()
    };
    let app = |ex: Exchange| async move {
        let ws = ex.websocket(Accept::new())?.await?;
        ws.close(4000, "bye").await
    };
    let (mut client, closed) = open(app, c).await;
    let (op, payload) = read_frame(&mut client).await.unwrap();
    assert_eq!((op, &payload[..]), (0x8, &b"\x0f\xa0bye"[..]));
    let sent = tokio::time::Instant::now();
    // The client never answers: the server waits for its close, then closes first.
    assert_eq!(read_frame(&mut client).await, None);
    assert!(
        about(sent.elapsed(), Duration::from_secs(2)),
        "{:?}",
        sent.elapsed()
    );
    drop(client);
    assert!(closed.await.is_err(), "the slot is freed");
}

#[actix_rt::test]
async fn frames_behind_the_handshake_in_the_read_buffer_are_carried_over() {
    let (mut client, server) = tokio::io::duplex(64 * 1024);
    let pool = SyncPool::start(1, 1);
    let worker = Rc::new(Worker::new(
        cfg(),
        Box::new(move |ex| App::call(&echo, ex)),
        pool,
    ));
    let (done, _closed) = oneshot::channel();
    let info = weir::rt::ConnInfo::new(
        SocketAddr::from(([127, 0, 0, 1], 40000)),
        SocketAddr::from(([127, 0, 0, 1], 8080)),
    );
    Connection::start(Box::new(server), info, worker, done);
    let mut packet = HANDSHAKE.to_vec();
    packet.extend(frame(0x1, b"one"));
    packet.extend(frame(0x2, b"two"));
    client.write_all(&packet).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(client.read_u8().await.unwrap());
    }
    assert_eq!(
        read_frame(&mut client).await.unwrap(),
        (0x1, b"one".to_vec())
    );
    assert_eq!(
        read_frame(&mut client).await.unwrap(),
        (0x2, b"two".to_vec())
    );
}

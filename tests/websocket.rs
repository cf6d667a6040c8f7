//! WebSocket over raw sockets on 127.0.0.1: the handshake's rules (400, 426 with its header),
//! a good handshake's 101 and accept key, echo of text, binary and fragmented messages,
//! framing errors closed with the RFC 6455 code (1002 for an unmasked client frame, 1009
//! past the frame and message limits), ping → pong, a client that stops reading (bounded
//! memory, dropped after the write timeout), a client that vanishes (the app's signal
//! fires), graceful shutdown (close 1001), bytes sent in the handshake's packet (carried
//! over), keep-alive pings that find a dead peer, and the blocking handle on a pool thread.

mod support;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::{config, read_head, serve, TestServer};
use weir_actors::weir::ws::{Accept, Message};
use weir_actors::weir::{Bytes, CloseReason, Exchange, Outcome, Result};
use weir_actors::Config;

/// The sample key of RFC 6455 §1.3, and its answer.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CONT: u8 = 0x0;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// Echo text and binary messages until the client closes.
async fn echo_app(ex: Exchange) -> Result<Outcome> {
    let mut ws = ex.websocket(Accept::new().protocol("echo.v1"))?.await?;
    while let Ok(msg) = ws.recv().await {
        match msg {
            Message::Text(_) | Message::Binary(_) => ws.send(msg).await?,
            Message::Close(_) => break,
            _ => {}
        }
    }
    Ok(ws.done())
}

fn handshake_request(extra: &str) -> String {
    format!(
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n{extra}\r\n"
    )
}

/// A client frame: masked (RFC 6455 §5.3) unless `masked` is false.
fn frame(fin: bool, opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = vec![(if fin { 0x80 } else { 0 }) | opcode];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n < 65536 => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let key = [0x12, 0x34, 0x56, 0x78];
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// One server frame: (fin, opcode, payload). Server frames are never masked (§5.1).
fn read_frame(r: &mut impl Read) -> std::io::Result<(bool, u8, Vec<u8>)> {
    let mut h = [0u8; 2];
    r.read_exact(&mut h)?;
    assert_eq!(h[1] & 0x80, 0, "server frames are not masked");
    let len = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b)?;
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            r.read_exact(&mut b)?;
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0; len];
    r.read_exact(&mut payload)?;
    Ok((h[0] & 0x80 != 0, h[0] & 0x0f, payload))
}

fn close_code(payload: &[u8]) -> u16 {
    u16::from_be_bytes([payload[0], payload[1]])
}

/// Connect and complete a handshake; the reader holds any bytes past the 101.
fn open(srv: &TestServer) -> (TcpStream, BufReader<TcpStream>) {
    let mut s = srv.connect();
    s.write_all(handshake_request("").as_bytes()).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let resp = read_head(&mut r);
    assert_eq!(resp.status, 101, "{resp:?}");
    (s, r)
}

/// Whether the server closed the TCP connection (EOF or reset) within the read timeout.
fn closed_by_server(r: &mut impl Read) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match r.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn bad_handshakes_are_refused_with_the_rfc_status() {
    let srv = serve(echo_app, config());
    let base = "Host: x\r\n";
    let up = "Upgrade: websocket\r\nConnection: Upgrade\r\n";
    let ver = "Sec-WebSocket-Version: 13\r\n";
    let key = format!("Sec-WebSocket-Key: {KEY}\r\n");
    // (what, request, expected status)
    let cases: Vec<(&str, String, u16)> = vec![
        (
            "no key",
            format!("GET / HTTP/1.1\r\n{base}{up}{ver}\r\n"),
            400,
        ),
        (
            "bad key",
            format!("GET / HTTP/1.1\r\n{base}{up}{ver}Sec-WebSocket-Key: AAAA\r\n\r\n"),
            400,
        ),
        (
            "wrong version",
            format!("GET / HTTP/1.1\r\n{base}{up}Sec-WebSocket-Version: 8\r\n{key}\r\n"),
            426,
        ),
        (
            "POST",
            format!("POST / HTTP/1.1\r\n{base}{up}{ver}{key}Content-Length: 0\r\n\r\n"),
            400,
        ),
        (
            "HTTP/1.0",
            format!("GET / HTTP/1.0\r\n{base}{up}{ver}{key}\r\n"),
            400,
        ),
        (
            "no Upgrade",
            format!("GET / HTTP/1.1\r\n{base}Connection: Upgrade\r\n{ver}{key}\r\n"),
            400,
        ),
        (
            "no Connection",
            format!("GET / HTTP/1.1\r\n{base}Upgrade: websocket\r\n{ver}{key}\r\n"),
            400,
        ),
    ];
    for (what, req, status) in cases {
        let mut s = srv.connect();
        s.write_all(req.as_bytes()).unwrap();
        let mut r = BufReader::new(s);
        let resp = support::read_response(&mut r, false).unwrap();
        assert_eq!(resp.status, status, "{what}: {resp:?}");
        assert!(resp.header("sec-websocket-accept").is_none(), "{what}");
        if status == 426 {
            assert_eq!(resp.header("sec-websocket-version"), Some("13"), "{what}");
        }
    }
}

#[test]
fn a_good_handshake_gets_101_with_the_accept_key_and_no_body_framing() {
    let srv = serve(echo_app, config());
    let mut s = srv.connect();
    let req = handshake_request("Sec-WebSocket-Protocol: other, echo.v1\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let resp = read_head(&mut r);
    assert_eq!(resp.status, 101);
    assert_eq!(resp.header("sec-websocket-accept"), Some(ACCEPT));
    assert_eq!(resp.header("sec-websocket-protocol"), Some("echo.v1"));
    assert!(resp
        .header("upgrade")
        .unwrap()
        .eq_ignore_ascii_case("websocket"));
    assert!(resp.header("content-length").is_none());
    assert!(resp.header("transfer-encoding").is_none());
    assert!(resp.header("sec-websocket-extensions").is_none());
    s.write_all(&frame(true, TEXT, b"hi", true)).unwrap();
    assert_eq!(read_frame(&mut r).unwrap(), (true, TEXT, b"hi".to_vec()));
}

#[test]
fn text_binary_and_fragmented_messages_echo_whole() {
    let srv = serve(echo_app, config());
    let (mut s, mut r) = open(&srv);
    s.write_all(&frame(true, TEXT, "héllo".as_bytes(), true))
        .unwrap();
    assert_eq!(
        read_frame(&mut r).unwrap(),
        (true, TEXT, "héllo".as_bytes().to_vec())
    );
    let big: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
    s.write_all(&frame(true, BINARY, &big, true)).unwrap();
    assert_eq!(read_frame(&mut r).unwrap(), (true, BINARY, big));
    // Three fragments with a ping in between (RFC 6455 §5.4, §5.5): one message back,
    // after the pong.
    s.write_all(&frame(false, TEXT, b"frag", true)).unwrap();
    s.write_all(&frame(false, CONT, b"men", true)).unwrap();
    s.write_all(&frame(true, PING, b"p", true)).unwrap();
    s.write_all(&frame(true, CONT, b"ted", true)).unwrap();
    assert_eq!(read_frame(&mut r).unwrap(), (true, PONG, b"p".to_vec()));
    assert_eq!(
        read_frame(&mut r).unwrap(),
        (true, TEXT, b"fragmented".to_vec())
    );
    // A clean close: the server echoes it, then closes the TCP connection first.
    s.write_all(&frame(true, CLOSE, &1000u16.to_be_bytes(), true))
        .unwrap();
    let (_, op, payload) = read_frame(&mut r).unwrap();
    assert_eq!((op, close_code(&payload)), (CLOSE, 1000));
    assert!(closed_by_server(&mut r));
}

#[test]
fn ping_gets_a_pong_with_its_payload() {
    let srv = serve(echo_app, config());
    let (mut s, mut r) = open(&srv);
    s.write_all(&frame(true, PING, b"are you there", true))
        .unwrap();
    assert_eq!(
        read_frame(&mut r).unwrap(),
        (true, PONG, b"are you there".to_vec())
    );
}

#[test]
fn an_unmasked_client_frame_is_closed_with_1002() {
    let srv = serve(echo_app, config());
    let (mut s, mut r) = open(&srv);
    s.write_all(&frame(true, TEXT, b"bare", false)).unwrap();
    let (_, op, payload) = read_frame(&mut r).unwrap();
    assert_eq!((op, close_code(&payload)), (CLOSE, 1002));
    assert!(closed_by_server(&mut r));
}

#[test]
fn frames_and_messages_past_the_limits_are_closed_with_1009() {
    let cfg = Config {
        ws_max_frame: 1024,
        ws_max_message: 2048,
        ..config()
    };
    let srv = serve(echo_app, cfg);
    // One frame over the frame limit.
    let (mut s, mut r) = open(&srv);
    s.write_all(&frame(true, BINARY, &[7; 1500], true)).unwrap();
    let (_, op, payload) = read_frame(&mut r).unwrap();
    assert_eq!((op, close_code(&payload)), (CLOSE, 1009), "frame");
    assert!(closed_by_server(&mut r));
    // Frames within the limit adding up past the message limit.
    let (mut s, mut r) = open(&srv);
    s.write_all(&frame(true, BINARY, &[1; 1000], true)).unwrap();
    assert_eq!(read_frame(&mut r).unwrap().2.len(), 1000, "within limits");
    for i in 0..3 {
        let op = if i == 0 { BINARY } else { CONT };
        let _ = s.write_all(&frame(i == 2, op, &[2; 1000], true));
    }
    let (_, op, payload) = read_frame(&mut r).unwrap();
    assert_eq!((op, close_code(&payload)), (CLOSE, 1009), "message");
}

#[test]
fn bytes_sent_with_the_handshake_are_not_lost() {
    let srv = serve(echo_app, config());
    let mut s = srv.connect();
    let mut packet = handshake_request("").into_bytes();
    packet.extend(frame(true, TEXT, b"early", true));
    packet.extend(frame(true, BINARY, b"bird", true));
    s.write_all(&packet).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    assert_eq!(read_head(&mut r).status, 101);
    assert_eq!(read_frame(&mut r).unwrap(), (true, TEXT, b"early".to_vec()));
    assert_eq!(
        read_frame(&mut r).unwrap(),
        (true, BINARY, b"bird".to_vec())
    );
}

#[test]
fn a_client_that_vanishes_raises_the_apps_signal() {
    let (tx, rx) = mpsc::channel();
    let app = move |ex: Exchange| {
        let tx = tx.clone();
        async move {
            let ws = ex.websocket(Accept::new())?.await?;
            // Not reading: the signal alone must tell.
            let reason = ws.closed().await;
            let _ = tx.send(reason);
            Ok(ws.done())
        }
    };
    let srv = serve(app, config());
    let (s, r) = open(&srv);
    drop((s, r));
    let reason = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("signal fired");
    assert_eq!(reason, CloseReason::ClientGone);
}

#[test]
fn recv_fails_when_the_client_vanishes() {
    let (tx, rx) = mpsc::channel();
    let app = move |ex: Exchange| {
        let tx = tx.clone();
        async move {
            let mut ws = ex.websocket(Accept::new())?.await?;
            let res = ws.recv().await;
            let _ = tx.send((
                res.map_err(|e| e.is_disconnected()),
                ws.close_signal().reason(),
            ));
            Ok(ws.done())
        }
    };
    let srv = serve(app, config());
    let (s, r) = open(&srv);
    std::thread::sleep(Duration::from_millis(50));
    drop((s, r));
    let (res, reason) = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("recv returned");
    assert_eq!(res, Err(true));
    assert_eq!(reason, Some(CloseReason::ClientGone));
}

#[test]
fn a_client_that_stops_reading_holds_the_app_and_is_dropped_after_the_write_timeout() {
    const PIECE: usize = 64 * 1024;
    let (tx, rx) = mpsc::channel();
    let app = move |ex: Exchange| {
        let tx = tx.clone();
        async move {
            let mut ws = ex.websocket(Accept::new())?.await?;
            let mut sent = 0usize;
            let err = loop {
                match ws.send(Bytes::from(vec![0u8; PIECE])).await {
                    Ok(()) => sent += PIECE,
                    Err(e) => break e,
                }
                // Bounded even if the server never pushed back.
                if sent > 1 << 30 {
                    break weir_actors::weir::Error::other("never held");
                }
            };
            let _ = tx.send((sent, err.is_disconnected()));
            Ok(ws.done())
        }
    };
    let cfg = Config {
        write_timeout: Duration::from_millis(500),
        ..config()
    };
    let srv = serve(app, cfg);
    let (_s, _r) = open(&srv);
    let started = Instant::now();
    let (sent, disconnected) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("app stopped");
    assert!(disconnected, "the app's send failed as disconnected");
    // What the app got acked is what the socket buffers (a few MiB on loopback: Linux's
    // tcp_wmem and tcp_rmem maxima) and the high-water mark hold; an unbounded queue would
    // take the loop's whole 1 GiB in that time.
    assert!(
        sent < 16 << 20,
        "sent {sent} bytes to a client that never read"
    );
    assert!(started.elapsed() < Duration::from_secs(8));
}

#[test]
fn graceful_shutdown_sends_close_1001() {
    let srv = serve(echo_app, config());
    let (mut s, mut r) = open(&srv);
    // The echo proves the socket is live before the stop.
    s.write_all(&frame(true, TEXT, b"x", true)).unwrap();
    assert_eq!(read_frame(&mut r).unwrap().2, b"x");
    let handle = srv.handle();
    let stopper = std::thread::spawn(move || futures::executor::block_on(handle.stop()));
    let (_, op, payload) = read_frame(&mut r).unwrap();
    assert_eq!((op, close_code(&payload)), (CLOSE, 1001));
    s.write_all(&frame(true, CLOSE, &1001u16.to_be_bytes(), true))
        .unwrap();
    assert!(closed_by_server(&mut r));
    let t = Instant::now();
    stopper.join().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "stop waited {:?}",
        t.elapsed()
    );
    drop(srv);
}

#[test]
fn a_peer_that_does_not_answer_keep_alive_pings_is_dropped() {
    let cfg = Config {
        ws_ping_interval: Some(Duration::from_millis(200)),
        ws_pong_timeout: Duration::from_millis(300),
        ..config()
    };
    let srv = serve(echo_app, cfg);
    let (_s, mut r) = open(&srv);
    let (_, op, _) = read_frame(&mut r).unwrap();
    assert_eq!(op, PING, "a keep-alive ping");
    assert!(closed_by_server(&mut r), "dropped after the pong timeout");
}

#[test]
fn the_blocking_handle_echoes_on_a_pool_thread() {
    let app = |ex: Exchange| async move {
        let ws = ex.websocket(Accept::new())?.await?;
        let worker = std::thread::current().id();
        ws.run_blocking(move |mut ws| {
            let elsewhere = std::thread::current().id() != worker;
            ws.send(format!("on a pool thread: {elsewhere}"))?;
            while let Ok(msg) = ws.recv() {
                match msg {
                    Message::Text(_) | Message::Binary(_) => ws.send(msg)?,
                    _ => break,
                }
            }
            Ok(())
        })
        .await
    };
    let srv = serve(app, config());
    let (mut s, mut r) = open(&srv);
    assert_eq!(read_frame(&mut r).unwrap().2, b"on a pool thread: true");
    for i in 0..3u8 {
        s.write_all(&frame(true, BINARY, &[i; 10], true)).unwrap();
        assert_eq!(read_frame(&mut r).unwrap(), (true, BINARY, vec![i; 10]));
    }
    s.write_all(&frame(true, CLOSE, &1000u16.to_be_bytes(), true))
        .unwrap();
    let (_, op, _) = read_frame(&mut r).unwrap();
    assert_eq!(op, CLOSE);
    assert!(closed_by_server(&mut r));
}

//! Minimum data rates over real sockets: clients that trickle a body in or read a response
//! out just below the rate are reaped; just above it they are served. (The exact edges, to
//! the millisecond, are checked with a paused clock in `actors/src/connection/tests.rs`.)

mod support;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{config, read_response, serve};
use weir_actors::config::MinDataRate;
use weir_actors::weir::{Exchange, Outcome, Result, StatusCode};
use weir_actors::Config;

/// Bodies: 1000 B/s over 1 s windows. Responses: 1 MB/s with 200 ms of grace: loopback
/// autotunes a send buffer to about 4 MB, and a reader's credit is capped at the time a
/// reader at the rate needs to drain half of it (see `actors/src/connection/rate.rs`), so a
/// high rate keeps that cap, and the test, to seconds. The same rules as the defaults.
fn rated() -> Config {
    Config {
        min_request_body_rate: Some(MinDataRate {
            bytes_per_second: 1000,
            grace: Duration::from_secs(1),
        }),
        min_response_rate: Some(MinDataRate {
            bytes_per_second: 1024 * 1024,
            grace: Duration::from_millis(200),
        }),
        ..config()
    }
}

async fn app(mut ex: Exchange) -> Result<Outcome> {
    let n = ex.discard_body().await?;
    if ex.request().path() == "/big" {
        // 16 MiB in 16 KiB sends, as a streaming app writes.
        let len = (16 * 1024 * 1024).to_string();
        ex.start(StatusCode::OK, [("content-length", len.as_str())])?;
        for _ in 0..1023 {
            ex.send(vec![b'r'; 16 * 1024]).await?;
        }
        return ex.end(vec![b'r'; 16 * 1024]).await;
    }
    ex.respond(StatusCode::OK, [("x", "y")], n.to_string())
        .await
}

/// Send a body of `total` bytes at `per_sec` bytes a second (in 50 ms pieces); returns the
/// response, read on another thread so the answer is seen as soon as it comes.
fn trickle_body(addr: std::net::SocketAddr, total: usize, per_sec: usize) -> (u16, Duration) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let t0 = Instant::now();
    let reader = std::thread::spawn(move || {
        let resp = read_response(&mut r, false).map(|r| r.status).unwrap_or(0);
        (resp, t0.elapsed())
    });
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {total}\r\n\r\n"
    )
    .unwrap();
    let piece = per_sec / 20;
    let mut sent = 0;
    while sent < total && !reader.is_finished() {
        std::thread::sleep(Duration::from_millis(50));
        let n = piece.min(total - sent);
        if s.write_all(&vec![b'b'; n]).is_err() {
            break;
        }
        sent += n;
    }
    reader.join().unwrap()
}

#[test]
fn a_body_trickled_below_the_rate_gets_408() {
    let srv = serve(app, rated());
    let (status, at) = trickle_body(srv.addr, 100_000, 500);
    assert_eq!(status, 408);
    assert!(at < Duration::from_secs(3), "408 after {at:?}");
}

#[test]
fn a_body_sent_above_the_rate_is_served() {
    let srv = serve(app, rated());
    // 2000 B/s for 3 s.
    let (status, _) = trickle_body(srv.addr, 6_000, 2_000);
    assert_eq!(status, 200);
}

/// Read `/big` at `per_sec` bytes a second (a 50 ms quota at a time) for at most `limit`;
/// returns the bytes read before the server closed (or the limit passed) and when.
fn trickle_read(addr: std::net::SocketAddr, per_sec: usize, limit: Duration) -> (usize, Duration) {
    // A small receive buffer so the server's writes wait on this reader soon.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&addr.into()).unwrap();
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let t0 = Instant::now();
    let mut got = 0;
    let mut buf = vec![0u8; 64 * 1024];
    let quota = per_sec / 20;
    'reading: while t0.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(50));
        let mut this_tick = 0;
        while this_tick < quota {
            let want = (quota - this_tick).min(buf.len());
            match s.read(&mut buf[..want]) {
                Ok(0) | Err(_) => break 'reading,
                Ok(n) => this_tick += n,
            }
        }
        got += this_tick;
    }
    (got, t0.elapsed())
}

#[test]
fn a_reader_below_the_rate_is_closed() {
    let srv = serve(app, rated());
    // 4 KB/s against 1 MB/s.
    let (got, at) = trickle_read(srv.addr, 4_000, Duration::from_secs(15));
    assert!(
        at < Duration::from_secs(10),
        "still open after {at:?} ({got} bytes)"
    );
}

#[test]
fn a_reader_above_the_rate_is_kept() {
    let srv = serve(app, rated());
    // 4 MB/s for 3 s: well above 1 MB/s, though short of the 16 MiB response's end.
    let (got, at) = trickle_read(srv.addr, 4_000_000, Duration::from_secs(3));
    assert!(
        at >= Duration::from_secs(3),
        "closed after {at:?} ({got} bytes)"
    );
}

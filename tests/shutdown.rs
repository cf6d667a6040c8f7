//! Graceful shutdown over real sockets, through `ServerHandle::stop()` and through SIGINT /
//! SIGTERM: idle keep-alive connections close at once (long before the keep-alive timeout),
//! an in-flight request finishes with `Connection: close`, a pipelined request behind it is
//! not started, a streaming response that watches its close signal ends cleanly (terminating
//! chunk) and lets `stop()` return early, an app that ignores the signal is dropped at
//! `shutdown_timeout`, new connections are refused once the stop has begun, a stop with no
//! connections is immediate, and `stop_now` drops in-flight connections without waiting. The
//! signal tests run the `echo` example binary (built by `cargo test` into
//! `target/<profile>/examples`; with `--test shutdown` alone, `cargo build --examples` first).

mod support;

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures::FutureExt;
use support::example::Example;
use support::{
    config, is_closed, read_chunk, read_chunked_rest, read_head, read_response, serve, TestServer,
};
use weir_actors::weir::{CloseReason, Exchange, Outcome, Result, StatusCode};
use weir_actors::{Config, ServerHandle};

const TEXT: [(&str, &str); 1] = [("content-type", "text/plain")];

/// Calls `stop()` on another thread; the thread returns when `stop()` resolved.
fn stop_in_background(handle: ServerHandle) -> JoinHandle<Instant> {
    std::thread::spawn(move || {
        futures::executor::block_on(handle.stop());
        Instant::now()
    })
}

/// Answers `ok` at once.
async fn ok_app(mut ex: Exchange) -> Result<Outcome> {
    ex.discard_body().await?;
    ex.respond(StatusCode::OK, TEXT, "ok").await
}

#[test]
fn stop_with_no_connections_returns_at_once() {
    let srv = serve(ok_app, config());
    let took = srv.stop_gracefully();
    assert!(took < Duration::from_millis(500), "stop took {took:?}");
}

/// Idle keep-alive connections (and one that never sent a request) are closed as soon as
/// the stop begins, not after the keep-alive timeout.
#[test]
fn idle_keep_alive_connections_close_at_once() {
    let cfg = Config {
        keep_alive_timeout: Duration::from_secs(30),
        header_read_timeout: Duration::from_secs(30),
        ..config()
    };
    let srv = serve(ok_app, cfg);
    let mut conns = Vec::new();
    for _ in 0..3 {
        let mut s = srv.connect();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut r = BufReader::new(s);
        let resp = read_response(&mut r, false).unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("connection"), None, "should be keep-alive");
        conns.push(r.into_inner());
    }
    // A connection that has not sent its first request yet is idle too.
    conns.push(srv.connect());
    // Still open before the stop.
    for s in &mut conns {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        assert!(!is_closed(s), "connection closed before the stop");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    }

    let t = Instant::now();
    let stopper = stop_in_background(srv.handle());
    for (i, s) in conns.iter_mut().enumerate() {
        assert!(is_closed(s), "connection {i} still open 5 s after stop");
        let at = t.elapsed();
        assert!(
            at < Duration::from_millis(500),
            "connection {i} closed {at:?} after stop"
        );
    }
    let stopped = stopper.join().unwrap();
    let took = stopped - t;
    assert!(took < Duration::from_secs(3), "stop took {took:?}");
    drop(srv);
}

/// Sleeps `delay` (after telling the test it started), then answers with the close reason it
/// saw at that point.
fn slow_app(started: mpsc::Sender<String>, delay: Duration) -> impl weir_actors::weir::App {
    move |ex: Exchange| {
        let started = started.clone();
        async move {
            let _ = started.send(ex.request().path().to_owned());
            actix_rt::time::sleep(delay).await;
            let reason = format!("{:?}", ex.close_signal().reason());
            ex.respond(StatusCode::OK, TEXT, reason).await
        }
    }
}

/// A request in flight when the stop begins gets its whole response, marked
/// `Connection: close`; the app sees `CloseReason::Shutdown`; the connection then closes; and
/// `stop()` does not return before the response went out.
#[test]
fn in_flight_request_finishes_with_connection_close() {
    let (tx, started) = mpsc::channel();
    let srv = serve(slow_app(tx, Duration::from_millis(500)), config());
    let mut s = srv.connect();
    s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(
        started.recv_timeout(Duration::from_secs(5)).unwrap(),
        "/slow"
    );

    let t = Instant::now();
    let stopper = stop_in_background(srv.handle());
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r, false).unwrap();
    let answered = Instant::now();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "Some(Shutdown)");
    assert_eq!(resp.header("content-length"), Some("14"));
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(
        is_closed(&mut r),
        "connection stays open after the response"
    );

    let stopped = stopper.join().unwrap();
    assert!(
        stopped >= answered,
        "stop() returned before the in-flight response was sent"
    );
    let took = stopped - t;
    assert!(took < Duration::from_secs(3), "stop took {took:?}");
}

/// A request pipelined behind the one in flight when the stop begins is not started: the
/// first response says `Connection: close` and the connection ends after it.
#[test]
fn pipelined_request_behind_in_flight_is_not_started() {
    let (tx, started) = mpsc::channel();
    let srv = serve(slow_app(tx, Duration::from_millis(500)), config());
    let mut s = srv.connect();
    s.write_all(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(
        started.recv_timeout(Duration::from_secs(5)).unwrap(),
        "/first"
    );

    let stopper = stop_in_background(srv.handle());
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(is_closed(&mut r), "second response or open connection");
    stopper.join().unwrap();
    assert!(
        started.try_recv().is_err(),
        "the pipelined request reached the app during shutdown"
    );
}

/// Sends a line every 50 ms until the close signal says `Shutdown`, then ends its response
/// with a last line naming the reason.
fn polite_streamer(started: mpsc::Sender<()>) -> impl weir_actors::weir::App {
    move |mut ex: Exchange| {
        let started = started.clone();
        async move {
            ex.start(StatusCode::OK, TEXT)?;
            let _ = started.send(());
            let mut i = 0u32;
            while ex.close_signal().reason() != Some(CloseReason::Shutdown) {
                i += 1;
                ex.send(format!("line {i}\n")).await?;
                let tick = actix_rt::time::sleep(Duration::from_millis(50));
                futures::select! {
                    _ = tick.fuse() => {}
                    _ = ex.closed().fuse() => {}
                }
            }
            let last = format!("bye {:?}\n", ex.close_signal().reason());
            ex.end(last).await
        }
    }
}

/// A streaming response whose app watches the close signal ends with a complete chunked body
/// (terminating chunk), the connection closes, and `stop()` returns well before the 30 s
/// shutdown timeout.
#[test]
fn streaming_response_ends_when_told_to() {
    let (tx, started) = mpsc::channel();
    let cfg = Config {
        shutdown_timeout: Duration::from_secs(30),
        ..config()
    };
    let srv = serve(polite_streamer(tx), cfg);
    let mut s = srv.connect();
    s.write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    started.recv_timeout(Duration::from_secs(5)).unwrap();
    let mut r = BufReader::new(s);
    let head = read_head(&mut r);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    // It is streaming: a few lines arrive before the stop.
    let mut body = Vec::new();
    for _ in 0..3 {
        body.extend(read_chunk(&mut r).unwrap().expect("a line, not the end"));
    }

    let t = Instant::now();
    let stopper = stop_in_background(srv.handle());
    read_chunked_rest(&mut r, &mut body).expect("complete chunked body");
    let ended = t.elapsed();
    assert!(
        is_closed(&mut r),
        "connection stays open after the response"
    );

    let text = String::from_utf8(body).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (last, ticks) = lines.split_last().unwrap();
    assert_eq!(*last, "bye Some(Shutdown)");
    for (i, line) in ticks.iter().enumerate() {
        assert_eq!(*line, format!("line {}", i + 1));
    }
    assert!(
        ended < Duration::from_millis(500),
        "stream ended {ended:?} after stop"
    );
    let took = stopper.join().unwrap() - t;
    assert!(took < Duration::from_secs(3), "stop took {took:?}");
}

/// Streams a line every 50 ms forever, ignoring the close signal.
async fn stubborn_streamer(mut ex: Exchange) -> Result<Outcome> {
    ex.start(StatusCode::OK, TEXT)?;
    loop {
        ex.send("x\n").await?;
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An app that ignores the signal keeps streaming during the grace period, then is dropped:
/// `stop()` returns after `shutdown_timeout` (1 s) and the connection is closed without a
/// terminating chunk (so the client can tell the body was cut short).
#[test]
fn app_ignoring_the_signal_is_dropped_at_shutdown_timeout() {
    let cfg = Config {
        shutdown_timeout: Duration::from_secs(1),
        ..config()
    };
    let srv = serve(stubborn_streamer, cfg);
    let mut s = srv.connect();
    s.write_all(b"GET /forever HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    let head = read_head(&mut r);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    assert_eq!(read_chunk(&mut r).unwrap().as_deref(), Some(&b"x\n"[..]));

    let t = Instant::now();
    let stopper = stop_in_background(srv.handle());
    // Keep reading raw bytes until the server closes the connection.
    let mut rest = Vec::new();
    let mut buf = [0u8; 4096];
    let closed_at = loop {
        match r.read(&mut buf) {
            Ok(0) => break t.elapsed(),
            Ok(n) => rest.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break t.elapsed(),
            Err(e) => panic!("connection not closed ({e}) {:?} after stop", t.elapsed()),
        }
    };
    let took = stopper.join().unwrap() - t;
    assert!(
        took >= Duration::from_millis(900),
        "stop returned after {took:?}, before the 1 s shutdown timeout"
    );
    assert!(took < Duration::from_millis(2500), "stop took {took:?}");
    assert!(
        closed_at < took + Duration::from_secs(1),
        "connection closed {closed_at:?} after stop, which returned after {took:?}"
    );
    // Sends kept working during the grace period (a line per 50 ms for ~1 s).
    let lines = rest.windows(2).filter(|w| w == b"x\n").count();
    assert!(lines >= 5, "only {lines} lines during the grace period");
    assert!(
        !rest.ends_with(b"0\r\n\r\n"),
        "a body cut short must not end with the terminating chunk"
    );
}

/// Whether a new connection to `addr` is refused, or closed without an answer.
fn refused_or_closed(addr: SocketAddr) -> std::result::Result<(), String> {
    let mut s = match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        Err(_) => return Ok(()),
        Ok(s) => s,
    };
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut b = [0u8; 64];
    match s.read(&mut b) {
        Ok(0) => Ok(()),
        Ok(n) => Err(format!("answered: {:?}", String::from_utf8_lossy(&b[..n]))),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Err("accepted and left hanging".to_owned())
        }
        Err(_) => Ok(()),
    }
}

/// Once the stop has begun (while an in-flight request keeps the server in its grace
/// period) and after it has finished, new connections are refused or closed unanswered;
/// the in-flight request still completes.
#[test]
fn new_connections_are_refused_after_stop() {
    let (tx, started) = mpsc::channel();
    let srv = serve(slow_app(tx, Duration::from_millis(500)), config());
    let addr = srv.addr;
    let mut s = srv.connect();
    s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    started.recv_timeout(Duration::from_secs(5)).unwrap();

    let stopper = stop_in_background(srv.handle());
    std::thread::sleep(Duration::from_millis(100));
    refused_or_closed(addr).expect("a new connection during the grace period");
    assert!(
        started.try_recv().is_err(),
        "a request on a new connection reached the app"
    );

    let mut r = BufReader::new(s);
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("connection"), Some("close"));
    stopper.join().unwrap();
    refused_or_closed(addr).expect("a new connection after stop() returned");
}

/// Immediate stop (`stop_now`) drops an in-flight request's connection at once, without
/// waiting for the app (which would answer after 3 s).
#[test]
fn stop_now_drops_in_flight_connections() {
    let (tx, started) = mpsc::channel();
    let srv: TestServer = serve(slow_app(tx, Duration::from_secs(3)), config());
    let mut s = srv.connect();
    s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    started.recv_timeout(Duration::from_secs(5)).unwrap();
    let t = Instant::now();
    futures::executor::block_on(srv.handle().stop_now());
    // Closed without a response (a response byte would make `is_closed` false).
    assert!(is_closed(&mut s), "connection not dropped by stop_now");
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "closed {:?} after stop_now",
        t.elapsed()
    );
}

// ----- OS signals, against the `echo` example binary -----------------------------------------

/// `sig` during a long `/drip` stream: the stream ends with its terminating chunk after
/// consecutive ticks (cut short, far before tick 1000), the connection closes, and the
/// process exits with status 0 within a few seconds.
fn signal_stops_echo_gracefully(sig: &str) {
    let mut echo = Example::start("echo");
    let mut s = echo.connect();
    s.write_all(b"GET /drip?n=1000&ms=100 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    let head = read_head(&mut r);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    let mut body = read_chunk(&mut r).unwrap().expect("first tick");
    assert_eq!(body, b"tick 1\n");

    let t = Instant::now();
    echo.signal(sig);
    if let Err(e) = read_chunked_rest(&mut r, &mut body) {
        panic!(
            "drip did not end cleanly after {sig}: {e}; got {:?}; stderr: {}",
            String::from_utf8_lossy(&body),
            echo.stderr()
        );
    }
    let ended = t.elapsed();
    assert!(is_closed(&mut r), "connection open after the drip ended");
    let text = String::from_utf8(body).unwrap();
    let ticks: Vec<&str> = text.lines().collect();
    for (i, line) in ticks.iter().enumerate() {
        assert_eq!(*line, format!("tick {}", i + 1));
    }
    assert!(ticks.len() < 20, "{} ticks after {sig}", ticks.len());
    assert!(
        ended < Duration::from_secs(1),
        "drip ended {ended:?} after {sig}"
    );

    let status = echo.wait_exit(Duration::from_secs(5));
    let Some(status) = status else {
        panic!(
            "echo still running 5 s after {sig}; stderr: {}",
            echo.stderr()
        );
    };
    assert!(
        status.success(),
        "echo exited with {status} after {sig}; stderr: {}",
        echo.stderr()
    );
}

#[test]
fn sigint_stops_echo_example_gracefully() {
    signal_stops_echo_gracefully("INT");
}

#[test]
fn sigterm_stops_echo_example_gracefully() {
    signal_stops_echo_gracefully("TERM");
}

#[test]
fn idle_echo_example_exits_promptly_on_sigterm() {
    let mut echo = Example::start("echo");
    // One keep-alive connection left idle: it must not hold up the exit.
    let mut s = echo.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.text(), "Hello, World!");
    echo.signal("TERM");
    assert!(is_closed(&mut r), "idle connection open after SIGTERM");
    let status = echo.wait_exit(Duration::from_secs(5));
    assert!(
        status.is_some_and(|s| s.success()),
        "echo exit after SIGTERM: {status:?}; stderr: {}",
        echo.stderr()
    );
}

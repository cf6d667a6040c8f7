//! Runtime limits at their edges over real sockets: connections per worker (taken at
//! accept time: one over the limit waits until a slot frees), and the grace an app that
//! ignores its client's departure gets before its future is dropped.

mod support;

use std::io::{BufReader, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{config, read_response, serve};
use weir_actors::weir::{Exchange, Outcome, Result, StatusCode};

async fn hello(ex: Exchange) -> Result<Outcome> {
    ex.respond(StatusCode::OK, [("content-type", "text/plain")], "hi")
        .await
}

/// With `max_connections_per_worker = 2` and one worker, two connections are served and a
/// third is not (the acceptor stops accepting) until one of the two closes.
#[test]
fn connections_over_the_limit_wait_for_a_free_slot() {
    let mut cfg = config();
    cfg.max_connections_per_worker = 2;
    cfg.keep_alive_timeout = Duration::from_secs(30);
    let srv = serve(hello, cfg);
    let get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut first = srv.connect();
    let mut second = srv.connect();
    for s in [&mut first, &mut second] {
        s.write_all(get).unwrap();
        let resp = read_response(&mut BufReader::new(s.try_clone().unwrap()), false).unwrap();
        assert_eq!(resp.status, 200);
    }
    // The kernel completes the handshake (backlog), but the server does not accept it.
    let mut third = srv.connect();
    third
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    third.write_all(get).unwrap();
    let mut r = BufReader::new(third.try_clone().unwrap());
    let waited = read_response(&mut r, false);
    assert!(waited.is_err(), "third connection served over the limit");
    // Free a slot: the third is accepted and answered.
    drop(first);
    third
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let t = Instant::now();
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.status, 200);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

/// Drops record when the app's future was dropped.
struct Dropped(Arc<Mutex<Option<Instant>>>);

impl Drop for Dropped {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = Some(Instant::now());
    }
}

/// An app that ignores the close signal and waits forever is dropped `abandon_grace` after
/// its client leaves, not before, and not never.
#[test]
fn abandoned_app_is_dropped_after_the_grace_period() {
    let dropped: Arc<Mutex<Option<Instant>>> = Arc::default();
    let d = dropped.clone();
    let app = move |_ex: Exchange| {
        let guard = Dropped(d.clone());
        async move {
            let _guard = guard;
            futures::future::pending::<()>().await;
            unreachable!()
        }
    };
    let mut cfg = config();
    cfg.abandon_grace = Duration::from_millis(600);
    let srv = serve(app, cfg);
    let mut s = srv.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let left = Instant::now();
    drop(s);
    let t = Instant::now();
    while dropped.lock().unwrap().is_none() && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let at = dropped.lock().unwrap().expect("app never dropped");
    let after = at.duration_since(left);
    assert!(
        after >= Duration::from_millis(550) && after < Duration::from_millis(1500),
        "dropped {after:?} after the client left"
    );
}

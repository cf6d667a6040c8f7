//! Comet over real sockets: a long-poller held open on a hub subscription is removed from
//! the hub promptly when its client goes away; server-sent events with backlog,
//! `Last-Event-ID` and keep-alive comments; streaming responses flushed per yield; a
//! subscriber that does not keep up is dropped by the hub instead of growing memory.

mod support;

use std::io::{BufReader, Write};
use std::time::{Duration, Instant};

use support::{
    config, next_event, read_response, read_stream_head, serve_with, wait_until, Body, TestServer,
};
use weir_actors::actix::prelude::*;
use weir_actors::comet;
use weir_actors::hub::{Hub, HubStats, Publish, Stats, Subscribe};
use weir_actors::weir::{sse, Exchange, Outcome, Result, StatusCode};

type Msgs = Hub<String>;

fn stats(hub: &Addr<Msgs>) -> HubStats {
    futures::executor::block_on(hub.send(Stats)).unwrap()
}

fn publish(hub: &Addr<Msgs>, m: &str) -> u64 {
    futures::executor::block_on(hub.send(Publish(m.to_owned()))).unwrap()
}

/// `/poll` waits for one message; `/events` streams SSE; `/publish?m=..` publishes.
fn comet_server(keepalive: Duration) -> (TestServer, Addr<Msgs>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let srv = serve_with(
        move || {
            let hub = Hub::<String>::new(100, 4).start();
            tx.send(hub.clone()).unwrap();
            move |ex: Exchange| {
                let hub = hub.clone();
                async move { route(ex, hub, keepalive).await }
            }
        },
        config(),
    );
    (srv, rx.recv().unwrap())
}

async fn route(ex: Exchange, hub: Addr<Msgs>, keepalive: Duration) -> Result<Outcome> {
    let text = [("content-type", "text/plain")];
    match ex.request().path() {
        "/poll" => {
            let mut sub = hub
                .send(Subscribe::since(None))
                .await
                .map_err(weir_actors::weir::Error::other)?;
            // Wait for a message, or stop (and drop the subscription) when the client goes.
            match ex.or_closed(sub.recv()).await {
                Ok(Some((id, m))) => ex.respond(StatusCode::OK, text, format!("{id}:{m}")).await,
                Ok(None) => ex.respond(StatusCode::NO_CONTENT, text, "").await,
                Err(_) => Err(weir_actors::weir::Error::disconnected()),
            }
        }
        "/events" => {
            let since = sse::last_event_id(ex.request()).or(Some(0));
            let sub = hub
                .send(Subscribe::since(since))
                .await
                .map_err(weir_actors::weir::Error::other)?;
            comet::sse(ex, sub, keepalive, |_, m: &String| m.clone()).await
        }
        _ => ex.respond(StatusCode::NOT_FOUND, text, "").await,
    }
}

#[test]
fn long_poll_gets_the_next_message() {
    let (srv, hub) = comet_server(Duration::from_secs(30));
    let mut s = srv.connect();
    s.write_all(b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(wait_until(Duration::from_secs(2), || {
        stats(&hub).subscribers == 1
    }));
    let id = publish(&hub, "hello");
    let resp = read_response(&mut BufReader::new(s), false).unwrap();
    assert_eq!(resp.text(), format!("{id}:hello"));
    assert!(wait_until(Duration::from_secs(1), || {
        stats(&hub).subscribers == 0
    }));
}

#[test]
fn disconnected_long_poller_is_removed_from_the_hub() {
    let (srv, hub) = comet_server(Duration::from_secs(30));
    let clients: Vec<_> = (0..20)
        .map(|_| {
            let mut s = srv.connect();
            s.write_all(b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            s
        })
        .collect();
    assert!(wait_until(Duration::from_secs(2), || {
        stats(&hub).subscribers == 20
    }));
    let t = Instant::now();
    drop(clients);
    assert!(
        wait_until(Duration::from_secs(2), || stats(&hub).subscribers == 0),
        "still subscribed: {:?}",
        stats(&hub)
    );
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "took {:?}",
        t.elapsed()
    );
}

/// `GET /events` (resuming after `last`), its head checked; returns the de-chunked body.
fn open_events(srv: &TestServer, last: Option<u64>) -> Body {
    let mut s = srv.connect();
    let extra = last
        .map(|l| format!("Last-Event-ID: {l}\r\n"))
        .unwrap_or_default();
    write!(s, "GET /events HTTP/1.1\r\nHost: x\r\n{extra}\r\n").unwrap();
    read_stream_head(s, "text/event-stream")
}

#[test]
fn sse_streams_backlog_then_live_and_resumes_with_last_event_id() {
    let (srv, hub) = comet_server(Duration::from_secs(30));
    for m in ["one", "two", "three"] {
        publish(&hub, m);
    }
    let mut ev = open_events(&srv, None);
    assert_eq!(next_event(&mut ev), ["retry: 2000"]);
    assert_eq!(next_event(&mut ev), ["id: 1", "data: one"]);
    assert_eq!(next_event(&mut ev), ["id: 2", "data: two"]);
    assert_eq!(next_event(&mut ev), ["id: 3", "data: three"]);
    publish(&hub, "four\nlines");
    assert_eq!(next_event(&mut ev), ["id: 4", "data: four", "data: lines"]);
    // Reconnect after id 2: only 3 and 4 are replayed.
    let mut again = open_events(&srv, Some(2));
    next_event(&mut again);
    assert_eq!(next_event(&mut again), ["id: 3", "data: three"]);
    assert_eq!(
        next_event(&mut again),
        ["id: 4", "data: four", "data: lines"]
    );
}

#[test]
fn sse_sends_keepalive_comments() {
    let (srv, _hub) = comet_server(Duration::from_millis(200));
    let mut ev = open_events(&srv, None);
    next_event(&mut ev);
    let t = Instant::now();
    assert_eq!(next_event(&mut ev), [": keep-alive"]);
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
}

/// A subscriber that stops reading: its connection's buffers fill, its app blocks in
/// `send`, its hub queue (4 here) fills, and the hub drops it; other subscribers go on.
#[test]
fn slow_subscriber_is_dropped_by_the_hub() {
    let (srv, hub) = comet_server(Duration::from_secs(30));
    let _stuck = {
        let mut s = srv.connect();
        s.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        s // never read
    };
    let mut live = open_events(&srv, None);
    next_event(&mut live);
    assert!(wait_until(Duration::from_secs(2), || {
        stats(&hub).subscribers == 2
    }));
    let big = "x".repeat(256 * 1024);
    let mut dropped = false;
    for i in 0..200 {
        publish(&hub, &big);
        let e = next_event(&mut live);
        assert_eq!(e[0], format!("id: {}", i + 1));
        if stats(&hub).subscribers == 1 {
            dropped = true;
            break;
        }
    }
    assert!(dropped, "the stuck subscriber was never dropped");
}

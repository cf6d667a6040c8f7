//! The `chat` example over real sockets: the built example binary is started with
//! `--bind 127.0.0.1:0 --workers 1` (plus per-test options) and each route is exercised with
//! raw HTTP/1.1 clients: the page, `POST /send` (JSON and form bodies, ids from 1, 400/413/
//! 415), `GET /poll` (backlog at once, waiting, timeout), `GET /events` (SSE, reconnect with
//! `Last-Event-ID`), `GET /stream` (one JSON line per message), the bounded history (3 with
//! `--history 3`, 1000 by default), ids from an earlier run of the server (replay), SIGTERM
//! (streams end with their last chunk, long-pollers get 204, the process exits), bad
//! options, and disconnect cleanup: long-poll, SSE and stream clients that go away leave the
//! hub within a second (checked with the example's `GET /stats`).
//!
//! `cargo test` builds the examples first; with a target filter (`cargo test --test chat`)
//! run `cargo build --example chat` before.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::ops::Deref;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::example::{self, Example};
use support::{next_event, read_response, read_stream_head, wait_until, Body, Response};

/// The example's sources: a binary older than any of them is refused as stale.
const SOURCES: &[&str] = &["examples/chat.rs", "examples/chat.html"];

/// A running chat example; killed on drop.
struct Chat(Example);

impl Deref for Chat {
    type Target = Example;
    fn deref(&self) -> &Example {
        &self.0
    }
}

impl Chat {
    fn start() -> Chat {
        Chat::start_with(&[])
    }

    fn start_with(extra: &[&str]) -> Chat {
        Chat(
            Example::launch("chat")
                .args(extra)
                .rust_log("warn")
                .inherit_stderr()
                .newer_than(SOURCES)
                .start(),
        )
    }

    /// One request on a new connection; `headers` are whole lines without CRLF.
    fn request(&self, method: &str, path: &str, headers: &[&str], body: &[u8]) -> Response {
        let mut s = self.connect();
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: chat\r\n");
        for h in headers {
            head.push_str(h);
            head.push_str("\r\n");
        }
        if method == "POST" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        read_response(&mut BufReader::new(s), method == "HEAD").expect("response")
    }

    fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }

    fn send_json(&self, body: &Value) -> Response {
        self.request(
            "POST",
            "/send",
            &["Content-Type: application/json"],
            body.to_string().as_bytes(),
        )
    }

    /// Send a message as JSON and check the 204.
    fn say(&self, name: &str, text: &str) {
        let r = self.send_json(&json!({ "name": name, "text": text }));
        assert_eq!(r.status, 204, "{}", r.text());
    }

    fn stats(&self) -> Value {
        let r = self.get("/stats");
        assert_eq!(r.status, 200);
        serde_json::from_slice(&r.body).expect("stats JSON")
    }

    fn subscribers(&self) -> u64 {
        self.stats()["subscribers"].as_u64().unwrap()
    }

    /// Wait (bounded) until the hub has `n` subscribers.
    fn wait_subscribers(&self, n: u64) {
        assert!(
            wait_until(Duration::from_secs(5), || self.subscribers() == n),
            "expected {n} subscribers; stats: {}",
            self.stats()
        );
    }
}

fn msg(id: u64, name: &str, text: &str) -> Value {
    json!({ "id": id, "name": name, "text": text })
}

fn json_body(r: &Response) -> Value {
    assert_eq!(r.header("content-type"), Some("application/json"));
    serde_json::from_slice(&r.body).expect("JSON body")
}

#[test]
fn page_is_self_contained_html_with_eventsource_and_long_poll_fallback() {
    let chat = Chat::start();
    let r = chat.get("/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let html = r.text();
    assert!(html.starts_with("<!doctype html>"));
    for needle in [
        "new WebSocket(scheme + location.host + \"/ws?since=\"",
        "new EventSource(\"/events",
        "fetch(\"/poll?since=\"",
        "fetch(\"/send\"",
        "textContent",
        "id=\"name\"",
        "id=\"text\"",
    ] {
        assert!(html.contains(needle), "page lacks {needle:?}");
    }
    // No external assets (the favicon is an inline `data:` URL), and user text never goes
    // through HTML.
    assert!(html.contains("<link rel=\"icon\" href=\"data:,\">"));
    for banned in [
        "http://",
        "https://",
        "src=",
        "<link rel=\"stylesheet",
        "url(",
        "@import",
        "innerHTML",
    ] {
        assert!(!html.contains(banned), "page contains {banned:?}");
    }
    // HEAD works, wrong methods and unknown paths are refused.
    let head = chat.request("HEAD", "/", &[], b"");
    assert_eq!(head.status, 200);
    let post = chat.request("POST", "/", &[], b"");
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    let get_send = chat.get("/send");
    assert_eq!(get_send.status, 405);
    assert_eq!(get_send.header("allow"), Some("POST"));
    assert_eq!(chat.get("/nope").status, 404);
}

#[test]
fn send_accepts_json_and_form_bodies_and_numbers_messages_from_1() {
    let chat = Chat::start();
    assert_eq!(chat.stats()["next_id"], 1);
    let r = chat.send_json(&json!({ "name": "ann", "text": "hi" }));
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    // A form body, percent-encoded, with `+` for spaces.
    let r = chat.request(
        "POST",
        "/send",
        &["Content-Type: application/x-www-form-urlencoded"],
        b"name=Bo%C3%AB+B&text=a%26b%3Dc+%3Cb%3E",
    );
    assert_eq!(r.status, 204, "{}", r.text());
    // Without a content-type the body decides: `{` is JSON, else a form.
    let r = chat.request("POST", "/send", &[], br#" {"name":"cy","text":"json"}"#);
    assert_eq!(r.status, 204, "{}", r.text());
    let r = chat.request("POST", "/send", &[], b"name=di&text=form");
    assert_eq!(r.status, 204, "{}", r.text());
    // Names and texts that need escaping come back exactly as sent.
    let tricky = "quote \" backslash \\ newline \n tab \t </script> \u{1F600} \u{0}";
    chat.say("e\"ve", tricky);

    let r = chat.get("/poll?since=0");
    assert_eq!(r.status, 200);
    // The exact wire form of a message.
    assert!(
        r.text()
            .starts_with(r#"[{"id":1,"name":"ann","text":"hi"},"#),
        "{}",
        r.text()
    );
    assert_eq!(
        json_body(&r),
        json!([
            msg(1, "ann", "hi"),
            msg(2, "Boë B", "a&b=c <b>"),
            msg(3, "cy", "json"),
            msg(4, "di", "form"),
            msg(5, "e\"ve", tricky),
        ])
    );
    assert_eq!(chat.stats()["next_id"], 6);
}

#[test]
fn send_rejects_malformed_bodies_with_400_and_long_texts_with_413() {
    let chat = Chat::start();
    let json_ct = ["Content-Type: application/json"];
    let form_ct = ["Content-Type: application/x-www-form-urlencoded"];
    let cases: &[(&[&str], &[u8], u16, &str)] = &[
        (&json_ct, b"{\"name\":\"a\"", 400, "invalid JSON"),
        (&json_ct, b"{\"name\":\"a\"}", 400, "missing field `text`"),
        (
            &json_ct,
            b"{\"name\":1,\"text\":\"x\"}",
            400,
            "invalid type",
        ),
        (&json_ct, b"[]", 400, "invalid JSON"),
        (&json_ct, b"", 400, "invalid JSON"),
        (
            &json_ct,
            b"{\"name\":\" \",\"text\":\"x\"}",
            400,
            "name must not be empty",
        ),
        (
            &json_ct,
            b"{\"name\":\"a\",\"text\":\"  \"}",
            400,
            "text must not be empty",
        ),
        (&form_ct, b"name=a", 400, "missing field `text`"),
        (&form_ct, b"text=a", 400, "missing field `name`"),
        (&form_ct, b"name=&text=a", 400, "name must not be empty"),
        (
            &["Content-Type: text/plain"],
            b"hi",
            415,
            "application/json",
        ),
    ];
    for (headers, body, status, reason) in cases {
        let r = chat.request("POST", "/send", headers, body);
        let shown = String::from_utf8_lossy(body);
        assert_eq!(r.status, *status, "{shown}: {}", r.text());
        assert!(r.text().contains(reason), "{shown}: {:?}", r.text());
    }
    let long_name = "n".repeat(65);
    let r = chat.send_json(&json!({ "name": long_name, "text": "x" }));
    assert_eq!(r.status, 400);
    assert!(r.text().contains("at most 64 characters"), "{}", r.text());

    // 4096 bytes of text is fine (multi-byte characters count in bytes); 4097 is 413.
    let max = "é".repeat(2048);
    assert_eq!(max.len(), 4096);
    chat.say("ann", &max);
    let over = format!("{max}x");
    let r = chat.send_json(&json!({ "name": "ann", "text": over }));
    assert_eq!(r.status, 413);
    assert!(r.text().contains("at most 4096 bytes"), "{}", r.text());
    let form_over = format!("name=ann&text={}", "x".repeat(4097));
    let r = chat.request("POST", "/send", &form_ct, form_over.as_bytes());
    assert_eq!(r.status, 413);
    // A body over 64 KiB is refused from its Content-Length, or while reading a chunked one.
    let huge = vec![b'x'; 70_000];
    assert_eq!(chat.request("POST", "/send", &form_ct, &huge).status, 413);
    let mut s = chat.connect();
    write!(
        s,
        "POST /send HTTP/1.1\r\nHost: chat\r\nTransfer-Encoding: chunked\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\r\n"
    )
    .unwrap();
    for _ in 0..20 {
        write!(s, "1000\r\n{}\r\n", "x".repeat(0x1000)).unwrap();
    }
    s.write_all(b"0\r\n\r\n").unwrap();
    let r = read_response(&mut BufReader::new(s), false).unwrap();
    assert_eq!(r.status, 413);

    // Only the one good message was published.
    assert_eq!(chat.stats()["next_id"], 2);
    assert_eq!(chat.get("/poll?since=x").status, 400);
}

#[test]
fn poll_answers_at_once_with_messages_after_since() {
    let chat = Chat::start();
    for t in ["one", "two", "three"] {
        chat.say("ann", t);
    }
    let t = Instant::now();
    let r = chat.get("/poll?since=1");
    assert_eq!(r.status, 200);
    assert_eq!(
        json_body(&r),
        json!([msg(2, "ann", "two"), msg(3, "ann", "three")])
    );
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    // Nobody stays subscribed after an answer.
    chat.wait_subscribers(0);
}

#[test]
fn poll_waits_for_the_next_message() {
    let chat = Chat::start();
    chat.say("ann", "old");
    let mut s = chat.connect();
    s.write_all(b"GET /poll?since=1 HTTP/1.1\r\nHost: chat\r\n\r\n")
        .unwrap();
    chat.wait_subscribers(1);
    // Still waiting (the default timeout is 25 s).
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut b = [0u8; 1];
    let early = s.read(&mut b);
    assert!(
        early.as_ref().is_err_and(|e| matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )),
        "answered early: {early:?}"
    );
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let sent = Instant::now();
    chat.say("bob", "new");
    let r = read_response(&mut BufReader::new(s), false).unwrap();
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(r.status, 200);
    assert_eq!(json_body(&r), json!([msg(2, "bob", "new")]));
    chat.wait_subscribers(0);
}

#[test]
fn poll_times_out_with_204_after_poll_timeout() {
    let chat = Chat::start_with(&["--poll-timeout", "1"]);
    let t = Instant::now();
    let r = chat.get("/poll?since=0");
    let took = t.elapsed();
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
    // Without `since` it waits for the next message only: kept ones are not replayed.
    chat.say("ann", "kept");
    let t = Instant::now();
    assert_eq!(chat.get("/poll").status, 204);
    assert!(t.elapsed() >= Duration::from_millis(900));
    chat.wait_subscribers(0);
}

/// Send `GET path` with `headers` (whole lines, each ending in CRLF).
fn write_get(s: &mut TcpStream, path: &str, headers: &str) {
    write!(s, "GET {path} HTTP/1.1\r\nHost: chat\r\n{headers}\r\n").unwrap();
}

fn open_stream(mut s: TcpStream, path: &str, headers: &str, content_type: &str) -> Body {
    write_get(&mut s, path, headers);
    read_stream_head(s, content_type)
}

fn open_events(chat: &Chat, path: &str, last_event_id: Option<u64>) -> Body {
    let h = last_event_id
        .map(|l| format!("Last-Event-ID: {l}\r\n"))
        .unwrap_or_default();
    let mut ev = open_stream(chat.connect(), path, &h, "text/event-stream");
    assert_eq!(next_event(&mut ev), ["retry: 2000"]);
    ev
}

/// An SSE event's `id:` and its `data:` parsed as JSON.
fn sse_message(r: &mut impl BufRead) -> (u64, Value) {
    let e = next_event(r);
    assert_eq!(e.len(), 2, "{e:?}");
    let id = e[0].strip_prefix("id: ").expect("id line").parse().unwrap();
    let data = e[1].strip_prefix("data: ").expect("data line");
    (id, serde_json::from_str(data).expect("JSON data"))
}

#[test]
fn events_stream_messages_and_resume_with_last_event_id() {
    let chat = Chat::start();
    chat.say("ann", "before");
    // No Last-Event-ID, no since: from now, nothing replayed.
    let mut ev = open_events(&chat, "/events", None);
    chat.wait_subscribers(1);
    chat.say("bob", "line one\nline two");
    chat.say("cy", "<b>&</b>");
    assert_eq!(
        sse_message(&mut ev),
        (2, msg(2, "bob", "line one\nline two"))
    );
    assert_eq!(sse_message(&mut ev), (3, msg(3, "cy", "<b>&</b>")));
    drop(ev);

    // A browser reconnecting after id 2 gets 3 and then the live ones.
    let mut again = open_events(&chat, "/events", Some(2));
    assert_eq!(sse_message(&mut again), (3, msg(3, "cy", "<b>&</b>")));
    chat.say("ann", "after");
    assert_eq!(sse_message(&mut again), (4, msg(4, "ann", "after")));

    // `?since=0` (what the page opens with) replays the kept history; Last-Event-ID wins
    // over it, as on the browser's reconnects to the same URL.
    let mut page = open_events(&chat, "/events?since=0", None);
    for id in 1..=4 {
        assert_eq!(sse_message(&mut page).0, id);
    }
    let mut resumed = open_events(&chat, "/events?since=0", Some(3));
    assert_eq!(sse_message(&mut resumed), (4, msg(4, "ann", "after")));
}

#[test]
fn stream_writes_one_json_line_per_message() {
    let chat = Chat::start();
    chat.say("ann", "before");
    let mut s = chat.connect();
    write_get(&mut s, "/stream", "");
    chat.wait_subscribers(1);
    // The head goes out with the first line.
    chat.say("bob", "multi\nline");
    let mut body = read_stream_head(s, "application/x-ndjson");
    let mut next_line = || {
        let mut l = String::new();
        assert!(body.read_line(&mut l).unwrap() > 0, "stream ended");
        assert!(l.ends_with('\n'));
        serde_json::from_str::<Value>(&l).expect("a line of JSON")
    };
    assert_eq!(next_line(), msg(2, "bob", "multi\nline"));
    for i in 3..=5 {
        chat.say("cy", &format!("n{i}"));
        assert_eq!(next_line(), msg(i, "cy", &format!("n{i}")));
    }

    // `?since=` replays the kept messages first, then goes on live.
    let mut replay = open_stream(
        chat.connect(),
        "/stream?since=3",
        "",
        "application/x-ndjson",
    );
    let mut l = String::new();
    replay.read_line(&mut l).unwrap();
    assert_eq!(l, "{\"id\":4,\"name\":\"cy\",\"text\":\"n4\"}\n");
}

#[test]
fn history_is_bounded() {
    let chat = Chat::start_with(&["--history", "3"]);
    for i in 1..=5 {
        chat.say("ann", &format!("m{i}"));
    }
    let stats = chat.stats();
    assert_eq!(stats["history"], 3);
    assert_eq!(stats["next_id"], 6);
    let ids = |v: Value| -> Vec<u64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(ids(json_body(&chat.get("/poll?since=0"))), [3, 4, 5]);
    assert_eq!(ids(json_body(&chat.get("/poll?since=3"))), [4, 5]);
    let mut ev = open_events(&chat, "/events", Some(1));
    for id in 3..=5 {
        assert_eq!(sse_message(&mut ev).0, id);
    }
}

#[test]
fn default_history_keeps_the_last_1000_messages() {
    let chat = Chat::start();
    // Publish over one keep-alive connection to keep this quick.
    let mut s = chat.connect();
    let mut r = BufReader::new(s.try_clone().unwrap());
    for i in 1..=1005 {
        let body = format!("name=ann&text=m{i}");
        write!(
            s,
            "POST /send HTTP/1.1\r\nHost: chat\r\nContent-Length: {}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        assert_eq!(read_response(&mut r, false).unwrap().status, 204);
    }
    assert_eq!(chat.stats()["history"], 1000);
    let all = json_body(&chat.get("/poll?since=0"));
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 1000);
    assert_eq!(all[0], msg(6, "ann", "m6"));
    assert_eq!(all[999], msg(1005, "ann", "m1005"));
}

#[test]
fn disconnected_clients_leave_the_hub_within_a_second() {
    let chat = Chat::start();
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut p = chat.connect();
        p.write_all(b"GET /poll?since=0 HTTP/1.1\r\nHost: chat\r\n\r\n")
            .unwrap();
        clients.push(p);
        let mut st = chat.connect();
        st.write_all(b"GET /stream HTTP/1.1\r\nHost: chat\r\n\r\n")
            .unwrap();
        clients.push(st);
    }
    let events: Vec<Body> = (0..3)
        .map(|_| open_events(&chat, "/events", None))
        .collect();
    chat.wait_subscribers(9);
    // A stream that has already sent a line (its response is under way) counts too.
    chat.say("ann", "hello");
    // The long-pollers were answered by that message; the others are still subscribed.
    chat.wait_subscribers(6);
    let t = Instant::now();
    drop(clients);
    drop(events);
    assert!(
        wait_until(Duration::from_secs(3), || chat.subscribers() == 0),
        "still subscribed: {}",
        chat.stats()
    );
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "took {:?}",
        t.elapsed()
    );

    // Long-pollers still waiting (no message for them) are removed as well.
    let pollers: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut p = chat.connect();
            p.write_all(b"GET /poll?since=1 HTTP/1.1\r\nHost: chat\r\n\r\n")
                .unwrap();
            p
        })
        .collect();
    chat.wait_subscribers(3);
    let t = Instant::now();
    drop(pollers);
    assert!(
        wait_until(Duration::from_secs(3), || chat.subscribers() == 0),
        "still subscribed: {}",
        chat.stats()
    );
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "took {:?}",
        t.elapsed()
    );
}

#[test]
fn bad_options_exit_with_usage() {
    for args in [
        &["--history", "x"][..],
        &["--poll-timeout", "-1"],
        &["--workers", "0"],
        &["--frobnicate", "1"],
        &["--bind"],
    ] {
        let out = Command::new(example::bin("chat", SOURCES))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run chat");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        // clap's message: what was wrong with which option, and where to find the usage.
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(err.contains(args[0]), "{args:?}: {err}");
        assert!(err.contains("--help"), "{args:?}: {err}");
    }
}

#[test]
fn sigterm_ends_open_streams_cleanly_and_answers_long_pollers() {
    let mut chat = Chat::start();
    chat.say("ann", "first");
    let mut ev = open_events(&chat, "/events", None);
    // `since=0` replays message 1, so this stream's response is under way.
    let mut st = open_stream(
        chat.connect(),
        "/stream?since=0",
        "",
        "application/x-ndjson",
    );
    let mut l = String::new();
    st.read_line(&mut l).unwrap();
    assert_eq!(l, "{\"id\":1,\"name\":\"ann\",\"text\":\"first\"}\n");
    let mut poller = chat.connect();
    write_get(&mut poller, "/poll?since=1", "");
    chat.wait_subscribers(3);

    let t = Instant::now();
    chat.signal("TERM");
    // Each open response ends with its last chunk (not a cut connection)...
    let mut rest = String::new();
    ev.read_to_string(&mut rest)
        .expect("the event stream ends cleanly");
    assert_eq!(rest, "");
    st.read_to_string(&mut rest)
        .expect("the stream ends cleanly");
    assert_eq!(rest, "");
    // ...the long-poller gets its 204 at once...
    let r = read_response(&mut BufReader::new(poller), false).unwrap();
    assert_eq!(r.status, 204);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // ...and the process exits.
    let exited = chat.0.wait_exit(Duration::from_secs(5));
    assert!(exited.is_some(), "chat still running 5 s after SIGTERM");
    assert!(exited.unwrap().success());
}

#[test]
fn an_id_from_an_earlier_run_replays_the_kept_history() {
    let chat = Chat::start_with(&["--poll-timeout", "1"]);
    chat.say("ann", "one");
    chat.say("ann", "two");
    // Ids 7 and 2 were never issued by this run (next_id is 3): a client of an earlier run.
    let all = json!([msg(1, "ann", "one"), msg(2, "ann", "two")]);
    assert_eq!(json_body(&chat.get("/poll?since=7")), all);
    let mut ev = open_events(&chat, "/events", Some(3));
    assert_eq!(sse_message(&mut ev), (1, msg(1, "ann", "one")));
    assert_eq!(sse_message(&mut ev), (2, msg(2, "ann", "two")));
    // An id it did issue is taken literally: nothing after 2 yet, so the poll times out.
    assert_eq!(chat.get("/poll?since=2").status, 204);
}

/// One unmasked server frame: (opcode, payload). Server frames are never masked (RFC 6455
/// §5.1), and these are small.
fn read_ws_frame(r: &mut impl Read) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    r.read_exact(&mut h).expect("a frame");
    let len = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b).unwrap();
            u16::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0; len];
    r.read_exact(&mut payload).unwrap();
    (h[0] & 0x0f, payload)
}

#[test]
fn websocket_pushes_one_json_text_frame_per_message() {
    let chat = Chat::start();
    chat.say("ann", "before");
    let mut s = chat.connect();
    // `since=0` replays the kept message first, as for `/stream`.
    write!(
        s,
        "GET /ws?since=0 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    .unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let head = support::read_head(&mut r);
    assert_eq!(head.status, 101);
    let mut next = || {
        let (op, payload) = read_ws_frame(&mut r);
        assert_eq!(op, 0x1, "a text frame");
        serde_json::from_slice::<Value>(&payload).expect("JSON")
    };
    assert_eq!(next(), msg(1, "ann", "before"));
    chat.wait_subscribers(1);
    chat.say("bob", "live");
    assert_eq!(next(), msg(2, "bob", "live"));
    // A plain GET is not a handshake.
    assert_eq!(chat.get("/ws").status, 400);
    // The client closes: the server echoes and the hub forgets the subscriber.
    s.write_all(&[0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2])
        .unwrap();
    let (op, payload) = read_ws_frame(&mut r);
    assert_eq!((op, &payload[..]), (0x8, &[0x03, 0xe8][..]));
    chat.wait_subscribers(0);
}

//! The `chat` example's page in a real browser: headless Chromium driven by `chromedriver`
//! over the W3C WebDriver protocol (plain JSON over HTTP, with `ureq`). Two separate
//! browsers open the page: Alice's uses a WebSocket; Bob's has `WebSocket` and
//! `EventSource` removed before the page loads (a browser without them), so the page must
//! fall back to long-polling. Each sends by typing and pressing Enter, and sees the other's
//! message (and one posted with a plain HTTP request) appear live, escaped as text, with no
//! console errors. More tests: a page whose WebSocket never connects switches to
//! `EventSource`, a page whose `EventSource` keeps failing switches to long-polling, and a
//! page left open while the server restarts (SIGTERM, same port) reconnects its WebSocket
//! and picks up the new run's messages.
//! Screenshots of both pages are saved to `target/browser/chat.png` and
//! `target/browser/chat-long-poll.png` (paths printed; run with `--nocapture` to see them).
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian `chromium`,
//! `chromium-driver`; `.ci/run` installs them). Without them the test fails when `CI` is
//! set and is skipped, loudly, otherwise. `cargo test` builds the example first; with a
//! target filter (`cargo test --test browser`) run `cargo build --example chat` before.

mod support;

use std::net::TcpListener;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};
use support::example::{profile_dir, Example};
use support::{agent_with_timeout, poll};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Every wait in this test is bounded by this.
const WAIT: Duration = Duration::from_secs(10);
/// How often a wait polls (each poll may be a WebDriver round trip).
const POLL: Duration = Duration::from_millis(100);
/// Overall timeout of one HTTP request (to the chat or to the driver).
const HTTP_TIMEOUT: Duration = Duration::from_secs(60);
/// The W3C key for a found element's id.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const ENTER: &str = "\u{E007}";

/// The chat example, started on an ephemeral port; killed on drop.
struct Chat(Example);

impl Deref for Chat {
    type Target = Example;
    fn deref(&self) -> &Example {
        &self.0
    }
}

impl Chat {
    fn start() -> Chat {
        Chat::start_on("127.0.0.1:0")
    }

    /// Start on `bind` (an exact address to restart on the same port).
    fn start_on(bind: &str) -> Chat {
        Chat(
            Example::launch("chat")
                .bind(bind)
                .rust_log("warn")
                .inherit_stderr()
                .start(),
        )
    }

    /// Stop gracefully (SIGTERM), as an operator restarting it would; bounded, then killed.
    fn terminate(self) {
        let exited = self.0.terminate(WAIT).status.is_some();
        assert!(exited, "chat did not exit within {WAIT:?} of SIGTERM");
    }

    /// Publish with a plain HTTP request (a form body).
    fn say(&self, name: &str, text: &str) {
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let r = agent_with_timeout(HTTP_TIMEOUT)
            .post(self.url("/send"))
            .header("content-type", "application/x-www-form-urlencoded")
            .send(format!("name={}&text={}", enc(name), enc(text)))
            .expect("POST /send");
        assert_eq!(r.status(), 204);
    }

    fn subscribers(&self) -> u64 {
        let mut r = agent_with_timeout(HTTP_TIMEOUT)
            .get(self.url("/stats"))
            .call()
            .expect("GET /stats");
        let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        v["subscribers"].as_u64().unwrap()
    }
}

/// A running `chromedriver`; killed on drop (after the sessions, which are declared later).
struct Driver {
    child: Child,
    base: String,
    agent: ureq::Agent,
}

impl Driver {
    fn start(log: &Path) -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        let d = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            agent: agent_with_timeout(HTTP_TIMEOUT),
        };
        let ready = poll(WAIT, POLL, || {
            d.agent
                .get(format!("{}/status", d.base))
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_to_string().ok())
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .filter(|v| v["value"]["ready"] == true)
        })
        .is_some();
        assert!(ready, "chromedriver not ready within {WAIT:?}");
        d
    }

    /// A new browser with its own fresh profile directory.
    fn session(&self, name: &str) -> Session {
        let profile = std::env::temp_dir().join(format!(
            "weir-browser-{}-{name}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        ));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).unwrap();
        let caps = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:loggingPrefs": { "browser": "ALL" },
                "goog:chromeOptions": {
                    "binary": CHROMIUM,
                    "args": [
                        "--headless",
                        "--no-sandbox",
                        "--disable-gpu",
                        "--no-first-run",
                        "--disable-background-networking",
                        "--disable-component-update",
                        "--disable-sync",
                        "--disable-quic",
                        "--disable-dev-shm-usage",
                        "--window-size=900,640",
                        format!("--user-data-dir={}", profile.display()),
                    ],
                },
            }},
        });
        let v = call(
            &self.agent,
            "POST",
            &format!("{}/session", self.base),
            &caps,
        );
        let id = v["sessionId"].as_str().expect("sessionId").to_owned();
        Session {
            name: name.to_owned(),
            url: format!("{}/session/{id}", self.base),
            agent: self.agent.clone(),
            profile,
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One WebDriver command; returns its `value`, panicking with the driver's error message.
fn call(agent: &ureq::Agent, method: &str, url: &str, body: &Value) -> Value {
    let resp = match method {
        "GET" => agent.get(url).call(),
        "DELETE" => agent.delete(url).call(),
        _ => agent
            .post(url)
            .header("content-type", "application/json")
            .send(body.to_string()),
    };
    let mut resp = resp.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status();
    let text = resp
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .unwrap_or_else(|e| panic!("{method} {url}: reading the answer: {e}"));
    let v: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{method} {url}: not JSON ({e}): {text}"));
    assert!(
        status.is_success(),
        "{method} {url}: {status}: {}",
        v["value"]["message"]
    );
    v["value"].clone()
}

/// A browser session; deleted (closing its browser) and its profile removed on drop.
struct Session {
    name: String,
    url: String,
    agent: ureq::Agent,
    profile: PathBuf,
}

impl Session {
    fn post(&self, path: &str, body: Value) -> Value {
        call(&self.agent, "POST", &format!("{}{path}", self.url), &body)
    }

    fn get(&self, path: &str) -> Value {
        call(
            &self.agent,
            "GET",
            &format!("{}{path}", self.url),
            &json!({}),
        )
    }

    fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url }));
    }

    /// Run `script` (a function body; `arguments` are `args`) in the page.
    fn js(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
    }

    fn element(&self, css: &str) -> String {
        let v = self.post("/element", json!({ "using": "css selector", "value": css }));
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element id in {v}"))
            .to_owned()
    }

    /// Click `css` and type `text` into it (WebDriver key codes such as [`ENTER`] allowed).
    fn type_into(&self, css: &str, text: &str) {
        let el = self.element(css);
        self.post(&format!("/element/{el}/click"), json!({}));
        self.post(&format!("/element/{el}/value"), json!({ "text": text }));
    }

    fn clear(&self, css: &str) {
        let el = self.element(css);
        self.post(&format!("/element/{el}/clear"), json!({}));
    }

    /// The page's status line and `data-state`/`data-transport`.
    fn status(&self) -> Value {
        self.js(
            "return { state: document.body.dataset.state, \
                      transport: document.body.dataset.transport, \
                      text: document.getElementById('status').textContent };",
            json!([]),
        )
    }

    /// The messages shown: `[name, text, mine]` per list item, as rendered text.
    fn messages(&self) -> Vec<(String, String, bool)> {
        let v = self.js(
            "return Array.from(document.querySelectorAll('#messages li[data-id]')).map(li => [\
               li.querySelector('.name').textContent, \
               li.querySelector('.text').textContent, \
               li.classList.contains('mine')]);",
            json!([]),
        );
        v.as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m[0].as_str().unwrap().to_owned(),
                    m[1].as_str().unwrap().to_owned(),
                    m[2].as_bool().unwrap(),
                )
            })
            .collect()
    }

    /// Wait (bounded) until `cond` holds, or save a screenshot and fail with `what`.
    fn wait(&self, what: &str, mut cond: impl FnMut(&Session) -> bool) {
        if poll(WAIT, POLL, || cond(self).then_some(())).is_none() {
            let shot = self.screenshot(&format!("failure-{}", self.name));
            panic!(
                "{}: {what} not seen within {WAIT:?}; status {}, messages {:?}, screenshot {}",
                self.name,
                self.status(),
                self.messages(),
                shot.display()
            );
        }
    }

    fn wait_for_message(&self, name: &str, text: &str) {
        self.wait(&format!("message {name}: {text:?}"), |s| {
            s.messages().iter().any(|m| m.0 == name && m.1 == text)
        });
    }

    /// Save a PNG screenshot as `target/browser/<file>.png`; returns its path.
    fn screenshot(&self, file: &str) -> PathBuf {
        let b64 = self.get("/screenshot");
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().expect("base64 screenshot"))
            .expect("valid base64");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        let dir = out_dir();
        let path = dir.join(format!("{file}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Console entries at SEVERE level (uncaught exceptions, failed loads).
    fn console_errors(&self) -> Vec<String> {
        let v = self.post("/se/log", json!({ "type": "browser" }));
        v.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or("").to_owned())
            .collect()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.agent.delete(&self.url).call();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// `target/browser` (created): screenshots and chromedriver logs.
fn out_dir() -> PathBuf {
    let dir = profile_dir().parent().unwrap().join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Whether the browser is installed; when not, fail under CI and skip (loudly) elsewhere.
fn browser_available() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but {missing:?} is missing: .ci/run installs chromium and chromium-driver"
    );
    eprintln!(
        "\n**********************************************************************\n\
         SKIPPED browser test: {missing:?} not installed.\n\
         Install with: apt-get install chromium chromium-driver\n\
         **********************************************************************\n"
    );
    false
}

#[test]
fn chat_page_delivers_messages_between_two_browsers() {
    if !browser_available() {
        return;
    }
    let chat = Chat::start();
    let out = out_dir();
    // Declared before the sessions so it is dropped after them.
    let driver = Driver::start(&out.join("chromedriver.log"));

    // Alice: an ordinary browser, so the page uses a WebSocket.
    let alice = driver.session("alice");
    alice.goto(&chat.url("/"));
    alice.wait("WebSocket connected", |s| {
        s.status() == json!({ "state": "live", "transport": "ws", "text": "live · WebSocket" })
    });

    // Bob: a browser without WebSocket or EventSource, so the page must fall back to
    // long-polling.
    let bob = driver.session("bob");
    bob.post(
        "/goog/cdp/execute",
        json!({
            "cmd": "Page.addScriptToEvaluateOnNewDocument",
            "params": { "source": "delete window.WebSocket; delete window.EventSource;" },
        }),
    );
    bob.goto(&chat.url("/"));
    assert_eq!(bob.js("return typeof EventSource;", json!([])), "undefined");
    assert_eq!(bob.js("return typeof WebSocket;", json!([])), "undefined");
    bob.wait("long-polling", |s| {
        s.status() == json!({ "state": "live", "transport": "poll", "text": "live · long-poll" })
    });
    assert!(alice.messages().is_empty() && bob.messages().is_empty());

    // Alice types her name and a message with markup in it, and presses Enter.
    alice.clear("#name");
    alice.type_into("#name", "Alice");
    let hello = "Hi Bob! Is <b>this</b> bold? (it should not be)";
    alice.type_into("#text", &format!("{hello}{ENTER}"));
    bob.wait_for_message("Alice", hello);
    alice.wait_for_message("Alice", hello);
    assert_eq!(
        alice.js("return document.getElementById('text').value;", json!([])),
        "",
        "the message field is cleared after sending"
    );
    // User text is text: no element was made from it.
    for s in [&alice, &bob] {
        assert_eq!(
            s.js(
                "return document.querySelectorAll('#messages b').length;",
                json!([])
            ),
            0
        );
    }

    // A message posted with a plain HTTP request shows up in both pages.
    let carol = "Morning both — lunch at noon?";
    chat.say("Carol", carol);
    alice.wait_for_message("Carol", carol);
    bob.wait_for_message("Carol", carol);

    // Bob answers from the long-polling page, once he has given a name.
    bob.clear("#name");
    bob.type_into("#text", &format!("too soon{ENTER}"));
    bob.wait("the missing-name error", |s| {
        s.js(
            "return document.getElementById('error').textContent;",
            json!([]),
        ) == "Type your name first."
    });
    bob.clear("#text");
    bob.type_into("#name", "Bob");
    let reply = "Not bold at all. Noon works for me!";
    bob.type_into("#text", &format!("{reply}{ENTER}"));
    alice.wait_for_message("Bob", reply);
    bob.wait("the error cleared", |s| {
        s.js(
            "return document.getElementById('error').textContent;",
            json!([]),
        ) == ""
    });
    bob.wait_for_message("Bob", reply);
    alice.type_into("#text", &format!("See you there.{ENTER}"));
    bob.wait_for_message("Alice", "See you there.");
    alice.wait_for_message("Alice", "See you there.");

    // Both show the same conversation, in order, each marking its own messages.
    let want = [
        ("Alice", hello),
        ("Carol", carol),
        ("Bob", reply),
        ("Alice", "See you there."),
    ];
    for (s, me) in [(&alice, "Alice"), (&bob, "Bob")] {
        let got = s.messages();
        let shown: Vec<(&str, &str)> = got.iter().map(|m| (&*m.0, &*m.1)).collect();
        assert_eq!(shown, want, "{}", s.name);
        for m in &got {
            assert_eq!(m.2, m.0 == me, "{}: {m:?} marked as own", s.name);
        }
        assert_eq!(s.console_errors(), Vec::<String>::new(), "{}", s.name);
    }

    let shot = alice.screenshot("chat");
    let poll_shot = bob.screenshot("chat-long-poll");
    println!("screenshot (WebSocket):   {}", shot.display());
    println!("screenshot (long-poll):   {}", poll_shot.display());
}

#[test]
fn page_keeps_working_when_the_server_restarts() {
    if !browser_available() {
        return;
    }
    let mut chat = Chat::start();
    let out = out_dir();
    let driver = Driver::start(&out.join("chromedriver-restart.log"));
    let page = driver.session("restart");
    page.goto(&chat.url("/"));
    page.wait("WebSocket connected", |s| {
        s.status() == json!({ "state": "live", "transport": "ws", "text": "live · WebSocket" })
    });
    for t in ["one", "two", "three"] {
        chat.say("Dee", t);
    }
    page.wait_for_message("Dee", "three");

    // Same port, fresh process: ids begin again at 1, below what the page has seen.
    let addr = chat.addr;
    chat.terminate();
    chat = Chat::start_on(&addr.to_string());
    // Posted before the page has reconnected: the page resumes with an id this run never
    // issued, so the server replays what it kept, this message included.
    chat.say("Dee", "back again");
    page.wait_for_message("Dee", "back again");
    page.wait("the WebSocket back", |s| {
        s.status() == json!({ "state": "live", "transport": "ws", "text": "live · WebSocket" })
    });
    assert_eq!(chat.subscribers(), 1);
    let notes = page.js(
        "return Array.from(document.querySelectorAll('#messages li.note'), n => n.textContent);",
        json!([]),
    );
    assert_eq!(
        notes,
        json!(["The server restarted; earlier messages are not in its history."])
    );
    let shown: Vec<String> = page.messages().into_iter().map(|m| m.1).collect();
    assert_eq!(shown, ["one", "two", "three", "back again"]);
    // While the server is down the browser may log a failed reconnect; nothing else.
    let errors: Vec<String> = page
        .console_errors()
        .into_iter()
        .filter(|e| !(e.contains("/ws?since=") && e.contains("WebSocket connection")))
        .collect();
    assert_eq!(errors, Vec::<String>::new());
}

#[test]
fn page_falls_back_to_long_poll_when_event_source_keeps_failing() {
    if !browser_available() {
        return;
    }
    let chat = Chat::start();
    let out = out_dir();
    let driver = Driver::start(&out.join("chromedriver-fallback.log"));
    let page = driver.session("fallback");
    // An EventSource that never connects: it keeps reporting errors while "reconnecting",
    // as a real one does behind a proxy that breaks streaming.
    let failing = r#"
        class FailingEventSource {
          constructor(url) {
            this.readyState = 0;
            window.esOpened = (window.esOpened || 0) + 1;
            const fail = () => {
              if (this.readyState === 2) return;
              if (this.onerror) this.onerror(new Event("error"));
              setTimeout(fail, 100);
            };
            setTimeout(fail, 100);
          }
          close() { this.readyState = 2; window.esClosed = true; }
        }
        FailingEventSource.CONNECTING = 0;
        FailingEventSource.OPEN = 1;
        FailingEventSource.CLOSED = 2;
        window.EventSource = FailingEventSource;
        delete window.WebSocket;
    "#;
    page.post(
        "/goog/cdp/execute",
        json!({
            "cmd": "Page.addScriptToEvaluateOnNewDocument",
            "params": { "source": failing },
        }),
    );
    page.goto(&chat.url("/"));
    page.wait("the switch to long-polling", |s| {
        s.status() == json!({ "state": "live", "transport": "poll", "text": "live · long-poll" })
    });
    assert_eq!(
        page.js("return [window.esOpened, window.esClosed];", json!([])),
        json!([1, true]),
        "the page tries EventSource once and closes it before long-polling"
    );
    chat.say("Eve", "reached you by long-poll");
    page.wait_for_message("Eve", "reached you by long-poll");
    assert_eq!(page.console_errors(), Vec::<String>::new());
}

#[test]
fn page_falls_back_to_event_source_when_websocket_never_connects() {
    if !browser_available() {
        return;
    }
    let chat = Chat::start();
    let out = out_dir();
    let driver = Driver::start(&out.join("chromedriver-ws-fallback.log"));
    let page = driver.session("ws-fallback");
    // A WebSocket that never opens, as behind a proxy that refuses upgrades.
    let failing = r#"
        class FailingWebSocket {
          constructor(url) {
            window.wsTried = (window.wsTried || 0) + 1;
            setTimeout(() => { if (this.onclose) this.onclose(new Event("close")); }, 50);
          }
          close() {}
        }
        window.WebSocket = FailingWebSocket;
    "#;
    page.post(
        "/goog/cdp/execute",
        json!({
            "cmd": "Page.addScriptToEvaluateOnNewDocument",
            "params": { "source": failing },
        }),
    );
    page.goto(&chat.url("/"));
    page.wait("the switch to EventSource", |s| {
        s.status() == json!({ "state": "live", "transport": "sse", "text": "live · EventSource" })
    });
    assert_eq!(
        page.js("return window.wsTried;", json!([])),
        json!(1),
        "the page tries WebSocket once before EventSource"
    );
    chat.say("Fay", "reached you by EventSource");
    page.wait_for_message("Fay", "reached you by EventSource");
    assert_eq!(page.console_errors(), Vec::<String>::new());
}

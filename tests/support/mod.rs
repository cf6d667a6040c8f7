//! Shared helpers for the end-to-end tests: a server on `127.0.0.1:0` in its own actix
//! system, the example binaries as processes ([`example`]), raw-socket clients, small
//! HTTP/1.1 response, chunk and server-sent-event readers, a `ureq` agent, and polling.
#![allow(dead_code)] // each test file uses a different subset

pub mod example;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use weir_actors::weir::App;
use weir_actors::{Config, Server, ServerHandle};

/// A server running on its own thread; stopped (immediately) on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    handle: ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A config for tests: one worker, no access log (it would write to the terminal, past the
/// test harness's capture; `tests/access_log.rs` tests it).
pub fn config() -> Config {
    Config {
        workers: 1,
        access_log: None,
        ..Config::default()
    }
}

/// Start `app` with `cfg` on an ephemeral port.
pub fn serve<A: App>(app: A, cfg: Config) -> TestServer {
    serve_with(move || app, cfg)
}

/// Like [`serve`], but the app is made inside the server's actix system (so it can start
/// actors, such as a hub, and capture their addresses).
pub fn serve_with<A: App, F: FnOnce() -> A + Send + 'static>(make: F, cfg: Config) -> TestServer {
    init_logs();
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let sys = actix_rt::System::new();
        sys.block_on(async move {
            let app = make();
            let server = Server::new(app)
                .config(cfg)
                .disable_signals()
                .bind("127.0.0.1:0")
                .expect("bind");
            let addr = server.local_addrs()[0];
            let running = server.run().expect("run");
            tx.send((addr, running.handle())).unwrap();
            running.await.expect("server");
        });
    });
    let (addr, handle) = rx.recv().expect("server started");
    TestServer {
        addr,
        handle,
        thread: Some(thread),
    }
}

impl TestServer {
    /// Graceful stop, returning how long it took to finish.
    pub fn stop_gracefully(mut self) -> Duration {
        let t = Instant::now();
        futures::executor::block_on(self.handle.stop());
        if let Some(th) = self.thread.take() {
            th.join().unwrap();
        }
        t.elapsed()
    }

    /// A handle for stopping from another thread.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Open a raw connection with a read timeout.
    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.set_nodelay(true).unwrap();
        s
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(th) = self.thread.take() {
            futures::executor::block_on(self.handle.stop_now());
            let _ = th.join();
        }
    }
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// A parsed response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// First header value named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Body as UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads a response head (status line and header lines); any body is left in `r`.
fn try_read_head<R: BufRead>(r: &mut R) -> std::io::Result<Response> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(&line))?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h)?;
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').ok_or_else(|| bad(h))?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    Ok(Response {
        status,
        headers,
        body: Vec::new(),
    })
}

/// Reads a response head (status line and headers), panicking if there is none; the body
/// is left in `r`.
pub fn read_head<R: BufRead>(r: &mut R) -> Response {
    try_read_head(r).unwrap_or_else(|e| panic!("reading a response head: {e}"))
}

/// Read one response from `r`. `head_request`: the response has no body.
pub fn read_response<R: BufRead>(r: &mut R, head_request: bool) -> std::io::Result<Response> {
    loop {
        let mut resp = try_read_head(r)?;
        if (100..200).contains(&resp.status) {
            continue; // interim response: the final one follows
        }
        if head_request || resp.status == 204 || resp.status == 304 {
            return Ok(resp);
        }
        if resp
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            loop {
                let mut size = String::new();
                r.read_line(&mut size)?;
                let n = usize::from_str_radix(size.trim(), 16).map_err(|_| bad(&size))?;
                if n == 0 {
                    let mut end = String::new();
                    r.read_line(&mut end)?;
                    break;
                }
                let mut chunk = vec![0; n + 2];
                r.read_exact(&mut chunk)?;
                resp.body.extend_from_slice(&chunk[..n]);
            }
        } else if let Some(cl) = resp.header("content-length") {
            let n: usize = cl.parse().map_err(|_| bad(cl))?;
            resp.body = vec![0; n];
            r.read_exact(&mut resp.body)?;
        } else {
            r.read_to_end(&mut resp.body)?;
        }
        return Ok(resp);
    }
}

fn bad(s: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("bad response: {s:?}"),
    )
}

/// Send `raw` on a new connection and read one response.
pub fn roundtrip(server: &TestServer, raw: &[u8]) -> Response {
    let mut s = server.connect();
    s.write_all(raw).unwrap();
    let mut r = BufReader::new(s);
    read_response(&mut r, false).expect("response")
}

/// Whether the server closed the connection: the next read sees EOF or a reset (a read
/// timeout means it is still open).
pub fn is_closed<R: Read>(r: &mut R) -> bool {
    let mut b = [0u8; 1];
    match r.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// Reads one chunk of a chunked body, strictly: `Ok(None)` only for the terminating
/// `0\r\n\r\n`; an EOF or a malformed chunk is an error.
pub fn read_chunk<R: BufRead>(r: &mut R) -> std::io::Result<Option<Vec<u8>>> {
    let invalid = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    let mut size = String::new();
    if r.read_line(&mut size)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let hex = size
        .strip_suffix("\r\n")
        .ok_or_else(|| invalid(format!("chunk size line {size:?}")))?;
    let n = usize::from_str_radix(hex, 16).map_err(|_| invalid(format!("chunk size {hex:?}")))?;
    let mut data = vec![0; n + 2];
    r.read_exact(&mut data)?;
    if !data.ends_with(b"\r\n") {
        return Err(invalid(format!("chunk not followed by CRLF: {data:?}")));
    }
    data.truncate(n);
    Ok((n > 0).then_some(data))
}

/// Reads chunks until the terminating chunk, appending their data to `body`.
pub fn read_chunked_rest<R: BufRead>(r: &mut R, body: &mut Vec<u8>) -> std::io::Result<()> {
    while let Some(chunk) = read_chunk(r)? {
        body.extend_from_slice(&chunk);
    }
    Ok(())
}

/// A reader over a chunked body without its framing, for streams read line by line. The
/// body ends (`Ok(0)`) only at the last chunk; a connection closed before it is an error.
pub struct Dechunk<R: BufRead> {
    inner: R,
    left: usize,
    done: bool,
}

impl<R: BufRead> Dechunk<R> {
    /// De-chunk the body that follows in `inner` (its head already read).
    pub fn new(inner: R) -> Self {
        Dechunk {
            inner,
            left: 0,
            done: false,
        }
    }
}

impl<R: BufRead> Read for Dechunk<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        if self.left == 0 {
            let mut size = String::new();
            self.inner.read_line(&mut size)?;
            if size == "\r\n" {
                size.clear();
                self.inner.read_line(&mut size)?;
            }
            let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("no chunk size but {size:?}"),
                ));
            };
            if n == 0 {
                self.done = true;
                return Ok(0);
            }
            self.left = n;
        }
        let want = buf.len().min(self.left);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.left -= n;
        Ok(n)
    }
}

/// A streaming response's de-chunked body, read from a socket.
pub type Body = BufReader<Dechunk<BufReader<TcpStream>>>;

/// Read a streaming response's head from `s` (checking status 200, chunked framing and
/// `content_type`) and return a reader over its de-chunked body.
pub fn read_stream_head(s: TcpStream, content_type: &str) -> Body {
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    let (mut ct, mut chunked) = (false, false);
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        ct |= lower == format!("content-type: {content_type}\r\n");
        chunked |= lower == "transfer-encoding: chunked\r\n";
    }
    assert!(
        ct && chunked,
        "content-type {content_type} and chunked expected"
    );
    BufReader::new(Dechunk::new(r))
}

/// Read server-sent-event lines until a blank line ends an event; returns the event's lines.
pub fn next_event(r: &mut impl BufRead) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let mut l = String::new();
        assert!(r.read_line(&mut l).unwrap() > 0, "stream ended");
        let l = l.trim_end_matches('\n').to_owned();
        if l.is_empty() {
            if !lines.is_empty() {
                return lines;
            }
            continue;
        }
        lines.push(l);
    }
}

/// Call `f` every `every` until it returns `Some`, for at most `within` (with one last try
/// once `within` has passed).
pub fn poll<T>(within: Duration, every: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let t = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if t.elapsed() >= within {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// Wait (polling every 10 ms) until `f` returns `Some`, at most `within`.
pub fn wait_for<T>(within: Duration, f: impl FnMut() -> Option<T>) -> Option<T> {
    poll(within, Duration::from_millis(10), f)
}

/// Wait (polling every 10 ms) until `cond` holds, at most `within`; whether it did.
pub fn wait_until(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    wait_for(within, || cond().then_some(())).is_some()
}

/// A `ureq` agent that returns 4xx/5xx responses instead of errors; 30 s timeout.
pub fn agent() -> ureq::Agent {
    agent_with_timeout(Duration::from_secs(30))
}

/// Like [`agent`], with another overall timeout per request.
pub fn agent_with_timeout(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// A test app: reads (and discards) the whole body, then answers `len=N`, so body
/// framing errors are seen and the body length is checked.
pub async fn discard_len_app(
    mut ex: weir_actors::weir::Exchange,
) -> weir_actors::weir::Result<weir_actors::weir::Outcome> {
    let n = ex.discard_body().await?;
    ex.respond(
        weir_actors::weir::StatusCode::OK,
        [("content-type", "text/plain")],
        format!("len={n}"),
    )
    .await
}

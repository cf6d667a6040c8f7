//! Shared helpers for the end-to-end tests: a server on `127.0.0.1:0` in its own actix
//! system, raw-socket clients, and a small HTTP/1.1 response reader.
#![allow(dead_code)] // each test file uses a different subset

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

/// A config for tests: one worker, quiet access log.
pub fn config() -> Config {
    Config {
        workers: 1,
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

/// Read one response from `r`. `head_request`: the response has no body.
pub fn read_response<R: BufRead>(r: &mut R, head_request: bool) -> std::io::Result<Response> {
    let mut line = String::new();
    loop {
        line.clear();
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
        if (100..200).contains(&status) {
            continue; // interim response: the final one follows
        }
        let mut resp = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if head_request || status == 204 || status == 304 {
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

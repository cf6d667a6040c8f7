//! Comet at scale: 10,000 concurrent idle long-poll (or SSE, or WebSocket) connections
//! against the `chat` example. Reports the server's memory per waiting connection (VmRSS
//! growth / N) and the time for one published message to reach all of them (p50 / p99 /
//! max).
//!
//! Run: `cargo bench --bench comet` (options after `--`: `--conns N`, `--mode poll|sse|ws`,
//! `--workers N`). It builds the `chat` example in release, starts it as a separate process
//! (so its RSS is the server's alone), raises this process's open-file limit, and drives
//! the clients from one thread. A bench, not a test: figures go to stdout and to
//! `target/comet-bench.json`.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Comet at scale against the `chat` example (see the file's docs).
#[derive(clap::Parser)]
struct Opts {
    /// Concurrent idle clients.
    #[arg(long, default_value_t = 10_000)]
    conns: usize,
    /// `poll` (long-poll), `sse` (server-sent events) or `ws` (`GET /ws`: the handshake,
    /// then one JSON text frame per message).
    #[arg(long, default_value = "poll", value_parser = ["poll", "sse", "ws"])]
    mode: String,
    /// The chat server's worker threads.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(usize))]
    workers: usize,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn opts() -> Opts {
    <Opts as clap::Parser>::parse()
}

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_chat(workers: usize, fds: u64) -> Server {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args(["build", "--release", "--example", "chat"])
        .status()
        .expect("cargo build");
    assert!(status.success(), "building the chat example failed");
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/examples/chat");
    // The server needs as many descriptors as there are clients: raise its soft limit too.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n {fds} && exec {} --bind 127.0.0.1:0 --workers {workers} --poll-timeout 600",
            bin.display()
        ))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn chat");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected line {line:?}"))
        .parse()
        .unwrap();
    Server { child, addr }
}

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

fn http(addr: SocketAddr, req: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = std::io::Read::read_to_string(&mut s, &mut out);
    out
}

fn subscribers(addr: SocketAddr) -> usize {
    let resp = http(
        addr,
        "GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or("");
    body.split("\"subscribers\":")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let o = opts();
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    let want = (o.conns as u64 + 512).min(hard);
    rlimit::setrlimit(rlimit::Resource::NOFILE, want, hard).unwrap();
    assert!(
        want >= o.conns as u64 + 64,
        "open-file limit {hard} is too low for {} connections",
        o.conns
    );
    let server = start_chat(o.workers, want);
    let pid = server.child.id();
    let addr = server.addr;
    // Warm up: one full exchange so lazily initialised state is counted in the base.
    http(
        addr,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    std::thread::sleep(Duration::from_millis(300));
    let base = rss_bytes(pid);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let (conns, mode) = (o.conns, o.mode.clone());
    let report = local.block_on(&rt, async move {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
        let request = match mode.as_str() {
            "sse" => "GET /events HTTP/1.1\r\nHost: x\r\n\r\n",
            // A client's handshake (RFC 6455 §4.1); the message arrives as an unmasked text
            // frame, so the marker is found in its payload as in the other modes.
            "ws" => {
                "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
            }
            _ => "GET /poll?since=0 HTTP/1.1\r\nHost: x\r\n\r\n",
        };
        let ws = mode == "ws";
        // WebSocket clients count themselves once their 101 head has arrived.
        let upgraded = std::rc::Rc::new(std::cell::Cell::new(0usize));
        let marker: &'static [u8] = b"\"text\":\"ping\"";
        let opened = Instant::now();
        let mut ready = 0;
        for _ in 0..conns {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(request.as_bytes()).await.unwrap();
            ready += 1;
            let tx = tx.clone();
            let upgraded = upgraded.clone();
            tokio::task::spawn_local(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 2048];
                let mut head_done = !ws;
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            seen.extend_from_slice(&buf[..n]);
                            if !head_done {
                                let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n")
                                else {
                                    continue;
                                };
                                assert!(
                                    seen.starts_with(b"HTTP/1.1 101"),
                                    "/ws answered {:?}",
                                    String::from_utf8_lossy(&seen[..end])
                                );
                                head_done = true;
                                upgraded.set(upgraded.get() + 1);
                                seen.drain(..end + 4);
                            }
                            if seen.windows(marker.len()).any(|w| w == marker) {
                                let _ = tx.send(Instant::now());
                                // Keep the connection until the bench ends.
                                let _ = s.read(&mut buf).await;
                                return;
                            }
                        }
                    }
                }
            });
        }
        if ws {
            let waited = Instant::now();
            while upgraded.get() < conns && waited.elapsed() < Duration::from_secs(60) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert_eq!(
                upgraded.get(),
                conns,
                "not every WebSocket handshake completed"
            );
        }
        let open_time = opened.elapsed();
        (
            ready,
            open_time,
            rx_recv_all(&mut rx, addr, conns, pid).await,
        )
    });
    let (ready, open_time, (rss_waiting, delivered, total)) = report;
    let per_conn = rss_waiting.saturating_sub(base) as f64 / ready as f64;
    let mut d = delivered;
    d.sort();
    let (p50, p99, max) = if d.is_empty() {
        (Duration::ZERO, Duration::ZERO, Duration::ZERO)
    } else {
        (
            percentile(&d, 0.5),
            percentile(&d, 0.99),
            *d.last().unwrap(),
        )
    };
    println!(
        "comet bench: chat example, {} mode, {ready} connections, {} workers",
        o.mode, o.workers
    );
    println!("  opened in {open_time:?}");
    println!("  server RSS: base {:.1} MiB, waiting {:.1} MiB => {per_conn:.0} bytes per waiting connection", base as f64 / 1048576.0, rss_waiting as f64 / 1048576.0);
    println!("  delivery of one message: {}/{ready} delivered; p50 {p50:?}, p99 {p99:?}, max {max:?} (all in {total:?})", d.len());
    let json = format!(
        "{{\"mode\":\"{}\",\"connections\":{ready},\"workers\":{},\"rss_base\":{base},\"rss_waiting\":{rss_waiting},\"bytes_per_conn\":{per_conn:.0},\"delivered\":{},\"p50_ms\":{:.2},\"p99_ms\":{:.2},\"max_ms\":{:.2}}}\n",
        o.mode,
        o.workers,
        d.len(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/comet-bench.json");
    std::fs::write(&out, json).unwrap();
    println!("  written to {}", out.display());
    drop(server);
}

/// Wait until every client is subscribed, read the server's RSS, publish one message and
/// collect each client's delivery time.
async fn rx_recv_all(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Instant>,
    addr: SocketAddr,
    conns: usize,
    pid: u32,
) -> (u64, Vec<Duration>, Duration) {
    let waited = Instant::now();
    loop {
        let n = tokio::task::spawn_blocking(move || subscribers(addr))
            .await
            .unwrap();
        if n >= conns || waited.elapsed() > Duration::from_secs(60) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid_rss = rss_bytes(pid);
    let t0 = Instant::now();
    let body = "{\"name\":\"bench\",\"text\":\"ping\"}";
    let req = format!(
        "POST /send HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tokio::task::spawn_blocking(move || http(addr, &req))
        .await
        .unwrap();
    let mut times = Vec::with_capacity(conns);
    while times.len() < conns {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(t)) => times.push(t.duration_since(t0)),
            _ => break,
        }
    }
    (pid_rss, times, t0.elapsed())
}

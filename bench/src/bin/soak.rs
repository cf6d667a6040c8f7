//! `soak`: run the `mixed` and `chat` examples under a bounded mixed load for a while and fail
//! if an answer is wrong or the servers' memory or descriptors keep growing.
//!
//! Run it with `bench/soak --minutes N` (which builds the examples and this binary in
//! release first); `--help` lists every option. The load, on loopback only:
//!
//! - `mixed`: `GET /`, `POST /switch?after=N` with random bodies (Content-Length and
//!   chunked; the answer's sha256 and byte counts are checked), `GET /block?ms=M`,
//!   `POST /legacy` (line and byte counts, the sync middleware's header), four pipelined
//!   requests in one write, connections reset (SO_LINGER 0) mid-body and mid-response,
//!   and garbage that must get a 400;
//! - `chat`: `POST /send`, and a Comet checker that holds an SSE stream (`/events`) and
//!   checks that every message it sends arrives on it and on a `/poll?since=` long-poll.
//!
//! Each server's RSS and open descriptors are sampled every second from `/proc`. After the
//! warm-up, the soak fails (exit status 1) if either grows past its bound by the end, or if
//! any answer was wrong; it prints a table of requests by kind and the RSS and descriptor
//! figures either way.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use sha2::{Digest, Sha256};

/// Soak the `mixed` and `chat` examples: a bounded mixed load (async and switched uploads,
/// blocking calls, a legacy app, pipelining, resets, garbage, SSE and long-poll) with the
/// servers' RSS and descriptors watched. Exits 1 on a wrong answer or past a growth bound.
#[derive(Parser, Debug)]
struct Cli {
    /// How long to run the load, in minutes (fractions allowed)
    #[arg(long, value_name = "N", conflicts_with = "seconds")]
    minutes: Option<f64>,
    /// How long to run the load, in seconds (instead of --minutes; default 60)
    #[arg(long, value_name = "N")]
    seconds: Option<f64>,
    /// Client threads, each with its own keep-alive connections
    #[arg(long, value_name = "N", default_value_t = 8)]
    conns: usize,
    /// Seconds of load before the baseline RSS and descriptor counts are taken
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    warmup_secs: f64,
    /// Largest RSS growth allowed per server from the baseline to the end, in KiB
    #[arg(long, value_name = "KIB", default_value_t = 32 * 1024)]
    rss_growth_kib: u64,
    /// Most open descriptors a server may have gained from the baseline to the end
    #[arg(
        long,
        value_name = "N",
        default_value_t = 16,
        allow_negative_numbers = true
    )]
    fd_growth: i64,
    /// Seed of the request mix and bodies (the same seed gives the same choices)
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,
}

/// How long one exchange may take before it counts as an error (`/block` sleeps ≤ 50 ms,
/// long-polls time out after 2 s).
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// The chat example's long-poll timeout, passed as `--poll-timeout`.
const POLL_TIMEOUT_SECS: f64 = 2.0;
/// Largest upload body.
const MAX_BODY: usize = 256 * 1024;
/// Upper bound on operations per client thread, so every loop is bounded in count as well
/// as by the deadline.
const MAX_OPS: u64 = 10_000_000;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let secs = cli
        .minutes
        .map(|m| m * 60.0)
        .or(cli.seconds)
        .unwrap_or(60.0);
    // Written as "valid" checks so that NaN fails them too.
    let valid_secs = secs.is_finite() && secs > 0.0;
    let valid_warmup = cli.warmup_secs.is_finite() && cli.warmup_secs >= 0.0;
    if !valid_secs || !valid_warmup || cli.conns == 0 {
        eprintln!("soak: the duration must be positive, the warm-up not negative, --conns ≥ 1");
        return ExitCode::from(2);
    }
    match run(&cli, Duration::from_secs_f64(secs)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("soak: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A running example server; killed when dropped.
struct Server {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
}

impl Server {
    /// Start `examples/NAME` (built in release beside this binary) on a free loopback port
    /// and wait for its `listening on http://HOST:PORT` line, as `bench` does its servers.
    fn start(name: &'static str, extra: &[&str]) -> io::Result<Server> {
        let exe = std::env::current_exe()?;
        let bin: PathBuf = exe
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join("examples")
            .join(name);
        if !bin.exists() {
            return Err(io::Error::other(format!(
                "{} not found: build the examples first (`cargo build --release --examples`, \
                 or run bench/soak)",
                bin.display()
            )));
        }
        let mut child = Command::new(&bin)
            .args(["--bind", "127.0.0.1:0", "--workers", "2"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // The access log (INFO) would print a line per request: warnings only.
            .env("RUST_LOG", "warn")
            .spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .and_then(|a| a.parse().ok());
        match addr {
            Some(addr) => Ok(Server { name, child, addr }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(io::Error::other(format!(
                    "{name} did not announce its address (printed {line:?})"
                )))
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running (a crash fails the soak).
    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One sample of a server's resources.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    rss_kib: u64,
    fds: i64,
}

fn sample(pid: u32) -> io::Result<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| io::Error::other("no VmRSS in /proc/PID/status"))?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))?.count() as i64;
    Ok(Sample { rss_kib, fds })
}

/// Counts per request kind, shared by the client threads.
#[derive(Default)]
struct Tally {
    kinds: BTreeMap<&'static str, (u64, u64)>,
    /// The first few wrong answers, for the report.
    failures: Vec<String>,
}

impl Tally {
    fn record(&mut self, kind: &'static str, res: Result<(), String>) {
        let entry = self.kinds.entry(kind).or_default();
        match res {
            Ok(()) => entry.0 += 1,
            Err(e) => {
                entry.1 += 1;
                if self.failures.len() < 20 {
                    self.failures.push(format!("{kind}: {e}"));
                }
            }
        }
    }

    fn errors(&self) -> u64 {
        self.kinds.values().map(|v| v.1).sum()
    }
}

fn run(cli: &Cli, duration: Duration) -> io::Result<bool> {
    let poll_timeout = POLL_TIMEOUT_SECS.to_string();
    let mut servers = [
        Server::start("mixed", &["--pool", "8", "--queue", "256"])?,
        Server::start(
            "chat",
            &["--poll-timeout", &poll_timeout, "--history", "100"],
        )?,
    ];
    let (mixed, chat) = (servers[0].addr, servers[1].addr);
    println!(
        "soak: mixed on {mixed} (pid {}), chat on {chat} (pid {}); {:.0} s of load, {} client threads, warm-up {} s, seed {}",
        servers[0].pid(),
        servers[1].pid(),
        duration.as_secs_f64(),
        cli.conns,
        cli.warmup_secs,
        cli.seed
    );

    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let deadline = start + duration;
    let mut threads = Vec::new();
    for i in 0..cli.conns {
        let (tally, stop) = (Arc::clone(&tally), Arc::clone(&stop));
        let seed = cli.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (i as u64 + 1);
        threads.push(std::thread::spawn(move || {
            client(mixed, chat, seed, deadline, &stop, &tally)
        }));
    }
    {
        let (tally, stop) = (Arc::clone(&tally), Arc::clone(&stop));
        threads.push(std::thread::spawn(move || {
            comet(chat, deadline, &stop, &tally)
        }));
    }

    // Sample once a second; the baseline is the first sample after the warm-up.
    let warmup = Duration::from_secs_f64(cli.warmup_secs).min(duration / 2);
    let pids = [servers[0].pid(), servers[1].pid()];
    let mut baseline: [Option<Sample>; 2] = [None, None];
    let mut max = [Sample::default(); 2];
    let mut crashed = Vec::new();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1).min(deadline - Instant::now()));
        for (i, s) in servers.iter_mut().enumerate() {
            if !s.alive() {
                crashed.push(s.name);
                continue;
            }
            let now = sample(pids[i])?;
            if start.elapsed() >= warmup {
                baseline[i].get_or_insert(now);
                max[i].rss_kib = max[i].rss_kib.max(now.rss_kib);
                max[i].fds = max[i].fds.max(now.fds);
            }
        }
        if !crashed.is_empty() {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    // Let held requests (long-polls, reset connections) finish before the final sample.
    std::thread::sleep(Duration::from_secs_f64(POLL_TIMEOUT_SECS + 1.0));
    let mut end = [Sample::default(); 2];
    for (i, s) in servers.iter_mut().enumerate() {
        if !s.alive() {
            if !crashed.contains(&s.name) {
                crashed.push(s.name);
            }
            continue;
        }
        end[i] = sample(pids[i])?;
        max[i].rss_kib = max[i].rss_kib.max(end[i].rss_kib);
        max[i].fds = max[i].fds.max(end[i].fds);
    }

    let tally = tally.lock().unwrap();
    println!();
    println!("| requests | ok | errors |");
    println!("|---|---:|---:|");
    let mut total = (0, 0);
    for (kind, (ok, err)) in &tally.kinds {
        println!("| {kind} | {ok} | {err} |");
        total.0 += ok;
        total.1 += err;
    }
    println!("| **total** | {} | {} |", total.0, total.1);
    println!();
    println!(
        "| server | RSS KiB after warm-up | at end | max | fds after warm-up | at end | max |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut ok = true;
    for (i, s) in servers.iter().enumerate() {
        let b = baseline[i].unwrap_or(end[i]);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            s.name, b.rss_kib, end[i].rss_kib, max[i].rss_kib, b.fds, end[i].fds, max[i].fds
        );
        if crashed.contains(&s.name) {
            continue;
        }
        let rss_growth = end[i].rss_kib.saturating_sub(b.rss_kib);
        if rss_growth > cli.rss_growth_kib {
            eprintln!(
                "soak: FAIL: {} RSS grew by {rss_growth} KiB after the warm-up (bound {} KiB)",
                s.name, cli.rss_growth_kib
            );
            ok = false;
        }
        let fd_growth = end[i].fds - b.fds;
        if fd_growth > cli.fd_growth {
            eprintln!(
                "soak: FAIL: {} has {fd_growth} more open descriptors than after the warm-up (bound {})",
                s.name, cli.fd_growth
            );
            ok = false;
        }
    }
    for name in &crashed {
        eprintln!("soak: FAIL: {name} exited during the soak");
        ok = false;
    }
    if tally.errors() > 0 {
        eprintln!(
            "soak: FAIL: {} wrong or failed answers; the first:",
            tally.errors()
        );
        for f in &tally.failures {
            eprintln!("  {f}");
        }
        ok = false;
    }
    if total.0 == 0 {
        eprintln!("soak: FAIL: no request succeeded");
        ok = false;
    }
    println!();
    println!("soak: {}", if ok { "PASS" } else { "FAIL" });
    Ok(ok)
}

/// xorshift64*: the request mix and bodies, reproducible from `--seed` without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0.max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(len + 8);
        while v.len() < len {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(len);
        v
    }
}

/// A parsed response.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A client connection with its read buffer (pipelined answers arrive together).
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn open(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::new(),
        })
    }

    fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Read one response head (skipping `100 Continue`s).
    fn read_head(&mut self) -> io::Result<(u16, Vec<(String, String)>)> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&self.buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let status = resp.code.unwrap_or(0);
                    let hs = resp
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_owned(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect();
                    self.buf.drain(..n);
                    if status == 100 {
                        continue;
                    }
                    return Ok((status, hs));
                }
                Ok(httparse::Status::Partial) => self.fill()?,
                Err(e) => return Err(io::Error::other(format!("bad response head: {e}"))),
            }
        }
    }

    /// Read one whole response (Content-Length, chunked or close-delimited). The soak sends
    /// no HEAD requests, so every other status has a body to read.
    fn read_response(&mut self) -> io::Result<Response> {
        let (status, headers) = self.read_head()?;
        let mut resp = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if status == 204 || status == 304 {
            return Ok(resp);
        }
        if resp
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            while let Some(chunk) = self.read_chunk()? {
                resp.body.extend_from_slice(&chunk);
            }
        } else if let Some(len) = resp.header("content-length") {
            let len: usize = len
                .trim()
                .parse()
                .map_err(|_| io::Error::other("bad Content-Length"))?;
            while self.buf.len() < len {
                self.fill()?;
            }
            resp.body = self.buf.drain(..len).collect();
        } else {
            // Close-delimited.
            loop {
                match self.fill() {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(e),
                }
            }
            resp.body = std::mem::take(&mut self.buf);
        }
        Ok(resp)
    }

    /// The next chunk of a chunked body, `None` after the last (trailers skipped).
    fn read_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        let line = self.read_line()?;
        let size_hex = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| io::Error::other(format!("bad chunk size line {line:?}")))?;
        if size == 0 {
            while !self.read_line()?.is_empty() {}
            return Ok(None);
        }
        while self.buf.len() < size + 2 {
            self.fill()?;
        }
        let data: Vec<u8> = self.buf.drain(..size).collect();
        if self.buf.drain(..2).as_slice() != b"\r\n" {
            return Err(io::Error::other("chunk data not followed by CRLF"));
        }
        Ok(Some(data))
    }

    fn read_line(&mut self) -> io::Result<String> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            self.fill()?;
        }
    }

    /// Reset the connection: SO_LINGER 0 makes the close send an RST, not a FIN.
    fn reset(self) {
        let _ = socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
        drop(self.stream);
    }
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn request(method: &str, target: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "{method} {target} HTTP/1.1\r\nHost: soak\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

fn chunked_request(target: &str, body: &[u8], piece: usize) -> Vec<u8> {
    let mut r =
        format!("POST {target} HTTP/1.1\r\nHost: soak\r\nTransfer-Encoding: chunked\r\n\r\n")
            .into_bytes();
    for c in body.chunks(piece.max(1)) {
        r.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        r.extend_from_slice(c);
        r.extend_from_slice(b"\r\n");
    }
    r.extend_from_slice(b"0\r\n\r\n");
    r
}

fn expect(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

fn check_hello(r: &Response) -> Result<(), String> {
    expect(r.status == 200 && r.body == b"Hello, World!", || {
        format!("GET / answered {} {:?}", r.status, r.text())
    })
}

fn check_switch(r: &Response, body: &[u8]) -> Result<(), String> {
    let want = format!("bytes={} sha256={}", body.len(), hex(&Sha256::digest(body)));
    let text = r.text();
    let counts_add_up = (|| {
        let mut a = None;
        let mut s = None;
        for part in text.split(' ') {
            if let Some(v) = part.strip_prefix("async=") {
                a = v.parse::<usize>().ok();
            }
            if let Some(v) = part.strip_prefix("sync=") {
                s = v.parse::<usize>().ok();
            }
        }
        Some(a? + s? == body.len())
    })()
    .unwrap_or(false);
    expect(
        r.status == 200 && text.starts_with(&format!("{want} ")) && counts_add_up,
        || {
            format!(
                "/switch answered {} {text:?}, want {want:?} async=A sync=S",
                r.status
            )
        },
    )
}

fn check_block(r: &Response, ms: u64) -> Result<(), String> {
    expect(r.status == 200 && r.text() == format!("slept={ms}"), || {
        format!("/block?ms={ms} answered {} {:?}", r.status, r.text())
    })
}

fn legacy_body(rng: &mut Rng) -> (Vec<u8>, String) {
    let lines = rng.below(50) as usize;
    let mut body = Vec::new();
    for i in 0..lines {
        body.extend_from_slice(
            format!("line {i} {}\n", "x".repeat(rng.below(100) as usize)).as_bytes(),
        );
    }
    // A last line without a newline now and then.
    let mut count = lines;
    if rng.below(2) == 0 {
        body.extend_from_slice(b"tail");
        count += 1;
    }
    let want = format!("lines={count} bytes={}", body.len());
    (body, want)
}

/// One client thread: a keep-alive connection to each server, and a random mix of requests
/// until the deadline.
fn client(
    mixed: SocketAddr,
    chat: SocketAddr,
    seed: u64,
    deadline: Instant,
    stop: &AtomicBool,
    tally: &Mutex<Tally>,
) {
    let mut rng = Rng(seed);
    let mut conn: Option<Conn> = None;
    for _ in 0..MAX_OPS {
        if Instant::now() >= deadline || stop.load(Ordering::Relaxed) {
            break;
        }
        let pick = rng.below(100);
        let (kind, res): (&'static str, Result<(), String>) = match pick {
            0..=24 => (
                "GET /",
                keep_alive(&mut conn, mixed, |c| {
                    c.stream.write_all(&request("GET", "/", "", b""))?;
                    Ok(check_hello(&c.read_response()?))
                }),
            ),
            25..=39 => {
                let len = match rng.below(4) {
                    0 => rng.below(64),
                    1 => rng.below(4096),
                    _ => rng.below(MAX_BODY as u64),
                } as usize;
                let body = rng.bytes(len);
                let after = rng.below(len as u64 + 1);
                let target = format!("/switch?after={after}");
                let req = if rng.below(3) == 0 {
                    chunked_request(&target, &body, 1 + rng.below(32 * 1024) as usize)
                } else {
                    request("POST", &target, "", &body)
                };
                (
                    "POST /switch",
                    keep_alive(&mut conn, mixed, |c| {
                        c.stream.write_all(&req)?;
                        Ok(check_switch(&c.read_response()?, &body))
                    }),
                )
            }
            40..=49 => {
                let ms = rng.below(50);
                (
                    "GET /block",
                    keep_alive(&mut conn, mixed, |c| {
                        c.stream
                            .write_all(&request("GET", &format!("/block?ms={ms}"), "", b""))?;
                        Ok(check_block(&c.read_response()?, ms))
                    }),
                )
            }
            50..=59 => {
                let (body, want) = legacy_body(&mut rng);
                (
                    "POST /legacy",
                    keep_alive(&mut conn, mixed, |c| {
                        c.stream.write_all(&request("POST", "/legacy", "", &body))?;
                        let r = c.read_response()?;
                        Ok(expect(
                            r.status == 200
                                && r.text() == want
                                && r.header("x-middleware") == Some("sync"),
                            || {
                                format!(
                                    "/legacy answered {} {:?}, want {want:?}",
                                    r.status,
                                    r.text()
                                )
                            },
                        ))
                    }),
                )
            }
            60..=69 => ("pipelined x4", pipelined(&mut rng, mixed)),
            70..=74 => ("reset mid-body", reset_mid_body(&mut rng, mixed)),
            75..=79 => (
                "reset mid-response",
                reset_mid_response(&mut rng, mixed, chat),
            ),
            80..=84 => ("garbage", garbage(&mut rng, mixed)),
            _ => (
                "POST /send (chat)",
                chat_send(chat, &format!("load {}", rng.next())),
            ),
        };
        tally.lock().unwrap().record(kind, res);
    }
}

/// Run `f` on the thread's keep-alive connection to `addr`, opening one if needed; the
/// connection is dropped after an I/O error (and the error counted).
fn keep_alive(
    conn: &mut Option<Conn>,
    addr: SocketAddr,
    f: impl FnOnce(&mut Conn) -> io::Result<Result<(), String>>,
) -> Result<(), String> {
    if conn.is_none() {
        *conn = Some(Conn::open(addr).map_err(|e| format!("connect: {e}"))?);
    }
    let c = conn.as_mut().expect("just opened");
    match f(c) {
        Ok(res) => {
            if res.is_err() {
                *conn = None;
            }
            res
        }
        Err(e) => {
            *conn = None;
            Err(format!("I/O: {e}"))
        }
    }
}

/// Four requests in one write on a new connection; the answers must come back in order.
fn pipelined(rng: &mut Rng, mixed: SocketAddr) -> Result<(), String> {
    let len = rng.below(8192) as usize;
    let body = rng.bytes(len);
    let ms = rng.below(5);
    let mut wire = request("GET", "/", "", b"");
    wire.extend(request("GET", &format!("/block?ms={ms}"), "", b""));
    wire.extend(request("POST", "/switch?after=100", "", &body));
    wire.extend(request("GET", "/", "", b""));
    let io = || -> io::Result<Result<(), String>> {
        let mut c = Conn::open(mixed)?;
        c.stream.write_all(&wire)?;
        let r1 = check_hello(&c.read_response()?);
        let r2 = check_block(&c.read_response()?, ms);
        let r3 = check_switch(&c.read_response()?, &body);
        let r4 = check_hello(&c.read_response()?);
        Ok(r1.and(r2).and(r3).and(r4))
    };
    io().map_err(|e| format!("I/O: {e}"))?
}

/// Send a head and part of a body, then reset: the server must drop the request (and its
/// switched continuation) without leaking.
fn reset_mid_body(rng: &mut Rng, mixed: SocketAddr) -> Result<(), String> {
    let len = 1024 + rng.below(MAX_BODY as u64) as usize;
    let sent = rng.below(len as u64) as usize;
    let target = match rng.below(3) {
        0 => format!("/switch?after={}", rng.below(len as u64)),
        1 => "/legacy".to_owned(),
        _ => "/switch?after=0".to_owned(),
    };
    let mut wire = format!("POST {target} HTTP/1.1\r\nHost: soak\r\nContent-Length: {len}\r\n\r\n")
        .into_bytes();
    // Text, as `/legacy` reads lines (binary would fail its UTF-8 check, not the reset).
    wire.extend(rng.bytes(sent).iter().map(|b| b'a' + b % 26));
    let mut c = Conn::open(mixed).map_err(|e| format!("connect: {e}"))?;
    c.stream
        .write_all(&wire)
        .map_err(|e| format!("write: {e}"))?;
    // Give the server a moment to start the app, so the reset lands mid-request.
    std::thread::sleep(Duration::from_millis(rng.below(5)));
    c.reset();
    Ok(())
}

/// Reset while the answer is on its way: a `/block` that is still sleeping, or an SSE stream
/// the server keeps writing to.
fn reset_mid_response(rng: &mut Rng, mixed: SocketAddr, chat: SocketAddr) -> Result<(), String> {
    if rng.below(2) == 0 {
        let mut c = Conn::open(mixed).map_err(|e| format!("connect: {e}"))?;
        c.stream
            .write_all(&request("GET", "/block?ms=20", "", b""))
            .map_err(|e| format!("write: {e}"))?;
        std::thread::sleep(Duration::from_millis(rng.below(30)));
        c.reset();
    } else {
        let mut c = Conn::open(chat).map_err(|e| format!("connect: {e}"))?;
        c.stream
            .write_all(b"GET /events?since=0 HTTP/1.1\r\nHost: soak\r\n\r\n")
            .map_err(|e| format!("write: {e}"))?;
        let (status, _) = c.read_head().map_err(|e| format!("I/O: {e}"))?;
        c.reset();
        expect(status == 200, || format!("/events answered {status}"))?;
    }
    Ok(())
}

/// Bytes that are no request: the server must answer 400 and close.
fn garbage(rng: &mut Rng, mixed: SocketAddr) -> Result<(), String> {
    // \x01 can start no method, so this is a malformed request line whatever follows.
    let mut wire = vec![1u8];
    let len = rng.below(512) as usize;
    wire.extend(rng.bytes(len));
    wire.extend_from_slice(b"\r\n\r\n");
    let mut c = Conn::open(mixed).map_err(|e| format!("connect: {e}"))?;
    c.stream
        .write_all(&wire)
        .map_err(|e| format!("write: {e}"))?;
    let r = c.read_response().map_err(|e| format!("I/O: {e}"))?;
    expect(
        r.status == 400 && r.header("connection") == Some("close"),
        || {
            format!(
                "garbage answered {} (connection: {:?})",
                r.status,
                r.header("connection")
            )
        },
    )
}

/// `POST /send` on a new connection; 204 expected.
fn chat_send(chat: SocketAddr, text: &str) -> Result<(), String> {
    let body = format!("name=soak&text={}", text.replace(' ', "+"));
    let io = || -> io::Result<Result<(), String>> {
        let mut c = Conn::open(chat)?;
        c.stream.write_all(&request(
            "POST",
            "/send",
            "Content-Type: application/x-www-form-urlencoded\r\n",
            body.as_bytes(),
        ))?;
        let r = c.read_response()?;
        Ok(expect(r.status == 204, || {
            format!("/send answered {} {:?}", r.status, r.text())
        }))
    };
    io().map_err(|e| format!("I/O: {e}"))?
}

/// The Comet checker: hold an SSE stream open and send messages one at a time; each must
/// arrive on the stream and on a chain of `/poll?since=` long-polls that was already waiting
/// when it was sent. Reconnects the stream now and then, so subscriptions come and go too.
fn comet(chat: SocketAddr, deadline: Instant, stop: &AtomicBool, tally: &Mutex<Tally>) {
    let mut n = 0u64;
    let mut last_id = 0u64;
    'streams: for _ in 0..MAX_OPS {
        if Instant::now() >= deadline || stop.load(Ordering::Relaxed) {
            break;
        }
        let mut sse = match open_events(chat) {
            Ok(c) => c,
            Err(e) => {
                tally.lock().unwrap().record("SSE /events", Err(e));
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        for _ in 0..50 {
            if Instant::now() >= deadline || stop.load(Ordering::Relaxed) {
                break 'streams;
            }
            // Paced: the checker is about delivery, not throughput (the load threads post
            // too).
            std::thread::sleep(Duration::from_millis(20));
            n += 1;
            let text = format!("comet {n}");
            // The long-poll goes out first, so it is (usually) waiting when the message is
            // published; `since` makes it safe either way.
            let poll = start_poll(chat, last_id);
            let sent = chat_send(chat, &text);
            let failed = sent.is_err();
            tally.lock().unwrap().record("POST /send (chat)", sent);
            if failed {
                continue 'streams;
            }
            match await_event(&mut sse, &text) {
                Ok(id) => {
                    tally.lock().unwrap().record("SSE /events", Ok(()));
                    last_id = id;
                }
                Err(e) => {
                    tally.lock().unwrap().record("SSE /events", Err(e));
                    continue 'streams;
                }
            }
            let res = poll.and_then(|p| long_poll_chain(p, &text));
            tally.lock().unwrap().record("GET /poll", res);
        }
    }
}

fn start_poll(chat: SocketAddr, since: u64) -> Result<(Conn, u64), String> {
    let mut c = Conn::open(chat).map_err(|e| format!("connect: {e}"))?;
    c.stream
        .write_all(&request("GET", &format!("/poll?since={since}"), "", b""))
        .map_err(|e| format!("write: {e}"))?;
    Ok((c, since))
}

/// Read long-poll answers until one holds `text`: a 200 without it (other clients' messages
/// came first) or a 204 (timed out) asks again after the newest id seen.
fn long_poll_chain((mut c, mut since): (Conn, u64), text: &str) -> Result<(), String> {
    let needle = format!("\"text\":\"{text}\"");
    let until = Instant::now() + IO_TIMEOUT;
    for _ in 0..100 {
        let r = c.read_response().map_err(|e| format!("I/O: {e}"))?;
        let body = r.text();
        match r.status {
            200 if body.contains(&needle) => return Ok(()),
            200 => {
                // The newest id in the batch: ask for what came after it.
                since = body
                    .split("\"id\":")
                    .skip(1)
                    .filter_map(|t| t.split([',', '}']).next()?.parse::<u64>().ok())
                    .max()
                    .ok_or_else(|| format!("/poll answered 200 without ids: {body:?}"))?;
            }
            204 => {}
            s => return Err(format!("/poll?since={since} answered {s} {body:?}")),
        }
        if Instant::now() >= until {
            break;
        }
        c.stream
            .write_all(&request("GET", &format!("/poll?since={since}"), "", b""))
            .map_err(|e| format!("write: {e}"))?;
    }
    Err(format!("{text:?} never arrived on a long-poll"))
}

fn open_events(chat: SocketAddr) -> Result<Conn, String> {
    let mut c = Conn::open(chat).map_err(|e| format!("connect: {e}"))?;
    c.stream
        .write_all(b"GET /events HTTP/1.1\r\nHost: soak\r\nAccept: text/event-stream\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let (status, headers) = c.read_head().map_err(|e| format!("I/O: {e}"))?;
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v == "chunked");
    expect(status == 200 && chunked, || {
        format!("/events answered {status}, chunked: {chunked}")
    })?;
    Ok(c)
}

/// Read SSE events until one carries `text`; returns its id.
fn await_event(sse: &mut Conn, text: &str) -> Result<u64, String> {
    let until = Instant::now() + IO_TIMEOUT;
    let needle = format!("\"text\":\"{text}\"");
    let mut pending = String::new();
    while Instant::now() < until {
        let chunk = sse
            .read_chunk()
            .map_err(|e| format!("I/O: {e}"))?
            .ok_or("the event stream ended")?;
        pending.push_str(&String::from_utf8_lossy(&chunk));
        // Whole events end with a blank line.
        while let Some(end) = pending.find("\n\n") {
            let event: String = pending.drain(..end + 2).collect();
            if event.contains(&needle) {
                let id = event
                    .lines()
                    .find_map(|l| l.strip_prefix("id:"))
                    .and_then(|v| v.trim().parse().ok())
                    .ok_or_else(|| format!("an event without an id: {event:?}"))?;
                return Ok(id);
            }
        }
    }
    Err(format!("{text:?} did not arrive on the event stream"))
}

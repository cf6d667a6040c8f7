//! The workloads: what each sends, and what it measures on one running server.
//!
//! Every workload runs against a freshly started server and returns its figures for that
//! round as `(metric id, value)` pairs; `report::METRICS` says what each id means.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crate::client::{self, Conn};
use crate::server::{Family, Kind, Running};
use crate::{sys, wrk};

/// Connections in the WebSocket echo workload: as many as wrk's for plaintext.
pub const WS_CONNS: usize = 64;
/// Bytes per WebSocket message: a small chat or RPC message, so the figure is per-message
/// cost rather than bandwidth.
pub const WS_MESSAGE: usize = 64;

/// Settings shared by all workloads.
#[derive(Clone, Debug)]
pub struct Params {
    /// Measured time per workload run.
    pub duration: Duration,
    /// CPU the load generator runs on (`None`: no pinning).
    pub client_cpu: Option<usize>,
    /// wrk connections for the plaintext workloads.
    pub wrk_conns: usize,
    /// Requests per pipelined write.
    pub pipeline_depth: usize,
    /// The wrk pipelining script.
    pub pipeline_script: PathBuf,
    /// Bytes per upload.
    pub upload_bytes: u64,
    /// Idle long-poll connections.
    pub idle_conns: usize,
    /// Concurrent blocking calls in the latency-under-blocking workload.
    pub blockers: usize,
    /// How long each blocking call sleeps, in ms.
    pub block_ms: u64,
    /// Request body size in the sync-switch overhead workload.
    pub switch_body: usize,
}

/// One workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// wrk keep-alive `GET /`.
    Plaintext,
    /// wrk pipelined `GET /`.
    Pipelined,
    /// Upload with Content-Length to `/count` (async input).
    UploadLength,
    /// Chunked upload to `/count` (async input).
    UploadChunked,
    /// Upload with Content-Length to `/switch-count` (weir's blocking reader).
    UploadSwitch,
    /// Sequential `GET /stream` (1 MiB).
    Stream,
    /// WebSocket echo round trips on `WS_CONNS` connections to `/ws`.
    WsEcho,
    /// Many idle `GET /poll` connections: server memory per connection.
    LongPoll,
    /// Many idle WebSockets on `/ws` (handshake, then nothing): server memory per socket.
    WsIdle,
    /// `GET /` latency with the blocking pool idle, then saturated.
    BlockLatency,
    /// 1 KiB `POST`s, `/count` against `/switch-count`.
    SwitchOverhead,
    /// wrk keep-alive 1 KiB `POST /echo` to `examples/echo` (log on and off).
    Echo,
}

impl Workload {
    /// Every workload, in report order.
    pub const ALL: [Workload; 12] = [
        Workload::Plaintext,
        Workload::Pipelined,
        Workload::UploadLength,
        Workload::UploadChunked,
        Workload::UploadSwitch,
        Workload::Stream,
        Workload::WsEcho,
        Workload::LongPoll,
        Workload::WsIdle,
        Workload::BlockLatency,
        Workload::SwitchOverhead,
        Workload::Echo,
    ];

    /// Short name, for `--only` and the JSON.
    pub fn id(self) -> &'static str {
        match self {
            Workload::Plaintext => "plaintext",
            Workload::Pipelined => "pipelined",
            Workload::UploadLength => "upload-length",
            Workload::UploadChunked => "upload-chunked",
            Workload::UploadSwitch => "upload-switch",
            Workload::Stream => "stream",
            Workload::WsEcho => "ws-echo",
            Workload::LongPoll => "longpoll",
            Workload::WsIdle => "ws-idle",
            Workload::BlockLatency => "block-latency",
            Workload::SwitchOverhead => "switch-overhead",
            Workload::Echo => "echo",
        }
    }

    /// Title in the table, filled in from the parameters.
    pub fn title(self, p: &Params) -> String {
        let mib = p.upload_bytes >> 20;
        match self {
            Workload::Plaintext => format!("plaintext keep-alive, {} conns", p.wrk_conns),
            Workload::Pipelined => format!(
                "plaintext pipelined ×{}, {} conns",
                p.pipeline_depth, p.wrk_conns
            ),
            Workload::UploadLength => format!("upload {mib} MiB, Content-Length, async input"),
            Workload::UploadChunked => format!("upload {mib} MiB, chunked, async input"),
            Workload::UploadSwitch => {
                format!("upload {mib} MiB through the sync switch (blocking reader)")
            }
            Workload::Stream => "streaming response 1 MiB (16 × 64 KiB)".to_owned(),
            Workload::WsEcho => format!(
                "WebSocket echo, {WS_MESSAGE} B binary messages, {WS_CONNS} conns (weir, actix-ws, tokio-tungstenite on hyper)"
            ),
            Workload::LongPoll => format!("{} idle long-poll connections", p.idle_conns),
            Workload::WsIdle => format!(
                "{} idle WebSockets (weir, actix-ws, tokio-tungstenite on hyper)",
                p.idle_conns
            ),
            Workload::BlockLatency => format!(
                "async `GET /` while {} blocking calls ({} ms) saturate the pool",
                p.blockers, p.block_ms
            ),
            Workload::SwitchOverhead => format!(
                "sequential {} B `POST`s: pure async, and (weir) the sync switch at byte 0",
                p.switch_body
            ),
            Workload::Echo => format!(
                "`examples/echo` 1 KiB `POST /echo` keep-alive, {} conns",
                p.wrk_conns
            ),
        }
    }

    /// Whether `kind` has this workload's route (and is meant for it: the peers with their
    /// logs on and the examples run only the workloads that compare access logs).
    pub fn runs_on(self, kind: Kind) -> bool {
        match kind.family {
            Family::Bench { logged: false } => self != Workload::Echo,
            Family::Bench { logged: true } | Family::Hello => {
                matches!(self, Workload::Plaintext | Workload::Pipelined)
            }
            Family::Echo => self == Workload::Echo,
        }
    }

    /// Whether only weir has the route this needs (the sync switch).
    pub fn weir_only(self) -> bool {
        matches!(self, Workload::UploadSwitch)
    }

    /// Whether it needs wrk.
    pub fn uses_wrk(self) -> bool {
        matches!(
            self,
            Workload::Plaintext | Workload::Pipelined | Workload::Echo
        )
    }

    /// Run once against `server`; returns `(metric id, value)` pairs.
    pub fn run(self, server: &Running, p: &Params) -> io::Result<Vec<(&'static str, f64)>> {
        warm_up(server.addr)?;
        match self {
            Workload::Plaintext => plaintext(server, p, None),
            Workload::Pipelined => plaintext(server, p, Some(p.pipeline_depth)),
            Workload::UploadLength => upload(server, p, "/count", false, "upload-length"),
            Workload::UploadChunked => upload(server, p, "/count", true, "upload-chunked"),
            Workload::UploadSwitch => upload(server, p, "/switch-count", false, "upload-switch"),
            Workload::Stream => stream(server, p),
            Workload::WsEcho => crate::ws::echo(server, p, WS_CONNS, WS_MESSAGE),
            Workload::LongPoll => long_poll(server, p),
            Workload::WsIdle => crate::ws::idle(server, p),
            Workload::BlockLatency => block_latency(server, p),
            Workload::SwitchOverhead => switch_overhead(server, p),
            Workload::Echo => echo(server, p),
        }
    }
}

/// A few hundred sequential `GET /`, so first-request costs stay out of the figures.
fn warm_up(addr: SocketAddr) -> io::Result<()> {
    let mut conn = Conn::connect(addr)?;
    let req = client::head("GET", "/", "");
    for _ in 0..300 {
        expect_status(&conn.request(&req)?, 200, "GET /")?;
    }
    Ok(())
}

fn expect_status(res: &client::Response, status: u16, what: &str) -> io::Result<()> {
    if res.status == status {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{what}: status {} (wanted {status}): {}",
            res.status,
            res.text()
        )))
    }
}

/// Server CPU time spent while `f` runs.
pub(crate) fn with_cpu<T>(
    pid: u32,
    f: impl FnOnce() -> io::Result<T>,
) -> io::Result<(T, Duration)> {
    let before = sys::cpu_time(pid)?;
    let out = f()?;
    let after = sys::cpu_time(pid)?;
    Ok((out, after.saturating_sub(before)))
}

fn plaintext(
    server: &Running,
    p: &Params,
    depth: Option<usize>,
) -> io::Result<Vec<(&'static str, f64)>> {
    let pipeline = depth.map(|d| (&p.pipeline_script, d));
    let (s, cpu) = with_cpu(server.pid, || {
        wrk::run(server.addr, p.wrk_conns, p.duration, p.client_cpu, pipeline)
    })?;
    if s.errors > 0 {
        return Err(io::Error::other(format!(
            "wrk saw {} errors or non-2xx responses",
            s.errors
        )));
    }
    let cpu_us = cpu.as_secs_f64() * 1e6 / s.requests.max(1) as f64;
    let p99_ms = s.p99.map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
    Ok(if depth.is_some() {
        vec![("pipelined.cpu_us", cpu_us), ("pipelined.rps", s.rps)]
    } else {
        vec![
            ("plaintext.cpu_us", cpu_us),
            ("plaintext.rps", s.rps),
            ("plaintext.p99_ms", p99_ms),
        ]
    })
}

fn upload(
    server: &Running,
    p: &Params,
    path: &str,
    chunked: bool,
    id: &'static str,
) -> io::Result<Vec<(&'static str, f64)>> {
    let mut conn = Conn::connect(server.addr)?;
    let ((bytes, elapsed), cpu) = with_cpu(server.pid, || {
        let start = Instant::now();
        let mut bytes = 0u64;
        // Back-to-back uploads on one connection until the duration is up (at least one).
        while bytes == 0 || start.elapsed() < p.duration {
            let res = client::upload(&mut conn, path, p.upload_bytes, chunked)?;
            expect_status(&res, 200, path)?;
            if res.text().trim() != p.upload_bytes.to_string() {
                return Err(io::Error::other(format!(
                    "{path} counted {:?}, sent {}",
                    res.text(),
                    p.upload_bytes
                )));
            }
            bytes += p.upload_bytes;
        }
        Ok((bytes, start.elapsed()))
    })?;
    let mbps = bytes as f64 / elapsed.as_secs_f64() / 1e6;
    let cpu_s_gib = cpu.as_secs_f64() / (bytes as f64 / (1u64 << 30) as f64);
    Ok(match id {
        "upload-length" => vec![
            ("upload-length.mbps", mbps),
            ("upload-length.cpu_s_gib", cpu_s_gib),
        ],
        "upload-chunked" => vec![
            ("upload-chunked.mbps", mbps),
            ("upload-chunked.cpu_s_gib", cpu_s_gib),
        ],
        _ => vec![
            ("upload-switch.mbps", mbps),
            ("upload-switch.cpu_s_gib", cpu_s_gib),
        ],
    })
}

/// The `q`-quantile of `samples` (sorted in place), in ms.
pub(crate) fn quantile_ms(samples: &mut [Duration], q: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_unstable();
    let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
    samples[i].as_secs_f64() * 1e3
}

fn stream(server: &Running, p: &Params) -> io::Result<Vec<(&'static str, f64)>> {
    let mut conn = Conn::connect(server.addr)?;
    let req = client::head("GET", "/stream", "");
    let mut lat = Vec::new();
    let ((bytes, elapsed), cpu) = with_cpu(server.pid, || {
        let start = Instant::now();
        let mut bytes = 0u64;
        while start.elapsed() < p.duration {
            let t = Instant::now();
            let res = conn.request(&req)?;
            lat.push(t.elapsed());
            expect_status(&res, 200, "GET /stream")?;
            if res.body_len != weir_bench::STREAM_BYTES as u64 {
                return Err(io::Error::other(format!(
                    "GET /stream gave {} bytes",
                    res.body_len
                )));
            }
            bytes += res.body_len;
        }
        Ok((bytes, start.elapsed()))
    })?;
    let mbps = bytes as f64 / elapsed.as_secs_f64() / 1e6;
    let cpu_s_gib = cpu.as_secs_f64() / (bytes as f64 / (1u64 << 30) as f64);
    Ok(vec![
        ("stream.mbps", mbps),
        ("stream.p50_ms", quantile_ms(&mut lat, 0.50)),
        ("stream.p99_ms", quantile_ms(&mut lat, 0.99)),
        ("stream.cpu_s_gib", cpu_s_gib),
    ])
}

/// Wait until the server's CPU time stops moving (it has taken every request), at most 20 s.
pub(crate) fn settle(pid: u32) -> io::Result<()> {
    let mut last = sys::cpu_time(pid)?;
    for _ in 0..80 {
        std::thread::sleep(Duration::from_millis(250));
        let now = sys::cpu_time(pid)?;
        if now == last {
            return Ok(());
        }
        last = now;
    }
    Ok(())
}

fn long_poll(server: &Running, p: &Params) -> io::Result<Vec<(&'static str, f64)>> {
    let req = client::head("GET", "/poll", "");
    settle(server.pid)?;
    let before = sys::vm_rss(server.pid)?;
    let mut conns = Vec::with_capacity(p.idle_conns);
    for i in 0..p.idle_conns {
        let mut c = Conn::connect(server.addr)?;
        c.send(&req)?;
        conns.push(c);
        // Let the acceptor keep up, so no SYN waits out a full backlog.
        if i % 500 == 499 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    settle(server.pid)?;
    let after = sys::vm_rss(server.pid)?;
    // Every request must still be held: a sample of connections has nothing to read.
    let step = (conns.len() / 100).max(1);
    for c in conns.iter_mut().step_by(step) {
        if c.has_input()? {
            return Err(io::Error::other(
                "GET /poll answered (or the connection closed) while it should be held",
            ));
        }
    }
    drop(conns);
    let per_conn = after.saturating_sub(before) as f64 / p.idle_conns as f64;
    Ok(vec![("longpoll.rss_per_conn", per_conn)])
}

fn block_latency(server: &Running, p: &Params) -> io::Result<Vec<(&'static str, f64)>> {
    // `GET /` once a millisecond on its own connection, for the whole duration.
    let probe = |addr: SocketAddr, duration: Duration| -> io::Result<Vec<Duration>> {
        let mut conn = Conn::connect(addr)?;
        let req = client::head("GET", "/", "");
        let mut lat = Vec::new();
        let start = Instant::now();
        while start.elapsed() < duration {
            let t = Instant::now();
            let res = conn.request(&req)?;
            lat.push(t.elapsed());
            expect_status(&res, 200, "GET /")?;
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(lat)
    };
    let mut idle = probe(server.addr, p.duration)?;

    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicU64::new(0));
    let started = Arc::new(Barrier::new(p.blockers + 1));
    let mut blockers = Vec::new();
    for _ in 0..p.blockers {
        let (stop, refused, started) = (stop.clone(), refused.clone(), started.clone());
        let (addr, ms) = (server.addr, p.block_ms);
        blockers.push(std::thread::spawn(move || -> io::Result<u64> {
            let conn = Conn::connect(addr);
            started.wait();
            let mut conn = conn?;
            let req = client::head("GET", &format!("/block?ms={ms}"), "");
            let mut done = 0;
            while !stop.load(Ordering::Relaxed) {
                let res = conn.request(&req)?;
                match res.status {
                    200 => done += 1,
                    503 => {
                        refused.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(ms));
                    }
                    s => return Err(io::Error::other(format!("GET /block: status {s}"))),
                }
            }
            Ok(done)
        }));
    }
    started.wait();
    // Let every blocking call reach the server before probing.
    std::thread::sleep(Duration::from_millis(100));
    let busy = probe(server.addr, p.duration);
    stop.store(true, Ordering::Relaxed);
    let mut completed = 0;
    for b in blockers {
        completed += b
            .join()
            .map_err(|_| io::Error::other("blocker panicked"))??;
    }
    let mut busy = busy?;
    let refused = refused.load(Ordering::Relaxed);
    if refused > 0 {
        eprintln!("    ({refused} blocking calls refused with 503, {completed} completed)");
    }
    let idle_p99 = quantile_ms(&mut idle, 0.99);
    let busy_p99 = quantile_ms(&mut busy, 0.99);
    Ok(vec![
        ("block.p99_idle_ms", idle_p99),
        ("block.p99_busy_ms", busy_p99),
        ("block.ratio", busy_p99 / idle_p99),
        (
            "block.calls_per_s",
            completed as f64 / p.duration.as_secs_f64(),
        ),
    ])
}

fn switch_overhead(server: &Running, p: &Params) -> io::Result<Vec<(&'static str, f64)>> {
    let mut conn = Conn::connect(server.addr)?;
    let body = vec![b'x'; p.switch_body];
    let request = |path: &str| {
        let mut r = client::head("POST", path, &format!("content-length: {}\r\n", body.len()));
        r.extend_from_slice(&body);
        r
    };
    // Peers have no sync switch: they run the pure async half only.
    let kinds = if server.kind.name == "weir" { 2 } else { 1 };
    let paths = ["/count", "/switch-count"];
    let reqs = [request(paths[0]), request(paths[1])];
    let expect = body.len().to_string();
    // Alternate batches of each kind until the duration is up; sum time and CPU per kind.
    let mut time = [Duration::ZERO; 2];
    let mut cpu = [Duration::ZERO; 2];
    let mut count = [0u64; 2];
    const BATCH: u64 = 500;
    let start = Instant::now();
    while start.elapsed() < p.duration || count[kinds - 1] == 0 {
        for k in 0..kinds {
            let (elapsed, used) = with_cpu(server.pid, || {
                let t = Instant::now();
                for _ in 0..BATCH {
                    let res = conn.request(&reqs[k])?;
                    expect_status(&res, 200, paths[k])?;
                    if res.text().trim() != expect {
                        return Err(io::Error::other(format!(
                            "{} counted {:?}",
                            paths[k],
                            res.text()
                        )));
                    }
                }
                Ok(t.elapsed())
            })?;
            time[k] += elapsed;
            cpu[k] += used;
            count[k] += BATCH;
        }
    }
    let us = |d: Duration, n: u64| d.as_secs_f64() * 1e6 / n as f64;
    let (async_us, async_cpu) = (us(time[0], count[0]), us(cpu[0], count[0]));
    if kinds == 1 {
        return Ok(vec![
            ("switch.async_us", async_us),
            ("switch.async_cpu_us", async_cpu),
        ]);
    }
    let (switch_us, switch_cpu) = (us(time[1], count[1]), us(cpu[1], count[1]));
    Ok(vec![
        ("switch.async_us", async_us),
        ("switch.async_cpu_us", async_cpu),
        ("switch.switch_us", switch_us),
        ("switch.overhead_us", switch_us - async_us),
        ("switch.cpu_overhead_us", switch_cpu - async_cpu),
    ])
}

/// wrk keep-alive `POST /echo` with a 1 KiB body: the echo example reads the body and
/// streams it back (chunked), so the access line is a smaller share of the work than on
/// `GET /`.
fn echo(server: &Running, p: &Params) -> io::Result<Vec<(&'static str, f64)>> {
    let (s, cpu) = with_cpu(server.pid, || {
        wrk::run_post(
            server.addr,
            p.wrk_conns,
            p.duration,
            p.client_cpu,
            "/echo",
            p.switch_body,
        )
    })?;
    if s.errors > 0 {
        return Err(io::Error::other(format!(
            "wrk saw {} errors or non-2xx responses",
            s.errors
        )));
    }
    let cpu_us = cpu.as_secs_f64() * 1e6 / s.requests.max(1) as f64;
    Ok(vec![("echo.cpu_us", cpu_us), ("echo.rps", s.rps)])
}

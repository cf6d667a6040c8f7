//! The access log: one line per request, formatted on the worker thread and written by a
//! writer thread of its own.
//!
//! # Contract
//!
//! - **On by default, to stderr, in the `line` format** ([`AccessLogConfig::default`]);
//!   [`Config::access_log`](crate::Config::access_log) `= None` turns it off, and
//!   [`AccessLogSink::File`] appends to a file instead. Three formats: [`AccessLogFormat`].
//! - **Cheap on the request path.** A request's line is formatted, when it finishes, into its
//!   worker thread's own batch buffer: numbers with `itoa`, the timestamp from a string cached
//!   per second, no allocation per request (the request's target, `Referer` and `User-Agent`
//!   are copied into a recycled per-thread buffer at request start; the two headers only for
//!   the formats that print them). No syscall and no wait on the request path: a batch is
//!   handed to the writer thread when it passes [`BATCH_BYTES`], and the writer thread takes
//!   what every worker has buffered every [`FLUSH_INTERVAL`], and at stop.
//! - **Bounded.** Batches wait in a channel of [`CHANNEL_BATCHES`]. When the writer falls
//!   behind (a slow disk, a pipe nobody reads) and the channel is full, the worker drops the
//!   batch instead of waiting: requests never slow down for the log. Dropped lines are
//!   counted (`Running::access_log_dropped`, the `metrics` counter
//!   `weir_access_log_dropped_total`) and reported with a `tracing` WARN at most once a
//!   second.
//! - **Nothing lost on a graceful stop.** When [`Running`](crate::Running) resolves after a
//!   graceful stop (`ServerHandle::stop`, SIGINT, SIGTERM), every line of every request that
//!   finished has been written: the writer thread takes every worker's buffer, writes it,
//!   flushes and exits before `Running` resolves (waiting at most [`STOP_DRAIN_TIMEOUT`] on a
//!   sink that does not move). A forced stop may lose the lines of the last
//!   [`FLUSH_INTERVAL`].
//! - **Not through `tracing`.** The line does not go through the `tracing` subscriber (that
//!   is what made it expensive: a subscriber formats and writes each event synchronously), so
//!   a `RUST_LOG` filter does not turn it off: the config does. Requests still get their
//!   `tracing` span (`req`, at DEBUG) for debug logs.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::channel::oneshot;
use http::{HeaderMap, Method, Version};

/// A worker hands its batch to the writer thread once it holds this many bytes (about 550
/// lines). Each hand-over wakes the writer thread, and on a busy core that wake (two
/// context switches) was a third of the log's cost at 32 KiB under pipelined load; at
/// 128 KiB the batch no longer stays in cache and the kernel's copy into the page cache
/// got slower per line. 64 KiB sits between.
pub const BATCH_BYTES: usize = 64 * 1024;

/// How often the writer thread takes what each worker has buffered, so a quiet server's
/// lines appear within a fraction of a second (what someone tailing the log notices) while
/// a busy one still writes in large batches.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(200);

/// Batches that may wait for the writer thread: 32 × [`BATCH_BYTES`] = 2 MiB, about a
/// second of lines at 20,000 requests/s, which absorbs a disk hiccup; past it batches are
/// dropped (and counted) rather than making requests wait or memory grow.
pub const CHANNEL_BATCHES: usize = 32;

/// At a graceful stop, how long `Running` waits for the writer thread to write what is
/// left. A healthy sink takes milliseconds; a sink that does not move (a pipe nobody reads)
/// must not hold the process forever.
pub const STOP_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Per-request scratch buffers kept per thread for reuse, and the largest one kept: enough
/// for every request in flight on a busy worker, without keeping a huge target's buffer.
const SCRATCH_KEPT: usize = 1024;
const SCRATCH_MAX: usize = 8 * 1024;

/// How each line is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AccessLogFormat {
    /// `key=value` fields after a timestamp, the level and the target `weir::access` (the
    /// shape the `tracing` line had, so tools grepping for it keep working):
    ///
    /// `2026-11-30T12:06:24.123Z INFO weir::access: peer=127.0.0.1:50412 method=GET target=/ status=200 bytes=135 micros=42`
    ///
    /// A target with a space, `"`, `\` or a control byte is quoted, with `\"`, `\\` and
    /// `\xHH` escapes.
    #[default]
    Line,
    /// Apache's and nginx's `combined`,
    /// `%h - - [%d/%b/%Y:%H:%M:%S %z] "%r" %s %b "%{Referer}i" "%{User-agent}i"`, with `%b`
    /// the response bytes after the head (`-` for none) and the time in UTC:
    ///
    /// `127.0.0.1 - - [30/Nov/2026:12:06:24 +0000] "GET / HTTP/1.1" 200 13 "-" "curl/8.5.0"`
    ///
    /// Escaped as Apache does: `\"`, `\\`, and `\xHH` for control and non-ASCII bytes.
    Combined,
    /// One JSON object per line (JSON lines), strings escaped per RFC 8259 (bytes that are
    /// not UTF-8 become U+FFFD), absent headers `null`, `duration_us` in microseconds:
    ///
    /// `{"time":"2026-11-30T12:06:24.123Z","peer":"127.0.0.1:50412","method":"GET","target":"/","status":200,"bytes":135,"duration_us":42,"referer":null,"user_agent":"curl/8.5.0"}`
    Json,
}

impl AccessLogFormat {
    /// Whether lines in this format print `Referer` and `User-Agent`, so they are captured.
    fn wants_headers(self) -> bool {
        !matches!(self, AccessLogFormat::Line)
    }
}

/// Where lines go.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AccessLogSink {
    /// The process's stderr, where the examples' `tracing` output also goes (whole batches of
    /// whole lines under stderr's lock, so lines never interleave with other writers in the
    /// process).
    #[default]
    Stderr,
    /// A file, created if missing and appended to (opened when the server starts, so a bad
    /// path fails `Server::run`).
    File(PathBuf),
}

/// The access log's settings: [`Config::access_log`](crate::Config::access_log).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessLogConfig {
    /// Line format. Default [`AccessLogFormat::Line`].
    pub format: AccessLogFormat,
    /// Destination. Default [`AccessLogSink::Stderr`].
    pub sink: AccessLogSink,
}

/// A worker's pending lines, and its timestamp cache.
struct Pending {
    buf: Vec<u8>,
    lines: u64,
    clock: Clock,
}

/// What the worker handles and the writer thread share.
struct Shared {
    format: AccessLogFormat,
    /// Lines dropped because the writer fell behind or the sink failed.
    dropped: AtomicU64,
    /// The second (since the epoch) of the last WARN about dropped lines.
    last_warn: AtomicU64,
    /// Set when the server stops: the writer takes everything, writes it and exits.
    closing: AtomicBool,
    /// Every worker's buffer, so the writer thread can take them on its timer and at stop
    /// whatever the worker threads are doing (or whether they still exist).
    workers: Mutex<Vec<Arc<Mutex<Pending>>>>,
    /// Written batches, handed back for reuse so a busy worker does not allocate its next.
    spares: Mutex<Vec<Vec<u8>>>,
}

enum Msg {
    Batch(Vec<u8>, u64),
    /// Wake the writer thread: `closing` is set.
    Close,
}

/// The running access log: the writer thread and the handle workers register with. Made by
/// the server when it starts; closed when it stops.
pub(crate) struct AccessLog {
    shared: Arc<Shared>,
    tx: SyncSender<Msg>,
    done: Option<oneshot::Receiver<()>>,
}

impl AccessLog {
    /// Open the sink and start the writer thread.
    pub(crate) fn start(cfg: &AccessLogConfig) -> io::Result<AccessLog> {
        let sink: Box<dyn Write + Send> = match &cfg.sink {
            AccessLogSink::Stderr => Box::new(StderrSink),
            AccessLogSink::File(path) => {
                Box::new(OpenOptions::new().create(true).append(true).open(path)?)
            }
        };
        let shared = Arc::new(Shared {
            format: cfg.format,
            dropped: AtomicU64::new(0),
            last_warn: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            workers: Mutex::new(Vec::new()),
            spares: Mutex::new(Vec::new()),
        });
        let (tx, rx) = mpsc::sync_channel(CHANNEL_BATCHES);
        let (done_tx, done) = oneshot::channel();
        let writer = Writer {
            shared: Arc::clone(&shared),
            rx,
            sink,
        };
        std::thread::Builder::new()
            .name("weir-access-log".into())
            .spawn(move || {
                writer.run();
                let _ = done_tx.send(());
            })?;
        Ok(AccessLog {
            shared,
            tx,
            done: Some(done),
        })
    }

    /// A handle for a worker thread: `Send`, so it can be moved into the worker factory.
    pub(crate) fn handle(&self) -> AccessLogHandle {
        AccessLogHandle {
            shared: Arc::clone(&self.shared),
            tx: self.tx.clone(),
        }
    }

    /// Lines dropped so far.
    pub(crate) fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Stop: the writer thread takes every worker's buffer, writes everything, flushes and
    /// exits. Resolves when it has, or after [`STOP_DRAIN_TIMEOUT`].
    pub(crate) fn close(&mut self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.shared.closing.store(true, Ordering::SeqCst);
        // Only a wake-up: if the channel is full the writer is busy and sees `closing` after
        // the batch it is writing.
        let _ = self.tx.try_send(Msg::Close);
        let done = self.done.take();
        async move {
            if let Some(done) = done {
                let timeout = Box::pin(actix_rt::time::sleep(STOP_DRAIN_TIMEOUT));
                if let futures::future::Either::Right(_) =
                    futures::future::select(done, timeout).await
                {
                    tracing::warn!("access log: the sink did not take the last lines in time");
                }
            }
        }
    }
}

/// What a server's worker factory clones to make each worker's [`WorkerLog`].
#[derive(Clone)]
pub(crate) struct AccessLogHandle {
    shared: Arc<Shared>,
    tx: SyncSender<Msg>,
}

impl AccessLogHandle {
    /// Register a new worker's buffer.
    pub(crate) fn worker(&self) -> WorkerLog {
        let pending = Arc::new(Mutex::new(Pending {
            buf: Vec::with_capacity(BATCH_BYTES + 1024),
            lines: 0,
            clock: Clock::default(),
        }));
        lock(&self.shared.workers).push(Arc::clone(&pending));
        WorkerLog {
            shared: Arc::clone(&self.shared),
            tx: self.tx.clone(),
            pending,
        }
    }
}

/// One worker thread's side of the access log: its buffer. The lock is only ever contended
/// by the writer thread taking the buffer (every [`FLUSH_INTERVAL`]), so it costs two atomic
/// operations per line.
pub(crate) struct WorkerLog {
    shared: Arc<Shared>,
    tx: SyncSender<Msg>,
    pending: Arc<Mutex<Pending>>,
}

impl WorkerLog {
    /// The format lines are written in.
    pub(crate) fn format(&self) -> AccessLogFormat {
        self.shared.format
    }

    /// Format one request's line into this worker's batch; hand the batch over if full.
    pub(crate) fn log(&self, rec: &Record, peer: SocketAddr) {
        let now = wall_now();
        let mut p = lock(&self.pending);
        let p = &mut *p;
        p.clock.set(now.as_secs());
        format_line(self.shared.format, &mut p.buf, &p.clock, now, rec, peer);
        p.lines += 1;
        if p.buf.len() >= BATCH_BYTES {
            let spare = lock(&self.shared.spares)
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(BATCH_BYTES + 1024));
            let batch = std::mem::replace(&mut p.buf, spare);
            let lines = std::mem::take(&mut p.lines);
            match self.tx.try_send(Msg::Batch(batch, lines)) {
                Ok(()) => {}
                Err(TrySendError::Full(Msg::Batch(mut batch, _)))
                | Err(TrySendError::Disconnected(Msg::Batch(mut batch, _))) => {
                    batch.clear();
                    lock(&self.shared.spares).push(batch);
                    self.shared.count_dropped(lines, "the writer fell behind");
                }
                Err(_) => unreachable!("only batches are sent here"),
            }
        }
    }
}

impl Shared {
    fn count_dropped(&self, lines: u64, why: &str) {
        let total = self.dropped.fetch_add(lines, Ordering::Relaxed) + lines;
        metrics::counter!("weir_access_log_dropped_total").increment(lines);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if self.last_warn.swap(now, Ordering::Relaxed) != now {
            tracing::warn!(dropped = total, "access log lines dropped: {why}");
        }
    }
}

/// The wall clock, since the epoch (0 for a clock set before 1970).
fn wall_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while a buffer was locked leaves at worst a partial line: keep logging.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// stderr, locked for each whole batch.
struct StderrSink;

impl Write for StderrSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io::stderr().lock().write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        io::stderr().lock().write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        io::stderr().lock().flush()
    }
}

/// The writer thread: the only place the access log blocks.
struct Writer {
    shared: Arc<Shared>,
    rx: Receiver<Msg>,
    sink: Box<dyn Write + Send>,
}

impl Writer {
    fn run(mut self) {
        let mut last_sweep = Instant::now();
        let mut spare = Vec::with_capacity(BATCH_BYTES + 1024);
        loop {
            let wait = FLUSH_INTERVAL.saturating_sub(last_sweep.elapsed());
            match self.rx.recv_timeout(wait) {
                Ok(Msg::Batch(batch, lines)) => self.write(batch, lines),
                Ok(Msg::Close) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if self.shared.closing.load(Ordering::SeqCst) {
                break;
            }
            if last_sweep.elapsed() >= FLUSH_INTERVAL {
                self.sweep(&mut spare);
                last_sweep = Instant::now();
            }
        }
        // Stopping: what is queued, then what every worker holds (the queued batches are
        // older than any worker's current buffer, so lines stay in order per worker).
        while let Ok(msg) = self.rx.try_recv() {
            if let Msg::Batch(batch, lines) = msg {
                self.write(batch, lines);
            }
        }
        self.sweep(&mut spare);
        let _ = self.sink.flush();
    }

    /// Take every worker's buffered lines (swapping in an empty buffer) and write them.
    fn sweep(&mut self, spare: &mut Vec<u8>) {
        let workers: Vec<_> = lock(&self.shared.workers).clone();
        for w in workers {
            let lines = {
                let mut p = lock(&w);
                if p.buf.is_empty() {
                    continue;
                }
                std::mem::swap(&mut p.buf, spare);
                std::mem::take(&mut p.lines)
            };
            let batch = std::mem::take(spare);
            if let Err(e) = self.sink.write_all(&batch) {
                self.failed(lines, &e);
            }
            *spare = batch;
            spare.clear();
        }
    }

    fn write(&mut self, mut batch: Vec<u8>, lines: u64) {
        if let Err(e) = self.sink.write_all(&batch) {
            self.failed(lines, &e);
        }
        batch.clear();
        let mut spares = lock(&self.shared.spares);
        // At most one spare per queued batch is worth keeping.
        if spares.len() < CHANNEL_BATCHES {
            spares.push(batch);
        }
    }

    fn failed(&self, lines: u64, e: &io::Error) {
        let mut why = String::new();
        let _ = write!(why, "cannot write: {e}");
        self.shared.count_dropped(lines, &why);
    }
}

// ----- the request's record ------------------------------------------------------------------

thread_local! {
    /// Recycled per-request buffers (see [`Record`]).
    static SCRATCH: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// What a request's line needs, captured at request start: the method, the version, and the
/// target, `Referer` and `User-Agent` copied into one buffer recycled per thread, so a
/// request costs no allocation in steady state.
pub(crate) struct Record {
    /// Wall-clock start: the line's duration is the end's wall clock minus this, so a
    /// request reads the clock twice, not three times (a clock read is ~20 ns, a tenth of
    /// the whole line's cost).
    start: Duration,
    method: Method,
    version: Version,
    /// The target, then the `Referer` and `User-Agent` values when captured.
    text: Vec<u8>,
    target_end: usize,
    referer_end: Option<usize>,
    user_agent: Option<(usize, usize)>,
    /// The response status, once the head is encoded.
    pub(crate) status: u16,
    /// Response bytes written: head, framing and body.
    pub(crate) bytes: u64,
    /// Of `bytes`, the response head's.
    pub(crate) head_bytes: u64,
}

impl Record {
    /// Capture a request at its start; the headers only if `format` prints them.
    pub(crate) fn new(
        format: AccessLogFormat,
        method: &Method,
        version: Version,
        target: &str,
        headers: &HeaderMap,
    ) -> Record {
        let mut text = SCRATCH
            .with(|s| s.borrow_mut().pop())
            .unwrap_or_else(|| Vec::with_capacity(256));
        text.extend_from_slice(target.as_bytes());
        let target_end = text.len();
        let (mut referer_end, mut user_agent) = (None, None);
        if format.wants_headers() {
            if let Some(v) = headers.get(http::header::REFERER) {
                text.extend_from_slice(v.as_bytes());
                referer_end = Some(text.len());
            }
            if let Some(v) = headers.get(http::header::USER_AGENT) {
                let at = text.len();
                text.extend_from_slice(v.as_bytes());
                user_agent = Some((at, text.len()));
            }
        }
        Record {
            start: wall_now(),
            method: method.clone(),
            version,
            text,
            target_end,
            referer_end,
            user_agent,
            status: 0,
            bytes: 0,
            head_bytes: 0,
        }
    }

    fn target(&self) -> &[u8] {
        &self.text[..self.target_end]
    }

    fn referer(&self) -> Option<&[u8]> {
        self.referer_end.map(|end| &self.text[self.target_end..end])
    }

    fn user_agent(&self) -> Option<&[u8]> {
        self.user_agent.map(|(at, end)| &self.text[at..end])
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        let mut text = std::mem::take(&mut self.text);
        if text.capacity() <= SCRATCH_MAX {
            text.clear();
            // `try_with`: a record dropped while the thread's locals are torn down just frees.
            let _ = SCRATCH.try_with(|s| {
                let mut s = s.borrow_mut();
                if s.len() < SCRATCH_KEPT {
                    s.push(text);
                }
            });
        }
    }
}

// ----- formatting ----------------------------------------------------------------------------

/// The date and time of one second, rendered once for every line logged in it.
struct Clock {
    secs: u64,
    /// `2026-11-30T12:06:24`
    iso: [u8; 19],
    /// `30/Nov/2026:12:06:24 +0000`
    clf: [u8; 26],
}

impl Default for Clock {
    fn default() -> Clock {
        let mut c = Clock {
            secs: u64::MAX,
            iso: [b'0'; 19],
            clf: [b'0'; 26],
        };
        c.set(0);
        c
    }
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

impl Clock {
    /// Re-render if `secs` is a new second.
    fn set(&mut self, secs: u64) {
        if secs == self.secs {
            return;
        }
        self.secs = secs;
        let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
        let t = secs % 86_400;
        let (h, mi, s) = ((t / 3600) as u32, (t / 60 % 60) as u32, (t % 60) as u32);
        let y = y.clamp(0, 9999) as u32;
        let mut iso = [0u8; 19];
        put4(&mut iso[0..4], y);
        iso[4] = b'-';
        put2(&mut iso[5..7], mo);
        iso[7] = b'-';
        put2(&mut iso[8..10], d);
        iso[10] = b'T';
        put2(&mut iso[11..13], h);
        iso[13] = b':';
        put2(&mut iso[14..16], mi);
        iso[16] = b':';
        put2(&mut iso[17..19], s);
        self.iso = iso;
        let mut clf = [0u8; 26];
        put2(&mut clf[0..2], d);
        clf[2] = b'/';
        clf[3..6].copy_from_slice(MONTHS[mo as usize - 1]);
        clf[6] = b'/';
        put4(&mut clf[7..11], y);
        clf[11] = b':';
        clf[12..20].copy_from_slice(&iso[11..19]);
        clf[20..26].copy_from_slice(b" +0000");
        self.clf = clf;
    }
}

fn put2(dst: &mut [u8], v: u32) {
    dst[0] = b'0' + (v / 10 % 10) as u8;
    dst[1] = b'0' + (v % 10) as u8;
}

fn put4(dst: &mut [u8], v: u32) {
    put2(&mut dst[0..2], v / 100);
    put2(&mut dst[2..4], v % 100);
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31): Howard Hinnant's
/// `civil_from_days`, exact for the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn push_num(buf: &mut Vec<u8>, n: impl itoa::Integer) {
    buf.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// `.mmmZ` after the cached ISO second.
fn push_iso(buf: &mut Vec<u8>, clock: &Clock, now: Duration) {
    buf.extend_from_slice(&clock.iso);
    let ms = now.subsec_millis();
    buf.extend_from_slice(&[
        b'.',
        b'0' + (ms / 100) as u8,
        b'0' + (ms / 10 % 10) as u8,
        b'0' + (ms % 10) as u8,
        b'Z',
    ]);
}

fn push_ip(buf: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    buf.push(b'.');
                }
                push_num(buf, o);
            }
        }
        // Rare enough on the hot path to go through `fmt`, which writes without allocating.
        IpAddr::V6(v6) => {
            let _ = write!(buf, "{v6}");
        }
    }
}

fn push_peer(buf: &mut Vec<u8>, peer: SocketAddr) {
    if peer.is_ipv6() {
        buf.push(b'[');
        push_ip(buf, peer.ip());
        buf.push(b']');
    } else {
        push_ip(buf, peer.ip());
    }
    buf.push(b':');
    push_num(buf, peer.port());
}

fn version_str(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Apache's escaping inside a quoted field: `\"`, `\\`, `\xhh` for control and non-ASCII
/// bytes.
fn push_escaped(buf: &mut Vec<u8>, s: &[u8]) {
    for &b in s {
        match b {
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\\' => buf.extend_from_slice(b"\\\\"),
            0x20..=0x7e => buf.push(b),
            _ => buf.extend_from_slice(&[
                b'\\',
                b'x',
                HEX[(b >> 4) as usize],
                HEX[(b & 15) as usize],
            ]),
        }
    }
}

/// A `key=value` value: bare when it has nothing that would confuse a reader splitting on
/// spaces, else quoted and escaped.
fn push_value(buf: &mut Vec<u8>, s: &[u8]) {
    if s.iter()
        .all(|&b| matches!(b, 0x21..=0x7e) && b != b'"' && b != b'\\')
        && !s.is_empty()
    {
        buf.extend_from_slice(s);
    } else {
        buf.push(b'"');
        push_escaped(buf, s);
        buf.push(b'"');
    }
}

/// A JSON string (RFC 8259 §7): `"`, `\` and control characters escaped; bytes that are
/// not UTF-8 become U+FFFD so every line is valid JSON.
fn push_json_str(buf: &mut Vec<u8>, s: &[u8]) {
    buf.push(b'"');
    for chunk in s.utf8_chunks() {
        for &b in chunk.valid().as_bytes() {
            match b {
                b'"' => buf.extend_from_slice(b"\\\""),
                b'\\' => buf.extend_from_slice(b"\\\\"),
                b'\n' => buf.extend_from_slice(b"\\n"),
                b'\r' => buf.extend_from_slice(b"\\r"),
                b'\t' => buf.extend_from_slice(b"\\t"),
                0..=0x1f => buf.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(b >> 4) as usize],
                    HEX[(b & 15) as usize],
                ]),
                _ => buf.push(b),
            }
        }
        if !chunk.invalid().is_empty() {
            buf.extend_from_slice("\u{fffd}".as_bytes());
        }
    }
    buf.push(b'"');
}

fn push_json_opt(buf: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        Some(s) => push_json_str(buf, s),
        None => buf.extend_from_slice(b"null"),
    }
}

fn format_line(
    format: AccessLogFormat,
    buf: &mut Vec<u8>,
    clock: &Clock,
    now: Duration,
    rec: &Record,
    peer: SocketAddr,
) {
    // A clock stepped back mid-request reads as 0.
    let micros = now.saturating_sub(rec.start).as_micros() as u64;
    match format {
        AccessLogFormat::Line => {
            push_iso(buf, clock, now);
            buf.extend_from_slice(b" INFO weir::access: peer=");
            push_peer(buf, peer);
            buf.extend_from_slice(b" method=");
            push_value(buf, rec.method.as_str().as_bytes());
            buf.extend_from_slice(b" target=");
            push_value(buf, rec.target());
            buf.extend_from_slice(b" status=");
            push_num(buf, rec.status);
            buf.extend_from_slice(b" bytes=");
            push_num(buf, rec.bytes);
            buf.extend_from_slice(b" micros=");
            push_num(buf, micros);
        }
        AccessLogFormat::Combined => {
            push_ip(buf, peer.ip());
            buf.extend_from_slice(b" - - [");
            buf.extend_from_slice(&clock.clf);
            buf.extend_from_slice(b"] \"");
            push_escaped(buf, rec.method.as_str().as_bytes());
            buf.push(b' ');
            push_escaped(buf, rec.target());
            buf.push(b' ');
            buf.extend_from_slice(version_str(rec.version).as_bytes());
            buf.extend_from_slice(b"\" ");
            push_num(buf, rec.status);
            buf.push(b' ');
            match rec.bytes.saturating_sub(rec.head_bytes) {
                0 => buf.push(b'-'),
                n => push_num(buf, n),
            }
            for h in [rec.referer(), rec.user_agent()] {
                buf.extend_from_slice(b" \"");
                match h {
                    Some(v) => push_escaped(buf, v),
                    None => buf.push(b'-'),
                }
                buf.push(b'"');
            }
        }
        AccessLogFormat::Json => {
            buf.extend_from_slice(b"{\"time\":\"");
            push_iso(buf, clock, now);
            buf.extend_from_slice(b"\",\"peer\":\"");
            push_peer(buf, peer);
            buf.extend_from_slice(b"\",\"method\":");
            push_json_str(buf, rec.method.as_str().as_bytes());
            buf.extend_from_slice(b",\"target\":");
            push_json_str(buf, rec.target());
            buf.extend_from_slice(b",\"status\":");
            push_num(buf, rec.status);
            buf.extend_from_slice(b",\"bytes\":");
            push_num(buf, rec.bytes);
            buf.extend_from_slice(b",\"duration_us\":");
            push_num(buf, micros);
            buf.extend_from_slice(b",\"referer\":");
            push_json_opt(buf, rec.referer());
            buf.extend_from_slice(b",\"user_agent\":");
            push_json_opt(buf, rec.user_agent());
            buf.push(b'}');
        }
    }
    buf.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(format: AccessLogFormat, target: &str, headers: &[(&str, &[u8])]) -> Record {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_bytes(v).unwrap(),
            );
        }
        let mut r = Record::new(format, &Method::GET, Version::HTTP_11, target, &map);
        r.status = 200;
        r.bytes = 150;
        r.head_bytes = 137;
        r
    }

    fn line(format: AccessLogFormat, rec: &Record) -> String {
        let mut clock = Clock::default();
        // 2026-11-30T12:06:24.123Z
        let now = Duration::from_millis(1_796_040_384_123);
        clock.set(now.as_secs());
        let mut buf = Vec::new();
        let peer = "127.0.0.1:50412".parse().unwrap();
        format_line(format, &mut buf, &clock, now, rec, peer);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn dates_render_in_utc() {
        let mut c = Clock::default();
        assert_eq!(&c.iso, b"1970-01-01T00:00:00");
        assert_eq!(&c.clf, b"01/Jan/1970:00:00:00 +0000");
        c.set(1_796_040_384);
        assert_eq!(&c.iso, b"2026-11-30T12:06:24");
        assert_eq!(&c.clf, b"30/Nov/2026:12:06:24 +0000");
        // A leap day.
        c.set(951_782_400);
        assert_eq!(&c.iso, b"2000-02-29T00:00:00");
    }

    #[test]
    fn line_format() {
        let r = record(AccessLogFormat::Line, "/a?b=c", &[("user-agent", b"x")]);
        let l = line(AccessLogFormat::Line, &r);
        let (head, micros) = l.rsplit_once(" micros=").unwrap();
        assert_eq!(
            head,
            "2026-11-30T12:06:24.123Z INFO weir::access: peer=127.0.0.1:50412 method=GET \
             target=/a?b=c status=200 bytes=150"
        );
        assert!(micros.trim_end().parse::<u64>().is_ok() && l.ends_with('\n'));
        // The line format does not capture headers it does not print.
        assert_eq!(r.user_agent(), None);
        let r = record(AccessLogFormat::Line, "/a\"b\\c d", &[]);
        assert!(line(AccessLogFormat::Line, &r).contains(r#" target="/a\"b\\c d" "#));
    }

    #[test]
    fn combined_format() {
        let r = record(
            AccessLogFormat::Combined,
            "/q?\"x\\",
            &[
                ("referer", b"http://e/"),
                ("user-agent", b"a \"b\" \\c \xff"),
            ],
        );
        assert_eq!(
            line(AccessLogFormat::Combined, &r),
            "127.0.0.1 - - [30/Nov/2026:12:06:24 +0000] \"GET /q?\\\"x\\\\ HTTP/1.1\" 200 13 \
             \"http://e/\" \"a \\\"b\\\" \\\\c \\xff\"\n"
        );
        let mut r = record(AccessLogFormat::Combined, "/", &[]);
        r.bytes = r.head_bytes;
        assert_eq!(
            line(AccessLogFormat::Combined, &r),
            "127.0.0.1 - - [30/Nov/2026:12:06:24 +0000] \"GET / HTTP/1.1\" 200 - \"-\" \"-\"\n"
        );
    }

    #[test]
    fn json_format_escapes() {
        let r = record(
            AccessLogFormat::Json,
            "/\"q\"\\\u{1}",
            &[("user-agent", b"a\"b\\c\t\xff")],
        );
        let l = line(AccessLogFormat::Json, &r);
        assert!(l.ends_with("}\n"));
        assert!(
            l.starts_with(
                r#"{"time":"2026-11-30T12:06:24.123Z","peer":"127.0.0.1:50412","method":"GET","target":"/\"q\"\\\u0001","status":200,"bytes":150,"duration_us":"#
            ),
            "{l}"
        );
        assert!(
            l.ends_with(",\"referer\":null,\"user_agent\":\"a\\\"b\\\\c\\t\u{fffd}\"}\n"),
            "{l}"
        );
    }

    #[test]
    fn ipv6_peers() {
        let mut buf = Vec::new();
        push_peer(&mut buf, "[::1]:8080".parse().unwrap());
        assert_eq!(buf, b"[::1]:8080");
    }

    #[test]
    fn records_recycle_their_buffer() {
        let r = record(AccessLogFormat::Line, "/first", &[]);
        let ptr = r.text.as_ptr();
        drop(r);
        let r = record(AccessLogFormat::Line, "/second", &[]);
        assert_eq!(r.text.as_ptr(), ptr);
    }

    #[test]
    fn a_full_channel_drops_and_counts() {
        // A writer thread that never runs: the channel fills, then batches are dropped.
        let shared = Arc::new(Shared {
            format: AccessLogFormat::Line,
            dropped: AtomicU64::new(0),
            last_warn: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            workers: Mutex::new(Vec::new()),
            spares: Mutex::new(Vec::new()),
        });
        let (tx, _rx) = mpsc::sync_channel(CHANNEL_BATCHES);
        let log = AccessLogHandle { shared, tx }.worker();
        let r = record(AccessLogFormat::Line, "/", &[]);
        let peer = "127.0.0.1:1".parse().unwrap();
        let mut logged = 0u64;
        while log.shared.dropped.load(Ordering::Relaxed) == 0 {
            log.log(&r, peer);
            logged += 1;
        }
        // Lines are about the same length, so batches hold about as many: the channel took
        // `CHANNEL_BATCHES` of them and the next was dropped whole.
        let dropped = log.shared.dropped.load(Ordering::Relaxed);
        let per_batch = logged / (CHANNEL_BATCHES as u64 + 1);
        assert!(dropped > 500, "{dropped} lines per batch");
        assert!(
            dropped.abs_diff(per_batch) <= per_batch / 20,
            "{dropped} vs {per_batch}"
        );
    }
}

//! The access log over real sockets: each format's exact shape, escaping, the file sink, no
//! lines lost on a graceful stop, and a sink that cannot keep up (lines dropped and counted,
//! requests not slowed).

mod support;

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{config, read_response, serve};
use weir_actors::access_log::{AccessLogConfig, AccessLogFormat, AccessLogSink};
use weir_actors::weir::{Exchange, StatusCode};
use weir_actors::Config;

async fn hello(ex: Exchange) -> weir_actors::weir::Result<weir_actors::weir::Outcome> {
    ex.respond(
        StatusCode::OK,
        [("content-type", "text/plain")],
        "Hello, World!",
    )
    .await
}

/// A fresh path in a directory of its own under the system temp dir.
fn temp_path(name: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "weir-access-log-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn logging_to(path: &Path, format: AccessLogFormat) -> Config {
    Config {
        access_log: Some(AccessLogConfig {
            format,
            sink: AccessLogSink::File(path.to_owned()),
        }),
        ..config()
    }
}

/// Send `raw` (whole requests) on one connection and read `n` responses.
fn requests(srv: &support::TestServer, raw: &[u8], n: usize) {
    let mut s = srv.connect();
    s.write_all(raw).unwrap();
    let mut r = BufReader::new(s);
    for _ in 0..n {
        assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `2026-11-30T12:06:24.123Z`
fn is_iso_millis(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'.',
            23 => c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

#[test]
fn line_format_to_a_file_appends() {
    let path = temp_path("line.log");
    std::fs::write(&path, "an older line\n").unwrap();
    let srv = serve(hello, logging_to(&path, AccessLogFormat::Line));
    requests(
        &srv,
        b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\nHEAD / HTTP/1.1\r\nHost: x\r\n\r\n",
        1,
    );
    srv.stop_gracefully();
    let got = lines(&path);
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0], "an older line", "the file is appended to");
    let (time, rest) = got[1].split_once(' ').unwrap();
    assert!(is_iso_millis(time), "{time}");
    let rest = rest
        .strip_prefix("INFO weir::access: peer=127.0.0.1:")
        .unwrap();
    let (port, rest) = rest.split_once(' ').unwrap();
    assert!(port.parse::<u16>().is_ok());
    let (rest, micros) = rest.rsplit_once(" micros=").unwrap();
    assert!(micros.parse::<u64>().is_ok());
    // 129 = the head (116 bytes: status line, date, content-type, content-length) + 13.
    let (rest, bytes) = rest.rsplit_once(" bytes=").unwrap();
    assert!(bytes.parse::<u64>().unwrap() > 13);
    assert_eq!(rest, "method=GET target=/a?b=1 status=200");
    assert!(got[2].contains(" method=HEAD target=/ status=200 "));
}

/// Split a combined line into its nine fields, unescaping the quoted ones
/// (`\"`, `\\`, `\xhh`) as a log reader would; no regex.
fn parse_combined(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b' ' => i += 1,
            b'[' => {
                let end = line[i..].find(']').unwrap() + i;
                fields.push(line[i + 1..end].to_owned());
                i = end + 1;
            }
            b'"' => {
                let mut v = Vec::new();
                i += 1;
                loop {
                    match b[i] {
                        b'"' => break,
                        b'\\' if b[i + 1] == b'x' => {
                            v.push(u8::from_str_radix(&line[i + 2..i + 4], 16).unwrap());
                            i += 4;
                        }
                        b'\\' => {
                            v.push(b[i + 1]);
                            i += 2;
                        }
                        c => {
                            v.push(c);
                            i += 1;
                        }
                    }
                }
                fields.push(String::from_utf8_lossy(&v).into_owned());
                i += 1;
            }
            _ => {
                let end = line[i..].find(' ').map_or(line.len(), |e| e + i);
                fields.push(line[i..end].to_owned());
                i = end;
            }
        }
    }
    fields
}

#[test]
fn combined_format_and_its_escaping() {
    let path = temp_path("combined.log");
    let srv = serve(hello, logging_to(&path, AccessLogFormat::Combined));
    requests(
        &srv,
        b"GET /q?a=\"x\\y\" HTTP/1.1\r\nHost: x\r\nReferer: http://e.test/\"r\"\r\n\
          User-Agent: agent \"quoted\" \\back\\\r\n\r\n\
          GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        2,
    );
    srv.stop_gracefully();
    let got = lines(&path);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[0].contains(r#""GET /q?a=\"x\\y\" HTTP/1.1""#)
            && got[0].ends_with(r#" "http://e.test/\"r\"" "agent \"quoted\" \\back\\""#),
        "{}",
        got[0]
    );
    let f = parse_combined(&got[0]);
    assert_eq!(f.len(), 9, "{f:?}");
    assert_eq!(&f[..3], ["127.0.0.1", "-", "-"]);
    // [30/Nov/2026:12:06:24 +0000]
    let (date, zone) = f[3].split_once(' ').unwrap();
    assert_eq!(zone, "+0000");
    assert_eq!(date.len(), 20, "{date}");
    assert_eq!(f[4], r#"GET /q?a="x\y" HTTP/1.1"#);
    assert_eq!(f[5], "200");
    assert_eq!(f[6], "13", "%b is the body's bytes");
    assert_eq!(f[7], r#"http://e.test/"r""#);
    assert_eq!(f[8], r#"agent "quoted" \back\"#);
    let f = parse_combined(&got[1]);
    assert_eq!(&f[4..], ["GET / HTTP/1.0", "200", "13", "-", "-"]);
}

#[test]
fn json_lines_and_their_escaping() {
    let path = temp_path("json.log");
    let srv = serve(hello, logging_to(&path, AccessLogFormat::Json));
    requests(
        &srv,
        b"GET /q?a=\"x\\y\" HTTP/1.1\r\nHost: x\r\nUser-Agent: agent \"q\" \\b\\\r\n\r\n",
        1,
    );
    srv.stop_gracefully();
    let got = lines(&path);
    assert_eq!(got.len(), 1, "{got:?}");
    let v: serde_json::Value = serde_json::from_str(&got[0]).expect("valid JSON");
    let o = v.as_object().unwrap();
    let keys: Vec<_> = o.keys().map(String::as_str).collect();
    let mut want = vec![
        "time",
        "peer",
        "method",
        "target",
        "status",
        "bytes",
        "duration_us",
        "referer",
        "user_agent",
    ];
    want.sort_unstable();
    assert_eq!(keys, want, "serde_json's map is sorted");
    assert!(is_iso_millis(o["time"].as_str().unwrap()));
    assert!(o["peer"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert_eq!(o["method"], "GET");
    assert_eq!(o["target"], r#"/q?a="x\y""#);
    assert_eq!(o["status"], 200);
    assert!(o["bytes"].as_u64().unwrap() > 13);
    assert!(o["duration_us"].is_u64());
    assert_eq!(o["referer"], serde_json::Value::Null);
    assert_eq!(o["user_agent"], r#"agent "q" \b\"#);
}

/// Requests answered just before a graceful stop are all in the file when the stop returns:
/// the workers' buffers are taken and the writer drained before `Running` resolves.
#[test]
fn graceful_stop_loses_no_lines() {
    const CONNS: usize = 4;
    const PER_CONN: usize = 250;
    let path = temp_path("stop.log");
    let srv = serve(hello, logging_to(&path, AccessLogFormat::Line));
    let raw = b"GET /n HTTP/1.1\r\nHost: x\r\n\r\n".repeat(PER_CONN);
    let mut conns = Vec::new();
    for _ in 0..CONNS {
        let mut s = srv.connect();
        s.write_all(&raw).unwrap();
        conns.push(BufReader::new(s));
    }
    for r in &mut conns {
        for _ in 0..PER_CONN {
            assert_eq!(read_response(r, false).unwrap().status, 200);
        }
    }
    srv.stop_gracefully();
    let got = lines(&path);
    assert_eq!(got.len(), CONNS * PER_CONN);
    assert!(got.iter().all(|l| l.contains(" target=/n status=200 ")));
}

/// A `metrics` recorder that keeps one counter: the access log's dropped lines.
struct DroppedRecorder(Arc<AtomicU64>);

impl metrics::Recorder for DroppedRecorder {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        if key.name() == "weir_access_log_dropped_total" {
            metrics::Counter::from_arc(Arc::clone(&self.0))
        } else {
            metrics::Counter::noop()
        }
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

/// The sink is a FIFO whose reader never reads: the writer thread blocks on a full pipe,
/// the channel fills, and then whole batches are dropped and counted, while every request
/// is still answered promptly (a worker that waited on the log would stall them all).
#[cfg(unix)]
#[test]
fn a_sink_that_cannot_keep_up_drops_lines_not_requests() {
    const REQUESTS: usize = 4000;
    let dropped = Arc::new(AtomicU64::new(0));
    metrics::set_global_recorder(DroppedRecorder(Arc::clone(&dropped))).unwrap();

    let fifo = temp_path("slow.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // Opening a FIFO's read end blocks until a writer opens it (the server, at `run`).
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::File::open(fifo).unwrap())
    };
    let srv = serve(hello, logging_to(&fifo, AccessLogFormat::Line));
    let reader = reader.join().unwrap(); // held open, never read

    // Long targets make long lines: ~2 KiB each, so the pipe (64 KiB) and the channel
    // (32 batches of 64 KiB) and the worker's buffer hold about 1,100 lines; the rest
    // must be dropped.
    let target = format!("/{}", "x".repeat(2000));
    let one = format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n");
    let t = Instant::now();
    let mut s = srv.connect();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let writer = std::thread::spawn(move || {
        for _ in 0..REQUESTS / 100 {
            s.write_all(one.repeat(100).as_bytes()).unwrap();
        }
        s
    });
    for _ in 0..REQUESTS {
        assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    }
    let took = t.elapsed();
    drop(writer.join().unwrap());
    let n = dropped.load(Ordering::Relaxed);
    assert!(
        n >= (REQUESTS / 2) as u64,
        "only {n} of {REQUESTS} lines dropped"
    );
    assert!(
        took < Duration::from_secs(20),
        "requests slowed to {took:?}"
    );
    // Let the writer thread go: its next write fails (EPIPE) and it exits.
    drop(reader);
    drop(srv);
}

/// The `hello` example with `--access-log FILE --access-log-format combined`: the lines go
/// to the file, not stderr, and SIGTERM loses none.
#[test]
fn example_options_reach_the_log() {
    let path = temp_path("example.log");
    let ex = support::example::Example::start_with(
        "hello",
        &[
            "--access-log",
            path.to_str().unwrap(),
            "--access-log-format",
            "combined",
        ],
    );
    let mut s = ex.connect();
    s.write_all(b"GET /ex HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let out = ex.terminate(Duration::from_secs(5));
    assert!(!out.stderr.contains("/ex"), "{}", out.stderr);
    let got = lines(&path);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].contains(r#""GET /ex HTTP/1.1" 200 13 "-" "-""#),
        "{}",
        got[0]
    );
}

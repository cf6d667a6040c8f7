//! Running `wrk` (keep-alive and pipelined plaintext, keep-alive `POST`s) and reading its
//! summary.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// The classic TechEmpower pipelining script: each connection sends `depth` requests
/// (argument after `--`) in one write, and wrk counts each response.
const PIPELINE_LUA: &str = r#"-- wrk pipelining: depth requests per write (the TechEmpower pipeline.lua shape)
init = function(args)
  local depth = tonumber(args[1]) or 1
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format()
  end
  req = table.concat(r)
end

request = function()
  return req
end
"#;

/// A `POST` of `size` bytes (argument after `--`) on every request.
const POST_LUA: &str = r#"-- wrk: POST a body of args[1] bytes on every request
init = function(args)
  wrk.method = "POST"
  wrk.body = string.rep("x", tonumber(args[1]) or 1024)
  wrk.headers["Content-Type"] = "application/octet-stream"
end
"#;

/// How to install wrk, for the message when it is missing.
pub const INSTALL: &str = "apt-get install -y wrk   (Debian/Ubuntu; as root, after apt-get update)";

/// What one wrk run reported.
#[derive(Debug)]
pub struct Summary {
    /// Responses completed.
    pub requests: u64,
    /// `Requests/sec`.
    pub rps: f64,
    /// 99th-percentile latency (from `--latency`), if printed.
    pub p99: Option<Duration>,
    /// Non-2xx/3xx responses plus socket errors (should be 0).
    pub errors: u64,
}

/// Write the pipelining script to a temporary file; returns its path.
pub fn pipeline_script() -> io::Result<PathBuf> {
    let path = std::env::temp_dir().join(format!("weir-bench-pipeline-{}.lua", std::process::id()));
    std::fs::write(&path, PIPELINE_LUA)?;
    Ok(path)
}

/// Run `wrk -t1 -cCONNS -dSECS --latency` against `GET /` (pipelined `depth` deep when
/// `script` is given), pinned to `cpu` if given.
pub fn run(
    addr: SocketAddr,
    conns: usize,
    duration: Duration,
    cpu: Option<usize>,
    pipeline: Option<(&PathBuf, usize)>,
) -> io::Result<Summary> {
    run_script(addr, "/", conns, duration, cpu, pipeline)
}

/// Run wrk with keep-alive `POST path` requests of `size` bytes.
pub fn run_post(
    addr: SocketAddr,
    conns: usize,
    duration: Duration,
    cpu: Option<usize>,
    path: &str,
    size: usize,
) -> io::Result<Summary> {
    let script = std::env::temp_dir().join(format!("weir-bench-post-{}.lua", std::process::id()));
    std::fs::write(&script, POST_LUA)?;
    let res = run_script(addr, path, conns, duration, cpu, Some((&script, size)));
    let _ = std::fs::remove_file(&script);
    res
}

/// wrk against `path`, with a script and its one argument if given.
fn run_script(
    addr: SocketAddr,
    path: &str,
    conns: usize,
    duration: Duration,
    cpu: Option<usize>,
    pipeline: Option<(&PathBuf, usize)>,
) -> io::Result<Summary> {
    let mut cmd = match cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu.to_string()).arg("wrk");
            c
        }
        None => Command::new("wrk"),
    };
    let secs = duration.as_secs_f64().ceil().max(1.0) as u64;
    cmd.args([
        "-t1",
        &format!("-c{conns}"),
        &format!("-d{secs}s"),
        "--latency",
    ]);
    if let Some((script, _)) = pipeline {
        cmd.arg("-s").arg(script);
    }
    cmd.arg(format!("http://{addr}{path}"));
    if let Some((_, depth)) = pipeline {
        cmd.args(["--", &depth.to_string()]);
    }
    let out = cmd.output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "wrk failed: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    parse(&text).ok_or_else(|| io::Error::other(format!("could not read wrk's output:\n{text}")))
}

/// Read wrk's summary.
fn parse(text: &str) -> Option<Summary> {
    let mut requests = None;
    let mut rps = None;
    let mut p99 = None;
    let mut errors = 0;
    for line in text.lines().map(str::trim) {
        if let Some((n, _)) = line.split_once(" requests in ") {
            requests = n.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("Requests/sec:") {
            rps = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("99%") {
            p99 = parse_duration(v.trim());
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            errors += v.trim().parse::<u64>().unwrap_or(1);
        } else if let Some(v) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            errors += v
                .split(',')
                .filter_map(|kv| kv.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    Some(Summary {
        requests: requests?,
        rps: rps?,
        p99,
        errors,
    })
}

/// wrk's durations: `812.00us`, `1.23ms`, `2.00s`, `1.00m`.
fn parse_duration(v: &str) -> Option<Duration> {
    let split = v.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = v.split_at(split);
    let num: f64 = num.parse().ok()?;
    let secs = match unit {
        "us" => num / 1e6,
        "ms" => num / 1e3,
        "s" => num,
        "m" => num * 60.0,
        "h" => num * 3600.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_summary() {
        let out = "Running 5s test @ http://127.0.0.1:1/\n  1 threads and 64 connections\n  \
                   Latency Distribution\n     50%  500.00us\n     99%    1.25ms\n  \
                   589371 requests in 5.00s, 72.51MB read\n  Socket errors: connect 0, read 2, write 0, timeout 1\n\
                   Requests/sec: 117853.61\nTransfer/sec:     14.50MB\n";
        let s = parse(out).unwrap();
        assert_eq!(s.requests, 589_371);
        assert!((s.rps - 117_853.61).abs() < 1e-6);
        assert_eq!(s.p99, Some(Duration::from_micros(1250)));
        assert_eq!(s.errors, 3);
    }
}

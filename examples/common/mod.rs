//! What every example does at start-up: the command-line options they share (`--bind
//! HOST:PORT`, `--workers N`, `--pool N`, `--queue N`, `--access-log-format FORMAT`,
//! `--access-log FILE`, `--no-access-log`, parsed by clap), logging to stderr, and the one
//! stdout line scripts wait for.
//!
//! Each example has its own `#[derive(clap::Parser)]` struct (its doc comment is the
//! `--help` text) that flattens [`ServerOptions`], so the shared options are spelled,
//! defaulted and checked the same way everywhere: a bad value exits with status 2 and
//! clap's message on stderr.

use std::net::SocketAddr;
use std::path::PathBuf;

use weir_actors::access_log::{AccessLogConfig, AccessLogFormat, AccessLogSink};
use weir_actors::Config;

/// Command-line options every example accepts. Defaults come from [`Config::default`], so
/// `--help` shows what the server would really use. Numbers allow a leading `-` so that
/// `--workers -1` is reported as a bad value of `--workers`, not as an unknown option `-1`.
#[derive(clap::Args, Clone, Debug)]
pub struct ServerOptions {
    /// Address to listen on; port 0 picks a free port
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Worker threads, each with its own event loop; one per core unless set
    #[arg(
        long,
        value_name = "N",
        default_value_t = Config::default().workers,
        value_parser = at_least_one,
        allow_negative_numbers = true
    )]
    pub workers: usize,
    /// Threads in the blocking pool; 4 per core (within 4..64) unless set
    #[arg(
        long,
        value_name = "N",
        default_value_t = Config::default().pool_threads,
        value_parser = at_least_one,
        allow_negative_numbers = true
    )]
    pub pool: usize,
    /// Blocking jobs that may wait for a pool thread; beyond that, 503
    #[arg(
        long,
        value_name = "N",
        default_value_t = Config::default().pool_queue,
        allow_negative_numbers = true
    )]
    pub queue: usize,
    /// Access-log line format: `line` (timestamp, then key=value fields), `combined`
    /// (Apache/nginx combined), `json` (one JSON object per line)
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = LogFormat::Line)]
    pub access_log_format: LogFormat,
    /// Where the access log goes: `stderr`, or a FILE to append to (`./stderr` for a file
    /// of that name)
    #[arg(long = "access-log", value_name = "FILE", default_value = "stderr")]
    pub access_log: PathBuf,
    /// Turn the access log off
    #[arg(long)]
    pub no_access_log: bool,
}

/// The access-log formats, as `--access-log-format` spells them. (Plain comments on the
/// variants: doc comments would make clap list them in a long `--help`.)
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    // Timestamp, `INFO weir::access:`, then key=value fields.
    Line,
    // Apache/nginx combined.
    Combined,
    // JSON lines.
    Json,
}

impl ServerOptions {
    /// The access log these options ask for: `None` with `--no-access-log`.
    fn access_log_config(&self) -> Option<AccessLogConfig> {
        if self.no_access_log {
            return None;
        }
        Some(AccessLogConfig {
            format: match self.access_log_format {
                LogFormat::Line => AccessLogFormat::Line,
                LogFormat::Combined => AccessLogFormat::Combined,
                LogFormat::Json => AccessLogFormat::Json,
            },
            sink: if self.access_log.as_os_str() == "stderr" {
                AccessLogSink::Stderr
            } else {
                AccessLogSink::File(self.access_log.clone())
            },
        })
    }
}

/// A count that must be at least 1 (`--workers`, `--pool`): zero threads would serve nothing.
fn at_least_one(v: &str) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

impl ServerOptions {
    /// A `Config` with these options applied.
    pub fn config(&self) -> Config {
        Config {
            workers: self.workers,
            pool_threads: self.pool,
            pool_queue: self.queue,
            access_log: self.access_log_config(),
            ..Config::default()
        }
    }
}

/// Install a `tracing` subscriber that logs to stderr (stdout carries only the listening
/// line), filtered by `RUST_LOG`, default `info`. The access log does not go through it
/// (weir writes it from its own thread; see the `--access-log*` options). This lives with
/// the binaries, not in the library: an application embedding weir sets up its own.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Print the one line scripts wait for, once the server accepts.
pub fn announce(addr: SocketAddr) {
    use std::io::Write;
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();
}

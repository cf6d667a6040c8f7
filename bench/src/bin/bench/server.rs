//! Starting and stopping one benchmark server: the release binary beside the driver (or an
//! example under `examples/` there), pinned with `taskset`, bound to a free loopback port,
//! ready once it prints its `listening on http://HOST:PORT` line. Servers with an access log
//! write it to a file in one temporary directory ([`log_dir`]), deleted after each run.

use std::fs::File;

use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// One of the servers under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kind {
    /// Name in tables, JSON and the chart.
    pub name: &'static str,
    /// Binary name.
    pub bin: &'static str,
    /// How it is configured, for the report.
    pub config: &'static str,
    /// What it serves, so each workload runs only on servers that have its route.
    pub family: Family,
    /// Extra command-line arguments.
    pub args: &'static [&'static str],
    /// How its access log reaches a file, if it has one.
    pub log: Log,
}

/// What a server serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// The benchmark routes (`weir_bench` crate docs); `logged`: a peer with its access log
    /// on, run only on the plaintext workloads.
    Bench { logged: bool },
    /// `examples/hello`: `Hello, World!` on any route.
    Hello,
    /// `examples/echo`: `POST /echo` among others.
    Echo,
}

/// Where a server's access log goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Log {
    /// No access log.
    Off,
    /// `--access-log FILE`, a file in [`log_dir`].
    Option,
    /// The server logs to stderr, which goes to a file in [`log_dir`] (the tracing-based
    /// access line of weir before `weir_actors::access_log`).
    Stderr,
}

/// The peers without a log, which the main table's ratio compares weir with.
pub fn is_plain_peer(name: &str) -> bool {
    matches!(name, "actix-web" | "hyper")
}

/// weir, then its peers: the column order everywhere.
pub const KINDS: [Kind; 3] = [
    Kind {
        name: "weir",
        bin: "weir-server",
        config: "`Config::default()` with `workers = 1`, `access_log = None`; blocking pool \
                 at its default, 4 threads per available core within 4..64 (so 4 under \
                 `taskset` to one core), queue 256",
        family: Family::Bench { logged: false },
        args: &[],
        log: Log::Off,
    },
    Kind {
        name: "actix-web",
        bin: "actixweb-server",
        config: "`HttpServer::new(..).workers(1)`, everything else default (no logger \
                 middleware); `web::block` for `/block` (tokio's blocking pool, up to 512 threads)",
        family: Family::Bench { logged: false },
        args: &[],
        log: Log::Off,
    },
    Kind {
        name: "hyper",
        bin: "hyper-server",
        config: "hyper-util `TokioIo` on a current-thread tokio runtime, `TCP_NODELAY`, \
                 `http1::Builder::new().pipeline_flush(true)`; `spawn_blocking` for `/block` (up to 512 threads)",
        family: Family::Bench { logged: false },
        args: &[],
        log: Log::Off,
    },
];

/// What users run, with the access log on and off: the examples as started from
/// `cargo build --release --examples`, and the peers with their own access logging, every
/// log to a file in one temporary directory.
pub const LOG_KINDS: [Kind; 6] = [
    Kind {
        name: "hello-nolog",
        bin: "examples/hello",
        config: "`examples/hello --workers 1 --no-access-log`",
        family: Family::Hello,
        args: &["--no-access-log"],
        log: Log::Off,
    },
    Kind {
        name: "hello",
        bin: "examples/hello",
        config: "`examples/hello --workers 1 --access-log FILE`: the default config, access \
                 log on (`line` format) to a file",
        family: Family::Hello,
        args: &[],
        log: Log::Option,
    },
    Kind {
        name: "actix-web+log",
        bin: "actixweb-server",
        config: "`actixweb-server --access-log FILE`: `middleware::Logger::default()` \
                 (combined-like format) through `env_logger`, its target a `Pipe` to the file",
        family: Family::Bench { logged: true },
        args: &[],
        log: Log::Option,
    },
    Kind {
        name: "hyper+log",
        bin: "hyper-server",
        config:
            "`hyper-server --access-log FILE`: one `tracing::info!` per request, \
                 `tracing-subscriber` fmt into `tracing-appender`'s non-blocking writer to the file",
        family: Family::Bench { logged: true },
        args: &[],
        log: Log::Option,
    },
    Kind {
        name: "echo-nolog",
        bin: "examples/echo",
        config: "`examples/echo --workers 1 --no-access-log`",
        family: Family::Echo,
        args: &["--no-access-log"],
        log: Log::Off,
    },
    Kind {
        name: "echo",
        bin: "examples/echo",
        config: "`examples/echo --workers 1 --access-log FILE`",
        family: Family::Echo,
        args: &[],
        log: Log::Option,
    },
];

/// `hello` built from an older commit, given by `WEIR_BENCH_HELLO_BEFORE=PATH`: how the
/// access log's cost is measured before and after a change in one run. Its stderr (where
/// the tracing-based access line went) goes to a file.
pub const HELLO_BEFORE: Kind = Kind {
    name: "hello-before",
    bin: "$WEIR_BENCH_HELLO_BEFORE",
    config: "`hello` of the commit in `$WEIR_BENCH_HELLO_BEFORE`, its stderr (the access log) \
             to a file",
    family: Family::Hello,
    args: &[],
    log: Log::Stderr,
};

/// Every server the driver knows: [`KINDS`], [`LOG_KINDS`], and [`HELLO_BEFORE`] when
/// `WEIR_BENCH_HELLO_BEFORE` is set.
pub fn all_kinds() -> Vec<Kind> {
    let mut v: Vec<Kind> = KINDS.iter().chain(&LOG_KINDS).copied().collect();
    if std::env::var_os("WEIR_BENCH_HELLO_BEFORE").is_some() {
        v.push(HELLO_BEFORE);
    }
    v
}

/// The directory the access logs go to, made once per driver run.
pub fn log_dir() -> io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("weir-bench-logs-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Where the server binaries are: beside the driver's own executable.
pub fn bin_dir() -> io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    Ok(exe.parent().unwrap_or(Path::new(".")).to_path_buf())
}

/// A running server; killed when dropped.
pub struct Running {
    child: Child,
    /// Its process id (taskset execs the server, so this is the server's).
    pub pid: u32,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Which server it is.
    pub kind: Kind,
    /// Its access log file, deleted when it stops (a run writes tens of MB).
    log_file: Option<PathBuf>,
}

impl Running {
    /// Start `kind` with one worker, pinned to `cpu` if given.
    pub fn start(kind: Kind, cpu: Option<usize>) -> io::Result<Running> {
        let bin = match kind.bin.strip_prefix('$') {
            Some(var) => PathBuf::from(std::env::var_os(var).unwrap_or_default()),
            None => bin_dir()?.join(kind.bin),
        };
        if !bin.exists() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{} not found: build the servers first (`cargo build --release -p \
                     weir-bench --bins --examples`)",
                    bin.display()
                ),
            ));
        }
        let log_file = match kind.log {
            Log::Off => None,
            Log::Option | Log::Stderr => Some(log_dir()?.join(format!("{}.log", kind.name))),
        };
        let mut cmd = match cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu.to_string()).arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        cmd.args(["--bind", "127.0.0.1:0", "--workers", "1"])
            .args(kind.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .env_remove("RUST_LOG");
        match (&log_file, kind.log) {
            (Some(f), Log::Option) => {
                cmd.arg("--access-log").arg(f);
            }
            (Some(f), Log::Stderr) => {
                cmd.stderr(File::create(f)?);
            }
            _ => {}
        }
        let mut child = cmd.spawn()?;
        let pid = child.id();
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .and_then(|a| a.parse().ok());
        match addr {
            Some(addr) => Ok(Running {
                child,
                pid,
                addr,
                kind,
                log_file,
            }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(io::Error::other(format!(
                    "{} did not announce its address (printed {line:?})",
                    kind.bin
                )))
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(f) = &self.log_file {
            let _ = std::fs::remove_file(f);
        }
    }
}

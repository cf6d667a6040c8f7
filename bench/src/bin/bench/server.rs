//! Starting and stopping one benchmark server: the release binary beside the driver,
//! pinned with `taskset`, bound to a free loopback port, ready once it prints its
//! `listening on http://HOST:PORT` line.

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
}

/// weir, then its peers: the column order everywhere.
pub const KINDS: [Kind; 3] = [
    Kind {
        name: "weir",
        bin: "weir-server",
        config: "`Config::default()` with `workers = 1`, `access_log = false`; blocking pool \
                 at its default, 4 threads per available core within 4..64 (so 4 under \
                 `taskset` to one core), queue 256",
    },
    Kind {
        name: "actix-web",
        bin: "actixweb-server",
        config: "`HttpServer::new(..).workers(1)`, everything else default (no logger \
                 middleware); `web::block` for `/block` (tokio's blocking pool, up to 512 threads)",
    },
    Kind {
        name: "hyper",
        bin: "hyper-server",
        config: "hyper-util `TokioIo` on a current-thread tokio runtime, `TCP_NODELAY`, \
                 `http1::Builder::new().pipeline_flush(true)`; `spawn_blocking` for `/block` (up to 512 threads)",
    },
];

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
}

impl Running {
    /// Start `kind` with one worker, pinned to `cpu` if given.
    pub fn start(kind: Kind, cpu: Option<usize>) -> io::Result<Running> {
        let bin = bin_dir()?.join(kind.bin);
        if !bin.exists() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{} not found: build the servers first (`cargo build --release -p weir-bench`)",
                    bin.display()
                ),
            ));
        }
        let mut cmd = match cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu.to_string()).arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        cmd.args(["--bind", "127.0.0.1:0", "--workers", "1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .env_remove("RUST_LOG");
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
    }
}

//! The example binaries as separate processes, run as a newcomer would: found in
//! `target/<profile>/examples/` next to the test binary's `target/<profile>/deps/`, started
//! with `--bind 127.0.0.1:0 --workers 1`, their first stdout line `listening on
//! http://127.0.0.1:PORT` read and checked, and killed on drop.
//!
//! `cargo test` builds the examples; with a target filter (`cargo test --test NAME`) run
//! `cargo build --examples` first.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// `target/<profile>`, from this test binary's path (`target/<profile>/deps/<test>-<hash>`).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary in target/<profile>/deps")
        .to_path_buf()
}

/// How to build the example binaries when a test runs with a target filter.
fn build_hint(name: &str) -> String {
    let exe = std::env::current_exe().expect("current_exe");
    let stem = exe.file_stem().unwrap_or_default().to_string_lossy();
    let test = stem.rsplit_once('-').map_or(&*stem, |(test, _hash)| test);
    format!(
        "`cargo test` builds the examples; with a target filter such as `--test {test}`, run \
         `cargo build --examples` (or `cargo build --example {name}`) first"
    )
}

/// The example binary `name`, from `target/<profile>/examples/`. If `sources` (paths from
/// the crate root) are given, the binary must be at least as new as each of them, so that a
/// filtered test run does not silently test a stale build.
pub fn bin(name: &str, sources: &[&str]) -> PathBuf {
    let bin = profile_dir()
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let built = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} not found: {}", bin.display(), build_hint(name)));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for f in sources {
        let changed = std::fs::metadata(root.join(f)).and_then(|m| m.modified());
        if let Ok(changed) = changed {
            assert!(
                changed <= built,
                "{} is older than {f}: {}",
                bin.display(),
                build_hint(name)
            );
        }
    }
    bin
}

/// How to start an example: see [`Example::launch`].
pub struct Launch<'a> {
    name: &'a str,
    bind: String,
    args: Vec<String>,
    rust_log: &'a str,
    capture_stderr: bool,
    sources: &'a [&'a str],
}

impl<'a> Launch<'a> {
    /// Extra command-line arguments, after `--bind ADDR --workers 1`.
    pub fn args(mut self, extra: &[&str]) -> Self {
        self.args.extend(extra.iter().map(|a| a.to_string()));
        self
    }

    /// Bind to `addr` instead of `127.0.0.1:0` (an exact address: to restart on a port).
    pub fn bind(mut self, addr: &str) -> Self {
        self.bind = addr.to_owned();
        self
    }

    /// `RUST_LOG` for the process (`info` unless set: the access log is on).
    pub fn rust_log(mut self, filter: &'a str) -> Self {
        self.rust_log = filter;
        self
    }

    /// Let the process's stderr go to the test's own (instead of capturing it).
    pub fn inherit_stderr(mut self) -> Self {
        self.capture_stderr = false;
        self
    }

    /// Check the binary is at least as new as these files (paths from the crate root).
    pub fn newer_than(mut self, sources: &'a [&'a str]) -> Self {
        self.sources = sources;
        self
    }

    /// Spawn the example and check its first stdout line (within 30 s).
    pub fn start(self) -> Example {
        let name = self.name;
        let mut child = Command::new(bin(name, self.sources))
            .args(["--bind", &self.bind, "--workers", "1"])
            .args(&self.args)
            .env("RUST_LOG", self.rust_log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if self.capture_stderr {
                Stdio::piped()
            } else {
                Stdio::inherit()
            })
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let stderr = child.stderr.take().map(|mut stderr| {
            std::thread::spawn(move || {
                let mut v = Vec::new();
                let _ = stderr.read_to_end(&mut v);
                v
            })
        });
        let (tx, first) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let stdout_rest = std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            let _ = r.read_line(&mut line);
            let _ = tx.send(line);
            let mut rest = Vec::new();
            let _ = r.read_to_end(&mut rest);
            rest
        });
        let mut ex = Example {
            child,
            addr: ([127, 0, 0, 1], 0).into(),
            stdout_rest: Some(stdout_rest),
            stderr,
        };
        let line = match first.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => line,
            Err(_) => {
                let out = ex.kill();
                panic!("{name} printed no line in 30 s; stderr: {}", out.stderr);
            }
        };
        let port = line
            .strip_prefix("listening on http://127.0.0.1:")
            .and_then(|p| p.strip_suffix('\n'))
            .and_then(|p| p.parse::<u16>().ok())
            .filter(|&p| p != 0);
        let Some(port) = port else {
            let out = ex.kill();
            panic!(
                "{name}: unexpected first line {line:?}; stderr: {}",
                out.stderr
            );
        };
        assert_eq!(line, format!("listening on http://127.0.0.1:{port}\n"));
        ex.addr.set_port(port);
        ex
    }
}

/// A running example process; killed on drop.
pub struct Example {
    child: Child,
    pub addr: SocketAddr,
    /// Whatever the process writes to stdout after its first line.
    stdout_rest: Option<JoinHandle<Vec<u8>>>,
    /// `None` when stderr is inherited.
    stderr: Option<JoinHandle<Vec<u8>>>,
}

/// What an example left behind once it exited.
pub struct Exited {
    /// `None` if it had not exited (and was killed).
    pub status: Option<ExitStatus>,
    pub stdout_rest: String,
    /// Empty when stderr was inherited.
    pub stderr: String,
}

impl Example {
    /// Spawn `name` on an ephemeral port with one worker and check its first stdout line.
    pub fn start(name: &str) -> Example {
        Example::launch(name).start()
    }

    /// Like [`Example::start`], with extra command-line arguments.
    pub fn start_with(name: &str, extra: &[&str]) -> Example {
        Example::launch(name).args(extra).start()
    }

    /// Options for starting `name`; defaults: `--bind 127.0.0.1:0 --workers 1`,
    /// `RUST_LOG=info`, stderr captured, no staleness check. Finish with [`Launch::start`].
    pub fn launch(name: &str) -> Launch<'_> {
        Launch {
            name,
            bind: "127.0.0.1:0".to_owned(),
            args: Vec::new(),
            rust_log: "info",
            capture_stderr: true,
            sources: &[],
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A new connection, with a 10 s read timeout and `TCP_NODELAY`.
    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.set_nodelay(true).unwrap();
        s
    }

    /// Send signal `sig` (`TERM`, `INT`, …) with `kill`; whether that succeeded.
    fn send_signal(&self, sig: &str) -> bool {
        Command::new("kill")
            .args([format!("-{sig}"), self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Send signal `sig` (`TERM`, `INT`, …); panics if `kill` fails.
    pub fn signal(&self, sig: &str) {
        assert!(self.send_signal(sig), "kill -{sig} failed");
    }

    /// Waits up to `within` for the process to exit.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        super::poll(within, Duration::from_millis(20), || {
            self.child.try_wait().expect("try_wait")
        })
    }

    /// SIGTERM, wait up to `within` for the exit (then kill), and collect the output.
    pub fn terminate(mut self, within: Duration) -> Exited {
        self.send_signal("TERM");
        let status = self.wait_exit(within);
        Exited {
            status,
            ..self.kill()
        }
    }

    /// Kill (if still running) and collect the output.
    pub fn kill(&mut self) -> Exited {
        let _ = self.child.kill();
        let status = self.child.wait().ok();
        let text = |h: Option<JoinHandle<Vec<u8>>>| {
            h.map(|h| String::from_utf8_lossy(&h.join().unwrap_or_default()).into_owned())
                .unwrap_or_default()
        };
        Exited {
            status,
            stdout_rest: text(self.stdout_rest.take()),
            stderr: text(self.stderr.take()),
        }
    }

    /// Everything the process wrote to stderr (kills it first if still running).
    pub fn stderr(&mut self) -> String {
        self.kill().stderr
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

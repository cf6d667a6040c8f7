//! What the driver reads from and asks of the OS: a process's CPU time and resident set
//! from `/proc`, the open-file limit, CPU affinity, and a description of the machine.

use std::io;
use std::process::Command;
use std::time::Duration;

use serde::Serialize;

/// User plus system CPU time of process `pid` so far, all its threads included
/// (`utime + stime` from `/proc/PID/stat`, in clock ticks).
pub fn cpu_time(pid: u32) -> io::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name is in parentheses and may hold spaces: fields count from after it.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| io::Error::other("odd /proc/PID/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 (state) is fields[0]; utime is field 14, stime field 15.
    let tick = |i: usize| -> io::Result<u64> {
        fields
            .get(i)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| io::Error::other("odd /proc/PID/stat"))
    };
    let ticks = tick(11)? + tick(12)?;
    let hz = rustix::param::clock_ticks_per_second().max(1);
    Ok(Duration::from_nanos(ticks * 1_000_000_000 / hz))
}

/// Busy and total time of all CPUs so far, in clock ticks (the `cpu` line of /proc/stat).
pub fn cpu_ticks() -> io::Result<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .ok_or_else(|| io::Error::other("no cpu line in /proc/stat"))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user already).
    let get = |i: usize| v.get(i).copied().unwrap_or(0);
    let idle = get(3) + get(4);
    let total: u64 = (0..8).map(get).sum();
    Ok((total - idle, total))
}

/// CPU time of this process and its reaped children (wrk) so far.
pub fn self_and_children_time() -> io::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| io::Error::other("odd /proc/self/stat"))?;
    let fields: Vec<u64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // utime, stime, cutime, cstime: fields 14..=17.
    let ticks: u64 = (11..15).map(|i| fields.get(i).copied().unwrap_or(0)).sum();
    let hz = rustix::param::clock_ticks_per_second().max(1);
    Ok(Duration::from_nanos(ticks * 1_000_000_000 / hz))
}

/// CPU time used on this machine by processes other than this one, its children and
/// `server`, between two snapshots: how much the figures were disturbed.
pub struct Foreign {
    busy: u64,
    own: Duration,
    server: Duration,
    server_pid: u32,
    start: std::time::Instant,
}

impl Foreign {
    /// Take the first snapshot.
    pub fn start(server_pid: u32) -> io::Result<Foreign> {
        Ok(Foreign {
            busy: cpu_ticks()?.0,
            own: self_and_children_time()?,
            server: cpu_time(server_pid)?,
            server_pid,
            start: std::time::Instant::now(),
        })
    }

    /// Other processes' CPU since the first snapshot, in percent of one core.
    pub fn percent(&self) -> io::Result<f64> {
        let hz = rustix::param::clock_ticks_per_second().max(1);
        let busy = Duration::from_nanos((cpu_ticks()?.0 - self.busy) * 1_000_000_000 / hz);
        let own = self_and_children_time()?.saturating_sub(self.own);
        let server = cpu_time(self.server_pid)?.saturating_sub(self.server);
        let foreign = busy.saturating_sub(own + server);
        Ok(100.0 * foreign.as_secs_f64() / self.start.elapsed().as_secs_f64().max(1e-3))
    }
}

/// Wait (up to `max`) until the machine is quiet: other processes use under 10% of a core
/// over half a second. Returns how long it waited beyond that half second.
pub fn wait_quiet(max: Duration) -> Duration {
    const WINDOW: Duration = Duration::from_millis(500);
    let start = std::time::Instant::now();
    let hz = rustix::param::clock_ticks_per_second().max(1) as f64;
    while start.elapsed() < max {
        let (Ok((b0, _)), Ok(o0)) = (cpu_ticks(), self_and_children_time()) else {
            break;
        };
        std::thread::sleep(WINDOW);
        let (Ok((b1, _)), Ok(o1)) = (cpu_ticks(), self_and_children_time()) else {
            break;
        };
        let foreign = (b1 - b0) as f64 / hz - (o1 - o0).as_secs_f64();
        if foreign < 0.10 * WINDOW.as_secs_f64() {
            break;
        }
    }
    start.elapsed().saturating_sub(WINDOW)
}

/// Resident set size of process `pid` in bytes (`VmRSS` from `/proc/PID/status`).
pub fn vm_rss(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| io::Error::other("no VmRSS in /proc/PID/status"))
}

/// Raise this process's soft open-file limit to at least `want` (up to the hard limit);
/// returns the soft limit now in force. Children (the servers) inherit it.
pub fn raise_nofile(want: u64) -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let cur = getrlimit(Resource::Nofile);
    let soft = cur.current.unwrap_or(u64::MAX);
    if soft >= want {
        return soft;
    }
    let hard = cur.maximum.unwrap_or(u64::MAX);
    let new = want.min(hard);
    let res = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(new),
            maximum: cur.maximum,
        },
    );
    if res.is_ok() {
        new
    } else {
        soft
    }
}

/// Pin this thread (and the threads it starts later) to CPU `cpu`.
pub fn pin_self(cpu: usize) -> io::Result<()> {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    rustix::thread::sched_setaffinity(None, &set).map_err(io::Error::from)
}

/// Whether a program is on `PATH` (what `command -v` would say).
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The machine the figures come from.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// Online CPUs (`nproc`).
    pub nproc: usize,
    /// CPU model (`model name` in /proc/cpuinfo).
    pub cpu_model: String,
    /// Memory, in MiB.
    pub memory_mib: u64,
    /// Kernel release.
    pub kernel: String,
    /// `rustc --version`, if rustc is on PATH.
    pub rustc: String,
    /// `wrk`'s version line.
    pub wrk: String,
}

impl Machine {
    /// Describe this machine.
    pub fn describe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
        let memory_mib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .map_or(0, |kb| kb / 1024);
        let first_line = |prog: &str, arg: &str| {
            Command::new(prog)
                .arg(arg)
                .output()
                .ok()
                .map(|o| {
                    let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
                    s.push_str(&String::from_utf8_lossy(&o.stderr));
                    s.lines().next().unwrap_or("").trim().to_owned()
                })
                .unwrap_or_default()
        };
        Machine {
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            memory_mib,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_default(),
            rustc: first_line("rustc", "--version"),
            wrk: first_line("wrk", "--version"),
        }
    }
}

/// The version of each package the servers are built from, read from the workspace's
/// Cargo.lock as it was when the driver was built.
pub fn locked_versions() -> Vec<(String, String)> {
    const LOCK: &str = include_str!("../../../../Cargo.lock");
    let wanted = [
        "actix-web",
        "actix-http",
        "actix-rt",
        "actix-server",
        "actix",
        "hyper",
        "hyper-util",
        "tokio",
    ];
    let mut out = Vec::new();
    let mut name: Option<&str> = None;
    for line in LOCK.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"'));
        } else if let (Some(n), Some(v)) = (name, line.strip_prefix("version = ")) {
            if wanted.contains(&n) && !out.iter().any(|(have, _): &(String, String)| have == n) {
                out.push((n.to_owned(), v.trim_matches('"').to_owned()));
            }
            name = None;
        }
    }
    out.sort_by_key(|(n, _)| wanted.iter().position(|w| w == n));
    out
}

//! `bench`: the driver. Starts each server (weir, actix-web, hyper) pinned to one core,
//! drives it from the other with `wrk` or its own client, alternates the servers round by
//! round (A B C A B C), and writes a markdown table of medians, min–max and the weir /
//! best-peer ratio, the same as JSON, and an SVG chart.
//!
//! Run it through `bench/run` (which builds everything in release first):
//!
//! ```text
//! bench/run            # full: 5 rounds × 3 s per workload, about 9 minutes
//! bench/run --quick    # smoke: 1 round × 1 s, results/quick.*
//! bench/run --help
//! ```

mod chart;
mod client;
mod report;
mod server;
mod sys;
mod workloads;
mod wrk;
mod ws;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use serde::Serialize;

use report::{Row, Samples};
use server::{Kind, Running};
use workloads::{Params, Workload};

/// The driver: runs every workload against weir, actix-web and hyper, alternating the
/// servers round by round, and writes a markdown table, JSON and an SVG chart. Run it through
/// `bench/run`, which builds everything in release first.
#[derive(Parser)]
#[command(name = "bench")]
struct Cli {
    /// 1 round × 1 s per workload (a smoke run); writes results/quick.*
    #[arg(long)]
    quick: bool,
    /// Rounds per workload; servers alternate within each [default: 5, or 1 with --quick]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    rounds: Option<u64>,
    /// Measured time per run, at least 0.5 [default: 3, or 1 with --quick]
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    duration: Option<Duration>,
    // Help from the workload list itself, so it cannot go stale.
    #[arg(
        long,
        value_name = "W,..",
        value_delimiter = ',',
        value_parser = workload,
        help = format!(
            "Workloads to run, comma-separated: {} [default: all]",
            Workload::ALL.map(Workload::id).join(", ")
        )
    )]
    only: Vec<Workload>,
    /// Servers to run, comma-separated: weir, actix-web, hyper; the access-log comparison's
    /// hello-nolog, hello, actix-web+log, hyper+log, echo-nolog, echo; hello-before when
    /// WEIR_BENCH_HELLO_BEFORE=PATH names an older build of the hello example [default: all]
    #[arg(long, value_name = "S,..", value_delimiter = ',', value_parser = server_kind)]
    servers: Vec<Kind>,
    /// Idle long-poll connections, and idle WebSockets
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    conns: usize,
    /// Where results go
    #[arg(long, value_name = "DIR", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results"))]
    out: PathBuf,
    /// File stem of the results [default: latest, or quick with --quick]
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Core the server is pinned to
    #[arg(long, value_name = "N", default_value_t = 1)]
    server_cpu: usize,
    /// Core the load generator is pinned to
    #[arg(long, value_name = "N", default_value_t = 0)]
    client_cpu: usize,
    /// No taskset, no affinity
    #[arg(long)]
    no_pin: bool,
    /// Do not wait for other processes to go quiet before each run
    #[arg(long)]
    no_wait: bool,
}

/// `--duration`: seconds, fractions allowed; under 0.5 s a run measures mostly its start.
fn seconds(v: &str) -> Result<Duration, String> {
    match v.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.5 => Ok(Duration::from_secs_f64(s)),
        Ok(_) => Err("must be at least 0.5 seconds".to_owned()),
        Err(e) => Err(format!("not a number of seconds: {e}")),
    }
}

/// One `--only` item, by its id.
fn workload(v: &str) -> Result<Workload, String> {
    Workload::ALL
        .into_iter()
        .find(|w| w.id() == v.trim())
        .ok_or_else(|| format!("unknown workload {v:?}"))
}

/// One `--servers` item, by its name.
fn server_kind(v: &str) -> Result<Kind, String> {
    server::all_kinds()
        .into_iter()
        .find(|k| k.name == v.trim())
        .ok_or_else(|| format!("unknown server {v:?}"))
}

/// Command-line options, with the `--quick` defaults applied.
struct Options {
    quick: bool,
    rounds: usize,
    duration: Duration,
    only: Vec<Workload>,
    servers: Vec<Kind>,
    conns: usize,
    out: PathBuf,
    name: String,
    server_cpu: usize,
    client_cpu: usize,
    pin: bool,
    wait_quiet: bool,
}

impl From<Cli> for Options {
    fn from(c: Cli) -> Options {
        let (rounds, secs, name) = if c.quick {
            (1, 1, "quick")
        } else {
            (5, 3, "latest")
        };
        Options {
            quick: c.quick,
            rounds: c.rounds.map_or(rounds, |n| n as usize),
            duration: c.duration.unwrap_or(Duration::from_secs(secs)),
            only: if c.only.is_empty() {
                Workload::ALL.to_vec()
            } else {
                c.only
            },
            servers: if c.servers.is_empty() {
                server::all_kinds()
            } else {
                c.servers
            },
            conns: c.conns,
            out: c.out,
            name: c.name.unwrap_or_else(|| name.to_owned()),
            server_cpu: c.server_cpu,
            client_cpu: c.client_cpu,
            pin: !c.no_pin,
            wait_quiet: !c.no_wait,
        }
    }
}

/// Other processes' CPU (percent of one core) past which a run is done again.
const DISTURBED_PCT: f64 = 15.0;

/// Everything the JSON holds.
#[derive(Serialize)]
struct Results<'a> {
    generated_unix: u64,
    mode: &'static str,
    rounds: usize,
    duration_s: f64,
    machine: &'a sys::Machine,
    setup: Setup,
    servers: Vec<ServerInfo>,
    versions: BTreeMap<String, String>,
    rows: &'a [Row],
    runs: &'a [RunInfo],
    failures: &'a [String],
}

/// One server run: how disturbed it was.
#[derive(Serialize)]
struct RunInfo {
    workload: &'static str,
    round: usize,
    server: &'static str,
    /// Runs made (more than 1: the earlier ones were disturbed and thrown away).
    attempts: usize,
    /// How long the driver waited for other processes to quiet down first.
    waited_s: f64,
    /// CPU other processes used during the run, in percent of one core.
    others_cpu_pct: f64,
    ok: bool,
}

#[derive(Serialize)]
struct Setup {
    server_cpu: Option<usize>,
    client_cpu: Option<usize>,
    worker_threads: usize,
    wrk_conns: usize,
    pipeline_depth: usize,
    upload_bytes: u64,
    idle_conns: usize,
    blockers: usize,
    block_ms: u64,
    switch_body: usize,
    mb: &'static str,
}

#[derive(Serialize)]
struct ServerInfo {
    name: &'static str,
    binary: &'static str,
    config: &'static str,
}

fn main() {
    let o = Options::from(Cli::parse());
    if let Err(e) = run(o) {
        eprintln!("bench: {e}");
        std::process::exit(1);
    }
}

fn run(o: Options) -> Result<(), String> {
    if o.only.iter().any(|w| w.uses_wrk()) && !sys::have("wrk") {
        return Err(format!(
            "wrk is not installed; install it with:\n    {}",
            wrk::INSTALL
        ));
    }
    let machine = sys::Machine::describe();
    let can_pin = o.pin && machine.nproc >= 2 && sys::have("taskset");
    if o.pin && !can_pin {
        eprintln!(
            "note: not pinning (needs 2+ cores and taskset; {} cores here)",
            machine.nproc
        );
    }
    let (server_cpu, client_cpu) = if can_pin {
        (Some(o.server_cpu), Some(o.client_cpu))
    } else {
        (None, None)
    };
    if let Some(cpu) = client_cpu {
        sys::pin_self(cpu).map_err(|e| format!("pinning the driver to CPU {cpu}: {e}"))?;
    }
    // Both ends of every idle connection, plus slack; the servers inherit the limit.
    let nofile = sys::raise_nofile(o.conns as u64 + 1024);
    let conns = o.conns.min(nofile.saturating_sub(1024) as usize);
    if conns < o.conns {
        eprintln!(
            "note: open-file limit {nofile}: {conns} idle connections instead of {} \
             (raise the hard limit: ulimit -Hn)",
            o.conns
        );
    }
    let p = Params {
        duration: o.duration,
        client_cpu,
        wrk_conns: 64,
        pipeline_depth: 16,
        pipeline_script: wrk::pipeline_script().map_err(|e| e.to_string())?,
        upload_bytes: 256 << 20,
        idle_conns: conns.max(1),
        blockers: 64,
        block_ms: 20,
        switch_body: 1024,
    };

    let runs: usize = o
        .only
        .iter()
        .map(|w| {
            let n = if w.weir_only() {
                1
            } else {
                o.servers.iter().filter(|k| w.runs_on(**k)).count()
            };
            let per = match w {
                Workload::BlockLatency => 2.0 * o.duration.as_secs_f64() + 0.5,
                Workload::LongPoll | Workload::WsIdle => 3.0,
                _ => o.duration.as_secs_f64() + 0.3,
            };
            (n * o.rounds) as f64 * per
        })
        .sum::<f64>() as usize;
    eprintln!(
        "bench: {} workloads × {} round(s) × {} s; about {} min {} s. Servers on CPU {}, load on CPU {}.",
        o.only.len(),
        o.rounds,
        o.duration.as_secs_f64(),
        runs / 60,
        runs % 60,
        server_cpu.map_or("any".to_owned(), |c| c.to_string()),
        client_cpu.map_or("any".to_owned(), |c| c.to_string()),
    );

    let started = Instant::now();
    let mut samples: Samples = BTreeMap::new();
    let mut failures = Vec::new();
    let mut runs = Vec::new();
    for &w in &o.only {
        eprintln!("\n== {}", w.title(&p));
        let servers: Vec<Kind> = o
            .servers
            .iter()
            .copied()
            .filter(|k| w.runs_on(*k) && (!w.weir_only() || k.name == "weir"))
            .collect();
        for round in 1..=o.rounds {
            for &kind in &servers {
                // A run other processes disturbed (a build, another benchmark) is done again,
                // up to twice, after waiting for quiet.
                let mut attempt = 0;
                let (res, waited, foreign) = loop {
                    let waited = if o.wait_quiet {
                        sys::wait_quiet(Duration::from_secs(60))
                    } else {
                        Duration::ZERO
                    };
                    let res = Running::start(kind, server_cpu).and_then(|s| {
                        let foreign = sys::Foreign::start(s.pid)?;
                        let values = w.run(&s, &p)?;
                        Ok((values, foreign.percent()?))
                    });
                    let foreign = res.as_ref().map_or(f64::NAN, |(_, f)| *f);
                    attempt += 1;
                    if o.wait_quiet && foreign > DISTURBED_PCT && attempt < 3 {
                        eprintln!(
                            "  round {round} {:<13}  disturbed (others used {foreign:.0}% of a core): again",
                            kind.name
                        );
                        continue;
                    }
                    break (res, waited, foreign);
                };
                runs.push(RunInfo {
                    workload: w.id(),
                    round,
                    server: kind.name,
                    attempts: attempt,
                    waited_s: waited.as_secs_f64(),
                    others_cpu_pct: foreign,
                    ok: res.is_ok(),
                });
                let noise = if waited.as_secs_f64() >= 0.5 || foreign >= 5.0 {
                    format!(
                        "   [waited {:.0} s for quiet; others used {foreign:.0}% of a core]",
                        waited.as_secs_f64()
                    )
                } else {
                    String::new()
                };
                match res {
                    Ok((values, _)) => {
                        let shown: Vec<String> = values
                            .iter()
                            .map(|(id, v)| {
                                format!(
                                    "{} {}",
                                    id.split('.').nth(1).unwrap_or(id),
                                    report::fmt(*v)
                                )
                            })
                            .collect();
                        eprintln!(
                            "  round {round} {:<13}  {}{noise}",
                            kind.name,
                            shown.join(", ")
                        );
                        for (id, v) in values {
                            samples
                                .entry(id)
                                .or_default()
                                .entry(kind.name)
                                .or_default()
                                .push((round, v));
                        }
                    }
                    Err(e) => {
                        let msg = format!("{} round {round} {}: {e}", w.id(), kind.name);
                        eprintln!("  FAILED {msg}");
                        failures.push(msg);
                    }
                }
            }
        }
    }
    let _ = std::fs::remove_file(&p.pipeline_script);
    eprintln!("\nbench: done in {:.0} s", started.elapsed().as_secs_f64());

    let rows = report::rows(&samples, &p);
    let mut table = report::markdown_table(&rows);
    table.push_str(&report::access_log_tables(&rows, &samples));
    let mut setup_md = setup_markdown(&o, &p, &machine, server_cpu, client_cpu);
    let mut others: Vec<f64> = runs
        .iter()
        .map(|r| r.others_cpu_pct)
        .filter(|v| v.is_finite())
        .collect();
    others.sort_by(f64::total_cmp);
    if let (Some(max), false) = (others.last(), others.is_empty()) {
        setup_md.push_str(&format!(
            "- Disturbance: other processes used a median {:.1}% (max {max:.1}%) of one core \
             during the kept runs{}.\n",
            others[others.len() / 2],
            if o.wait_quiet {
                "; before each run the driver waited for them to drop under 10%, and ran \
                 again (up to twice) when they used over 15% during it"
            } else {
                ""
            }
        ));
    }
    let mut md = format!(
        "# weir benchmark: {}\n\n{table}\n{setup_md}",
        if o.quick {
            "quick (smoke) run"
        } else {
            "full run"
        }
    );
    if !failures.is_empty() {
        md.push_str("\nFailed runs:\n\n");
        for f in &failures {
            md.push_str(&format!("- {f}\n"));
        }
    }
    println!("{md}");

    std::fs::create_dir_all(&o.out).map_err(|e| format!("{}: {e}", o.out.display()))?;
    let path = |ext: &str| o.out.join(format!("{}.{ext}", o.name));
    let write = |ext: &str, data: &str| {
        std::fs::write(path(ext), data).map_err(|e| format!("{}: {e}", path(ext).display()))
    };
    write("md", &md)?;
    let results = Results {
        generated_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        mode: if o.quick { "quick" } else { "full" },
        rounds: o.rounds,
        duration_s: o.duration.as_secs_f64(),
        machine: &machine,
        setup: Setup {
            server_cpu,
            client_cpu,
            worker_threads: 1,
            wrk_conns: p.wrk_conns,
            pipeline_depth: p.pipeline_depth,
            upload_bytes: p.upload_bytes,
            idle_conns: p.idle_conns,
            blockers: p.blockers,
            block_ms: p.block_ms,
            switch_body: p.switch_body,
            mb: "MB = 10^6 bytes; GiB = 2^30 bytes",
        },
        servers: server::all_kinds()
            .iter()
            .map(|k| ServerInfo {
                name: k.name,
                binary: k.bin,
                config: k.config,
            })
            .collect(),
        versions: sys::locked_versions().into_iter().collect(),
        rows: &rows,
        runs: &runs,
        failures: &failures,
    };
    let json = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
    write("json", &json)?;
    let subtitle = format!(
        "{} × {} ({} cores), one worker thread per server, server pinned to its own core; \
         median of {} round(s) × {} s",
        machine.cpu_model,
        machine.nproc,
        machine.nproc,
        o.rounds,
        o.duration.as_secs_f64()
    );
    chart::render(&rows, &subtitle, &path("svg"))?;
    if !o.quick && o.name == "latest" {
        update_readme(&md)?;
    }
    let _ = std::io::stdout().flush();
    eprintln!(
        "wrote {}, {}, {}",
        path("md").display(),
        path("json").display(),
        path("svg").display()
    );
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("{} run(s) failed", failures.len()))
    }
}

fn setup_markdown(
    o: &Options,
    p: &Params,
    m: &sys::Machine,
    server_cpu: Option<usize>,
    client_cpu: Option<usize>,
) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "Median of {} round(s) × {} s per workload (min–max in parentheses); servers \
         alternate A B C within each round, each started fresh per run. ↑ higher is better, \
         ↓ lower is better. The ratio is the median over rounds of weir's figure over the best \
         peer's in the same round (seconds apart, so slow drifts of the machine cancel out). \
         MB = 10⁶ bytes.\n\n",
        o.rounds,
        o.duration.as_secs_f64()
    ));
    s.push_str(&format!(
        "- Machine: {} × {} (`nproc` = {}), {} MiB, Linux {}; {}; {}.\n",
        m.cpu_model, m.nproc, m.nproc, m.memory_mib, m.kernel, m.rustc, m.wrk
    ));
    s.push_str(&format!(
        "- Placement: every server runs one worker thread{}; the load generator (wrk -t1, or \
         the driver's own client) runs {}.\n",
        server_cpu.map_or(String::new(), |c| format!(
            ", pinned to CPU {c} with `taskset`"
        )),
        client_cpu.map_or("unpinned".to_owned(), |c| format!("on CPU {c}"))
    ));
    s.push_str(&format!(
        "- Load: wrk `-t1 -c{}` for plaintext, pipelined {} deep; uploads of {} MiB back to \
         back on one connection; `GET /stream` back to back on one connection; {} idle \
         `GET /poll` connections; as many idle WebSockets on `/ws` (handshake, then nothing); {} concurrent `GET /block?ms={}` while one connection \
         probes `GET /` every millisecond; {} B `POST`s in alternating batches of 500; {} \
         WebSocket connections to `/ws`, each sending a {} B binary message and waiting for \
         its echo, back to back.\n",
        p.wrk_conns,
        p.pipeline_depth,
        p.upload_bytes >> 20,
        p.idle_conns,
        p.blockers,
        p.block_ms,
        p.switch_body,
        workloads::WS_CONNS,
        workloads::WS_MESSAGE
    ));
    s.push_str(
        "- Server CPU: `utime + stime` of the server process (all threads) from \
         `/proc/PID/stat`, before and after the run, over the requests (or GiB) it served.\n",
    );
    for k in server::all_kinds() {
        if o.servers.contains(&k) {
            s.push_str(&format!("- {}: {}.\n", k.name, k.config));
        }
    }
    let versions: Vec<String> = sys::locked_versions()
        .into_iter()
        .map(|(n, v)| format!("{n} {v}"))
        .collect();
    s.push_str(&format!("- Versions: {}.\n", versions.join(", ")));
    s
}

/// Put the latest table into bench/README.md, between its results markers.
fn update_readme(md: &str) -> Result<(), String> {
    const START: &str = "<!-- results:start -->";
    const END: &str = "<!-- results:end -->";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let Ok(readme) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let (Some(a), Some(b)) = (readme.find(START), readme.find(END)) else {
        return Ok(());
    };
    // The section without its "# ..." title line.
    let body = md.split_once('\n').map_or(md, |(_, rest)| rest).trim();
    let new = format!("{}{START}\n{body}\n{}", &readme[..a], &readme[b..]);
    std::fs::write(path, new).map_err(|e| format!("{path}: {e}"))
}

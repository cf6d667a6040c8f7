//! The figures: what each metric is, medians and ranges over rounds, the weir/best-peer
//! ratio, the targets, and the markdown table and JSON made from them.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::server::{is_plain_peer, KINDS};
use crate::workloads::{Params, Workload};

/// Which way is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    /// Larger is better (throughput).
    Higher,
    /// Smaller is better (cost, latency, memory).
    Lower,
}

/// A target weir should meet.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// weir's median at most this.
    AtMost(f64),
    /// weir's median at most the best peer's, and at most this.
    PeerAndAtMost(f64),
    /// weir's median at least `factor` × weir's median of another metric.
    AtLeastOf(&'static str, f64),
}

/// One reported figure.
#[derive(Clone, Copy, Debug)]
pub struct Metric {
    /// Id the workloads report under (`workload.figure`).
    pub id: &'static str,
    /// The workload that measures it.
    pub workload: Workload,
    /// Label in the table.
    pub label: &'static str,
    /// Which way is better.
    pub better: Better,
    /// weir's target, if the issue sets one.
    pub target: Option<Target>,
    /// In the markdown table (the rest are in the JSON only).
    pub in_table: bool,
}

const fn m(
    id: &'static str,
    workload: Workload,
    label: &'static str,
    better: Better,
    target: Option<Target>,
    in_table: bool,
) -> Metric {
    Metric {
        id,
        workload,
        label,
        better,
        target,
        in_table,
    }
}

use Better::{Higher, Lower};
use Workload as W;

/// Every metric, in report order.
pub const METRICS: &[Metric] = &[
    m(
        "plaintext.cpu_us",
        W::Plaintext,
        "server µs CPU/req",
        Lower,
        None,
        true,
    ),
    m("plaintext.rps", W::Plaintext, "req/s", Higher, None, true),
    m(
        "plaintext.p99_ms",
        W::Plaintext,
        "p99 ms (wrk)",
        Lower,
        None,
        false,
    ),
    m(
        "pipelined.cpu_us",
        W::Pipelined,
        "server µs CPU/req",
        Lower,
        None,
        true,
    ),
    m("pipelined.rps", W::Pipelined, "req/s", Higher, None, true),
    m(
        "upload-length.mbps",
        W::UploadLength,
        "MB/s",
        Higher,
        None,
        true,
    ),
    m(
        "upload-length.cpu_s_gib",
        W::UploadLength,
        "server CPU s/GiB",
        Lower,
        None,
        true,
    ),
    m(
        "upload-chunked.mbps",
        W::UploadChunked,
        "MB/s",
        Higher,
        None,
        true,
    ),
    m(
        "upload-chunked.cpu_s_gib",
        W::UploadChunked,
        "server CPU s/GiB",
        Lower,
        None,
        true,
    ),
    m(
        "upload-switch.mbps",
        W::UploadSwitch,
        "MB/s",
        Higher,
        Some(Target::AtLeastOf("upload-length.mbps", 0.8)),
        true,
    ),
    m(
        "upload-switch.cpu_s_gib",
        W::UploadSwitch,
        "server CPU s/GiB",
        Lower,
        None,
        true,
    ),
    m("stream.mbps", W::Stream, "MB/s", Higher, None, true),
    m("stream.p99_ms", W::Stream, "p99 ms", Lower, None, true),
    m("stream.p50_ms", W::Stream, "p50 ms", Lower, None, false),
    m(
        "stream.cpu_s_gib",
        W::Stream,
        "server CPU s/GiB",
        Lower,
        None,
        false,
    ),
    m(
        "ws-echo.rtps",
        W::WsEcho,
        "round trips/s",
        Higher,
        None,
        true,
    ),
    m(
        "ws-echo.cpu_us",
        W::WsEcho,
        "server µs CPU/round trip",
        Lower,
        None,
        true,
    ),
    m("ws-echo.p99_ms", W::WsEcho, "p99 ms", Lower, None, true),
    m(
        "longpoll.rss_per_conn",
        W::LongPoll,
        "server RSS bytes/conn",
        Lower,
        Some(Target::AtMost(4096.0)),
        true,
    ),
    m(
        "ws-idle.rss_per_conn",
        W::WsIdle,
        "server RSS bytes/socket",
        Lower,
        Some(Target::PeerAndAtMost(4096.0)),
        true,
    ),
    m(
        "block.p99_idle_ms",
        W::BlockLatency,
        "`GET /` p99 ms, pool idle",
        Lower,
        None,
        true,
    ),
    m(
        "block.p99_busy_ms",
        W::BlockLatency,
        "`GET /` p99 ms, pool saturated",
        Lower,
        None,
        true,
    ),
    m(
        "block.ratio",
        W::BlockLatency,
        "saturated p99 / idle p99",
        Lower,
        Some(Target::AtMost(2.0)),
        true,
    ),
    m(
        "block.calls_per_s",
        W::BlockLatency,
        "blocking calls/s",
        Higher,
        None,
        false,
    ),
    m(
        "switch.async_us",
        W::SwitchOverhead,
        "pure async µs/req",
        Lower,
        None,
        true,
    ),
    m(
        "switch.switch_us",
        W::SwitchOverhead,
        "switch at byte 0 µs/req",
        Lower,
        None,
        true,
    ),
    m(
        "switch.overhead_us",
        W::SwitchOverhead,
        "switch overhead µs/req",
        Lower,
        Some(Target::AtMost(30.0)),
        true,
    ),
    m(
        "switch.cpu_overhead_us",
        W::SwitchOverhead,
        "server CPU overhead µs/req",
        Lower,
        None,
        true,
    ),
    m(
        "echo.cpu_us",
        W::Echo,
        "server µs CPU/req",
        Lower,
        None,
        false,
    ),
    m("echo.rps", W::Echo, "req/s", Higher, None, false),
];

/// Samples by metric id, then by server name: `(round, value)` in round order.
pub type Samples = BTreeMap<&'static str, BTreeMap<&'static str, Vec<(usize, f64)>>>;

fn median(v: &mut [f64]) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// One server's figures for one metric.
#[derive(Clone, Debug, Serialize)]
pub struct Stats {
    /// Median over rounds.
    pub median: f64,
    /// Smallest round.
    pub min: f64,
    /// Largest round.
    pub max: f64,
    /// Every round, in order.
    pub samples: Vec<f64>,
}

impl Stats {
    fn of(samples: &[(usize, f64)]) -> Option<Stats> {
        let mut s: Vec<f64> = samples
            .iter()
            .map(|(_, v)| *v)
            .filter(|v| v.is_finite())
            .collect();
        let median = median(&mut s)?;
        Some(Stats {
            median,
            min: s[0],
            max: s[s.len() - 1],
            samples: samples.iter().map(|(_, v)| *v).collect(),
        })
    }
}

/// Whether weir meets a target, and how it reads.
#[derive(Clone, Debug, Serialize)]
pub struct TargetResult {
    /// The target, in words.
    pub text: String,
    /// weir's median against it (a ratio for relative targets).
    pub value: f64,
    /// Met or not.
    pub met: bool,
}

/// One metric, aggregated.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Metric id.
    pub id: &'static str,
    /// Workload id.
    pub workload: &'static str,
    /// Workload title.
    pub title: String,
    /// Metric label.
    pub label: &'static str,
    /// Which way is better.
    pub better: Better,
    /// Per server (those that ran it).
    pub servers: BTreeMap<&'static str, Stats>,
    /// The best peer by median, if any peer ran it.
    pub best_peer: Option<&'static str>,
    /// weir over the best peer: the median over rounds of weir's figure over the best
    /// peer's in the same round (the runs are seconds apart, so slow drifts of the machine
    /// cancel out).
    pub ratio: Option<f64>,
    /// Those per-round ratios, in round order.
    pub round_ratios: Vec<f64>,
    /// The target, if any.
    pub target: Option<TargetResult>,
    /// Shown in the markdown table.
    pub in_table: bool,
}

/// Aggregate the samples.
pub fn rows(samples: &Samples, p: &Params) -> Vec<Row> {
    let median_of = |id: &str, server: &str| {
        samples
            .get(id)
            .and_then(|s| s.get(server))
            .and_then(|v| Stats::of(v))
            .map(|s| s.median)
    };
    let mut out = Vec::new();
    for metric in METRICS {
        let Some(by_server) = samples.get(metric.id) else {
            continue;
        };
        let servers: BTreeMap<_, _> = by_server
            .iter()
            .filter_map(|(name, v)| Some((*name, Stats::of(v)?)))
            .collect();
        if servers.is_empty() {
            continue;
        }
        let best_peer = servers
            .iter()
            .filter(|(name, _)| is_plain_peer(name))
            .min_by(|a, b| {
                let (x, y) = (a.1.median, b.1.median);
                match metric.better {
                    Higher => y.total_cmp(&x),
                    Lower => x.total_cmp(&y),
                }
            })
            .map(|(name, _)| *name);
        let weir = servers.get("weir").map(|s| s.median);
        let round_ratios: Vec<f64> = match (by_server.get("weir"), best_peer) {
            (Some(w), Some(b)) => w
                .iter()
                .filter_map(|(round, wv)| {
                    let (_, pv) = by_server[b].iter().find(|(r, _)| r == round)?;
                    Some(wv / pv)
                })
                .filter(|r| r.is_finite())
                .collect(),
            _ => Vec::new(),
        };
        let ratio = median(&mut round_ratios.clone());
        let target = match (metric.target, weir) {
            (Some(Target::AtMost(limit)), Some(w)) => Some(TargetResult {
                text: format!("≤ {}", fmt(limit)),
                value: w,
                met: w <= limit,
            }),
            (Some(Target::PeerAndAtMost(limit)), Some(w)) => {
                let peer = best_peer.and_then(|b| servers.get(b)).map(|s| s.median);
                Some(TargetResult {
                    text: format!("≤ best peer and ≤ {}", fmt(limit)),
                    value: w,
                    met: w <= limit && peer.is_none_or(|p| w <= p),
                })
            }
            (Some(Target::AtLeastOf(other, factor)), Some(w)) => {
                median_of(other, "weir").map(|base| TargetResult {
                    text: format!("≥ {factor} × weir's {}", short_title(other)),
                    value: w / base,
                    met: w >= factor * base,
                })
            }
            _ => None,
        };
        out.push(Row {
            id: metric.id,
            workload: metric.workload.id(),
            title: metric.workload.title(p),
            label: metric.label,
            better: metric.better,
            servers,
            best_peer,
            ratio,
            round_ratios,
            target,
            in_table: metric.in_table,
        });
    }
    out
}

fn short_title(id: &str) -> &'static str {
    match id {
        "upload-length.mbps" => "async upload MB/s",
        _ => "figure",
    }
}

/// A number with sensible precision.
pub fn fmt(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() {
        "—".to_owned()
    } else if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The markdown table (table metrics only).
pub fn markdown_table(rows: &[Row]) -> String {
    let mut s = String::new();
    s.push_str("| workload | metric | ");
    for k in KINDS {
        s.push_str(k.name);
        s.push_str(" | ");
    }
    s.push_str("weir / best peer | weir target |\n|---|---|");
    for _ in KINDS {
        s.push_str("---:|");
    }
    s.push_str("---:|---|\n");
    let mut last_title = String::new();
    for row in rows.iter().filter(|r| r.in_table) {
        let title = if row.title == last_title {
            String::new()
        } else {
            row.title.clone()
        };
        last_title = row.title.clone();
        let arrow = match row.better {
            Higher => "↑",
            Lower => "↓",
        };
        s.push_str(&format!("| {title} | {} {arrow} | ", row.label));
        for k in KINDS {
            match row.servers.get(k.name) {
                Some(st) if st.samples.len() > 1 => s.push_str(&format!(
                    "{} ({}–{}) | ",
                    fmt(st.median),
                    fmt(st.min),
                    fmt(st.max)
                )),
                Some(st) => s.push_str(&format!("{} | ", fmt(st.median))),
                None => s.push_str("— | "),
            }
        }
        match (row.ratio, row.best_peer) {
            (Some(r), Some(b)) => s.push_str(&format!("{r:.2}× {b} | ")),
            _ => s.push_str("— | "),
        }
        match &row.target {
            Some(t) => {
                let value = if t.text.starts_with('≥') {
                    format!("{:.2}×", t.value)
                } else {
                    fmt(t.value)
                };
                let verdict = if t.met { "met" } else { "**missed**" };
                s.push_str(&format!("{}: {verdict} ({value}) |\n", t.text));
            }
            None => s.push_str(" |\n"),
        }
    }
    s
}

/// The median over rounds of `a`'s figure over `b`'s in the same round.
fn round_ratio(samples: &Samples, id: &str, a: &str, b: &str) -> Option<f64> {
    let by = samples.get(id)?;
    let (xa, xb) = (by.get(a)?, by.get(b)?);
    let mut r: Vec<f64> = xa
        .iter()
        .filter_map(|(round, va)| {
            let (_, vb) = xb.iter().find(|(r, _)| r == round)?;
            Some(va / vb)
        })
        .filter(|r| r.is_finite())
        .collect();
    median(&mut r)
}

/// The access-log comparison: plaintext and pipelined with every log off (weir-server and
/// `hello --no-access-log` against the peers without logs), then on (`hello` with its
/// default access log to a file against the peers with theirs), and the cost of the log:
/// each server's CPU per request with its log on over off, in the same rounds.
pub fn access_log_tables(rows: &[Row], samples: &Samples) -> String {
    let sets: [(&str, &[&str]); 2] = [
        (
            "access log off",
            &["weir", "hello-nolog", "actix-web", "hyper"],
        ),
        (
            "access log on, to a file",
            &["hello", "hello-before", "actix-web+log", "hyper+log"],
        ),
    ];
    let ids = [
        "plaintext.cpu_us",
        "plaintext.rps",
        "pipelined.cpu_us",
        "pipelined.rps",
        "echo.cpu_us",
        "echo.rps",
    ];
    let mut s = String::new();
    for (title, names) in sets {
        let present: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| {
                rows.iter()
                    .any(|r| ids.contains(&r.id) && r.servers.contains_key(n))
            })
            .collect();
        if present.len() < 2 {
            continue;
        }
        s.push_str(&format!("\n**{title}**\n\n| workload | metric | "));
        for n in &present {
            s.push_str(&format!("{n} | "));
        }
        s.push_str("\n|---|---|");
        for _ in &present {
            s.push_str("---:|");
        }
        s.push('\n');
        for row in rows.iter().filter(|r| ids.contains(&r.id)) {
            if !present.iter().any(|n| row.servers.contains_key(n)) {
                continue;
            }
            let arrow = match row.better {
                Higher => "↑",
                Lower => "↓",
            };
            s.push_str(&format!("| {} | {} {arrow} | ", row.title, row.label));
            for n in &present {
                match row.servers.get(n) {
                    Some(st) if st.samples.len() > 1 => s.push_str(&format!(
                        "{} ({}–{}) | ",
                        fmt(st.median),
                        fmt(st.min),
                        fmt(st.max)
                    )),
                    Some(st) => s.push_str(&format!("{} | ", fmt(st.median))),
                    None => s.push_str("— | "),
                }
            }
            s.push('\n');
        }
    }
    let pairs = [
        ("hello", "hello-nolog", "weir `hello`, access log on / off"),
        (
            "hello-before",
            "hello-nolog",
            "weir `hello` before (tracing line) / log off",
        ),
        ("echo", "echo-nolog", "weir `echo`, access log on / off"),
        ("actix-web+log", "actix-web", "actix-web, Logger on / off"),
        ("hyper+log", "hyper", "hyper, tracing line on / off"),
    ];
    let mut lines = Vec::new();
    for (on, off, what) in pairs {
        let mut cells = Vec::new();
        for id in ["plaintext.cpu_us", "pipelined.cpu_us", "echo.cpu_us"] {
            if let Some(r) = round_ratio(samples, id, on, off) {
                cells.push(format!("{} {r:.2}×", id.split('.').next().unwrap_or(id)));
            }
        }
        if !cells.is_empty() {
            lines.push(format!("- {what}: {}\n", cells.join(", ")));
        }
    }
    if !lines.is_empty() {
        s.push_str(
            "\n**Access-log cost**: CPU per request with the log on over off (median of \
             per-round ratios; target for weir ≤ 1.10×)\n\n",
        );
        for l in lines {
            s.push_str(&l);
        }
    }
    s
}

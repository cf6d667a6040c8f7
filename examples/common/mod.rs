//! Shared command-line handling for the examples: `--bind HOST:PORT`, `--workers N`,
//! `--pool N`, `--queue N`.

use std::net::SocketAddr;

/// Command-line options every example accepts.
pub struct Args {
    /// Address to bind (`--bind`, default `127.0.0.1:8080`; port 0 picks a free port).
    pub bind: String,
    /// Worker threads (`--workers`, default one per core).
    pub workers: Option<usize>,
    /// Blocking-pool threads (`--pool`, default from `Config`).
    pub pool: Option<usize>,
    /// Blocking jobs that may wait for a pool thread before 503 (`--queue`).
    pub queue: Option<usize>,
}

impl Args {
    /// A `Config` with these options applied.
    pub fn config(&self) -> weir_actors::Config {
        let mut cfg = weir_actors::Config::default();
        if let Some(n) = self.workers {
            cfg.workers = n;
        }
        if let Some(n) = self.pool {
            cfg.pool_threads = n;
        }
        if let Some(n) = self.queue {
            cfg.pool_queue = n;
        }
        cfg
    }
}

/// Parse `std::env::args`, exiting with a usage line on anything unknown.
pub fn args() -> Args {
    let mut out = Args {
        bind: "127.0.0.1:8080".to_owned(),
        workers: None,
        pool: None,
        queue: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match (a.as_str(), it.next()) {
            ("--bind", Some(v)) => out.bind = v,
            ("--workers", Some(v)) => out.workers = v.parse().ok().filter(|&n| n > 0),
            ("--pool", Some(v)) => out.pool = v.parse().ok().filter(|&n| n > 0),
            ("--queue", Some(v)) => out.queue = v.parse().ok(),
            _ => {
                eprintln!("usage: [--bind HOST:PORT] [--workers N] [--pool N] [--queue N]");
                std::process::exit(2);
            }
        }
    }
    out
}

/// Print the one line scripts wait for, once the server accepts.
pub fn announce(addr: SocketAddr) {
    use std::io::Write;
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();
}

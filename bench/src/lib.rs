//! `weir-bench`: what the three benchmark servers share.
//!
//! The servers (`weir-server`, `actixweb-server`, `hyper-server`) serve the same routes:
//!
//! | route | answer |
//! |---|---|
//! | `GET /` | `Hello, World!` (text/plain) |
//! | `POST /count` | the body, streamed and counted as it arrives: answers the byte count |
//! | `POST /switch-count` | weir only: the same count, read by a blocking reader after the sync switch at byte 0 |
//! | `GET /stream` | 1 MiB as [`STREAM_CHUNKS`] × [`STREAM_CHUNK`] bytes, with a Content-Length |
//! | `GET /poll` | long-poll: held until the client leaves or [`POLL_TIMEOUT`], then 204 |
//! | `GET /block?ms=M` | a blocking `sleep(M ms)` (M ≤ 10000) on the blocking pool, then `slept=M` |
//!
//! Each takes `--bind HOST:PORT`, `--workers N` and `--access-log FILE` ([`ServerArgs`]),
//! and prints `listening on http://HOST:PORT` to stdout once it accepts. None logs anything
//! by default (`weir-server` logs to stderr when `RUST_LOG` asks: [`init_logging`]); with
//! `--access-log FILE` each writes one access line per request to FILE, the way its users
//! would set that up.

use std::net::SocketAddr;
use std::time::Duration;

/// Bytes in one chunk of `GET /stream`.
pub const STREAM_CHUNK: usize = 64 * 1024;
/// Chunks in one `GET /stream` response (16 × 64 KiB = 1 MiB).
pub const STREAM_CHUNKS: usize = 16;
/// Total bytes of one `GET /stream` response.
pub const STREAM_BYTES: usize = STREAM_CHUNK * STREAM_CHUNKS;
/// How long `GET /poll` holds a request that nothing answers.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest `ms` `GET /block` accepts.
pub const MAX_BLOCK_MS: u64 = 10_000;

/// One `GET /stream` chunk: a static pattern, so no server pays for generating it.
pub static PATTERN: [u8; STREAM_CHUNK] = {
    let mut p = [0u8; STREAM_CHUNK];
    let mut i = 0;
    while i < STREAM_CHUNK {
        p[i] = b'a' + (i % 26) as u8;
        i += 1;
    }
    p
};

/// Command-line options every server accepts (`--help` lists them with their defaults). The
/// driver starts each server with `--bind 127.0.0.1:0 --workers 1`.
#[derive(clap::Args, Clone, Debug)]
pub struct ServerArgs {
    /// Address to listen on; port 0 picks a free port
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Worker threads
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = at_least_one)]
    pub workers: usize,
    /// Append an access line per request to FILE (weir-server: weir's access log;
    /// actix-web: `Logger` through env_logger; hyper: a tracing line through
    /// tracing-appender's non-blocking writer); no access log without it
    #[arg(long = "access-log", value_name = "FILE")]
    pub access_log: Option<std::path::PathBuf>,
}

/// The command line of a benchmark server: only the shared options.
#[derive(clap::Parser)]
#[command(
    about = "A weir-bench server: serves the benchmark routes (see the weir_bench crate docs) \
             and prints `listening on http://HOST:PORT` once it accepts"
)]
struct ServerCli {
    #[command(flatten)]
    server: ServerArgs,
}

/// A count that must be at least 1: zero workers would serve nothing.
fn at_least_one(v: &str) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

impl ServerArgs {
    /// Parse `std::env::args`; on a bad or unknown option, clap's message on stderr and
    /// exit status 2 (`--help`: the options, and status 0).
    pub fn from_env() -> ServerArgs {
        <ServerCli as clap::Parser>::parse().server
    }

    /// Parse options from `args` (without the program name).
    pub fn try_parse_from<I, T>(args: I) -> Result<ServerArgs, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let argv = std::iter::once(std::ffi::OsString::from("server"))
            .chain(args.into_iter().map(Into::into));
        <ServerCli as clap::Parser>::try_parse_from(argv).map(|cli| cli.server)
    }
}

/// Install a `tracing` subscriber on stderr for a server binary, filtered by `RUST_LOG` and
/// off without it: a measured server logs nothing (the driver clears `RUST_LOG`), while
/// `RUST_LOG=debug` still shows what weir does when a run needs explaining.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Print the one line the driver waits for, once the server accepts.
pub fn announce(addr: SocketAddr) {
    use std::io::Write;
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();
}

/// The `ms` parameter of `GET /block`, from a query string: `None` if absent, malformed or
/// above [`MAX_BLOCK_MS`].
pub fn block_ms(query: Option<&str>) -> Option<u64> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("ms="))
        .and_then(|v| v.parse().ok())
        .filter(|&ms| ms <= MAX_BLOCK_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_block_ms() {
        assert_eq!(block_ms(Some("ms=20")), Some(20));
        assert_eq!(block_ms(Some("a=1&ms=7")), Some(7));
        assert_eq!(block_ms(Some("ms=99999")), None);
        assert_eq!(block_ms(Some("ms=x")), None);
        assert_eq!(block_ms(None), None);
    }

    #[test]
    fn parses_server_args() {
        let a = ServerArgs::try_parse_from(["--bind", "127.0.0.1:0", "--workers", "2"]).unwrap();
        assert_eq!(a.bind.port(), 0);
        assert_eq!(a.workers, 2);
        let a = ServerArgs::try_parse_from::<_, &str>([]).unwrap();
        assert_eq!(a.bind, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!(a.workers, 1);
        for bad in [
            &["--workers", "0"][..],
            &["--workers", "abc"],
            &["--bind", "nowhere"],
            &["--nope", "1"],
        ] {
            let e = ServerArgs::try_parse_from(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad:?}");
        }
    }
}

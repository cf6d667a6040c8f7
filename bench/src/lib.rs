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
//! Each takes `--bind HOST:PORT` and `--workers N`, and prints `listening on http://HOST:PORT`
//! to stdout once it accepts. None logs anything by default.

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

/// Command-line options every server accepts.
#[derive(Clone, Debug)]
pub struct ServerArgs {
    /// Address to bind (`--bind`, default `127.0.0.1:8080`; port 0 picks a free port).
    pub bind: SocketAddr,
    /// Worker threads (`--workers`, default 1).
    pub workers: usize,
}

impl ServerArgs {
    /// Parse `std::env::args`, exiting with a usage line on anything unknown.
    pub fn from_env() -> ServerArgs {
        match ServerArgs::parse(std::env::args().skip(1)) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("{e}\nusage: [--bind HOST:PORT] [--workers N]");
                std::process::exit(2);
            }
        }
    }

    /// Parse options from `args` (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<ServerArgs, String> {
        let mut out = ServerArgs {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            workers: 1,
        };
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
            match a.as_str() {
                "--bind" => out.bind = v.parse().map_err(|e| format!("--bind {v}: {e}"))?,
                "--workers" => {
                    out.workers = v
                        .parse()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| format!("--workers {v}: want a positive number"))?
                }
                _ => return Err(format!("unknown option {a}")),
            }
        }
        Ok(out)
    }
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
        let a = ServerArgs::parse(["--bind", "127.0.0.1:0", "--workers", "2"].map(String::from))
            .unwrap();
        assert_eq!(a.bind.port(), 0);
        assert_eq!(a.workers, 2);
        assert!(ServerArgs::parse(["--workers", "0"].map(String::from)).is_err());
        assert!(ServerArgs::parse(["--nope", "1"].map(String::from)).is_err());
    }
}

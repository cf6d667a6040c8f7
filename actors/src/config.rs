//! Runtime configuration: every limit and timeout, each with its default and why.

use std::time::Duration;

use weir::Limits;

use crate::access_log::AccessLogConfig;

/// A minimum data rate: at least `bytes_per_second`, averaged over consecutive windows of
/// `grace` length, the first starting when the connection starts waiting on the client.
/// See [`Config::min_request_body_rate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinDataRate {
    /// Bytes per second the client must move, on average over a window.
    pub bytes_per_second: u64,
    /// The window (and so the grace before the first check).
    pub grace: Duration,
}

/// Server configuration. Build it from `Config::default()` and adjust fields.
#[derive(Clone, Debug)]
pub struct Config {
    /// Parsing limits (head size, header count, body size, chunk extensions, trailers).
    pub limits: Limits,
    /// Worker threads (actix Arbiters) that connections are spread over. Default: one per
    /// core, as each worker is single-threaded and connections never move between them.
    pub workers: usize,
    /// Concurrent connections per worker; past it the acceptor stops calling `accept()` until
    /// one closes (taken at accept time, released when the connection ends). Default 25,000,
    /// actix-web's default: bounded, yet enough for many idle Comet clients.
    pub max_connections_per_worker: usize,
    /// Listen backlog. Default 2048, actix-server's default.
    pub backlog: u32,
    /// How long a graceful shutdown waits for in-flight requests before closing the rest.
    /// Default 30 s (actix-server's). Rounded up to whole seconds.
    pub shutdown_timeout: Duration,
    /// Idle time allowed between requests on a keep-alive connection before it is closed
    /// quietly. Default 5 s (actix-web's): short, because idle sockets cost file descriptors.
    pub keep_alive_timeout: Duration,
    /// Time allowed to receive a whole request head, from its first byte (from accept, for a
    /// connection's first request); past it the server answers 408 and closes, or closes
    /// quietly if nothing arrived (slowloris defence: later bytes do not extend it).
    /// Default 10 s.
    pub header_read_timeout: Duration,
    /// Time the body may stall (no bytes while the app waits for a chunk) before the read
    /// fails with a timeout error and the connection closes. Default 30 s.
    pub body_read_timeout: Duration,
    /// Time a pending write may make no progress (a client that stopped reading) before the
    /// connection is dropped. Default 30 s.
    pub write_timeout: Duration,
    /// After a response, how many unread body bytes the server will read and discard to keep
    /// the connection; a larger remainder closes it instead. Default 256 KiB: cheaper to drain
    /// than to reconnect, small enough that a huge upload is not read for nothing.
    pub drain_limit: u64,
    /// Lingering close: after an error response, how long to keep reading and discarding
    /// input so the client sees the response rather than a reset. Default 2 s.
    pub linger_timeout: Duration,
    /// Bytes discarded at most while lingering. Default 256 KiB.
    pub linger_limit: u64,
    /// Response bytes buffered per connection before the app is made to wait (backpressure
    /// toward slow readers). Default 64 KiB: one large socket write's worth.
    pub write_high_water: usize,
    /// Largest single socket read. Bounds read-ahead: the server never holds more than this
    /// of a body the app did not ask for. Default 64 KiB.
    pub read_buffer: usize,
    /// When the client has gone and the app does not finish, how long before the runtime
    /// drops the app's future. Default 5 s.
    pub abandon_grace: Duration,
    /// Threads in the blocking pool (sync apps, the sync switch, delegated blocking calls).
    /// Default: four per core, between 4 and 64: blocking apps mostly wait on I/O, so more
    /// threads than cores keep the cores busy, and the bound keeps memory predictable.
    pub pool_threads: usize,
    /// Blocking jobs that may wait for a free pool thread; past it the server answers 503
    /// with `Retry-After`. Default 256.
    pub pool_queue: usize,
    /// The access log: one line per request, in a [format](crate::access_log::AccessLogFormat)
    /// to a [sink](crate::access_log::AccessLogSink), written off the request path (see
    /// [`access_log`](crate::access_log)); `None` turns it off. Default
    /// `Some(AccessLogConfig::default())`: the `line` format to stderr, because a server
    /// that says nothing about what it serves is hard to operate, and the log is now cheap
    /// enough (batched, written by its own thread) to leave on.
    pub access_log: Option<AccessLogConfig>,
    /// What a read EOF from the client means. Default false: the client is gone, the
    /// connection closes and a running app sees `ClientGone` (hyper's and nginx's default;
    /// most clients that stop sending have stopped reading too). True: a client that sent
    /// whole requests and then shut its write side (`shutdown(SHUT_WR)`: HTTP/1.0-style
    /// scripts, `nc -N`, some health checkers) gets the responses to every request already
    /// received, and the connection closes after the last (hyper's `half_close`). An EOF
    /// inside a head or body still closes at once.
    pub half_close: bool,
    /// Minimum rate for a request body, counted only while the app waits for body bytes
    /// the client has not sent (so an app that does not read never puts its client at
    /// fault). Below it the app's read fails and the connection closes, with `408` if no
    /// response was started. Default 240 B/s over 5 s windows (Kestrel's
    /// `MinRequestBodyDataRate`): a client this slow holds a connection for hours with a
    /// few bytes every few seconds, which no stall timeout notices. `None` turns it off; an
    /// app can turn both rates off for one request with `Exchange::set_min_data_rates`.
    pub min_request_body_rate: Option<MinDataRate>,
    /// Minimum rate at which the client reads the response, counted only while response
    /// bytes wait in the write buffer (so a response the app produces slowly, a long-poll
    /// or an SSE stream, never puts its client at fault). Below it the connection is reset.
    /// Default 240 B/s (Kestrel's `MinResponseDataRate`) with 5 s of grace. Counted as
    /// credit, capped at `grace` plus the time a client at the rate needs to drain half the
    /// socket's send buffer, since the kernel takes more from weir only then (see
    /// `connection/rate.rs`).
    pub min_response_rate: Option<MinDataRate>,
    /// Largest WebSocket message (fragments reassembled); past it the connection is closed
    /// with 1009 (RFC 6455 §7.4.1). Default 1 MiB, actix-ws's aggregation limit: a chat or
    /// RPC message is far smaller, and each connection may hold one whole message in memory
    /// (tungstenite's 64 MiB default would let a few clients exhaust a server).
    pub ws_max_message: usize,
    /// Largest single WebSocket frame (checked from the frame header, before its payload is
    /// read); past it, close 1009. Default 1 MiB, the same bound: a frame cannot be larger
    /// than the message it belongs to.
    pub ws_max_frame: usize,
    /// Send a ping after this long without hearing from the client, to keep proxies from
    /// closing an idle socket (nginx's `proxy_read_timeout` is 60 s) and to find dead peers.
    /// Default `None`: the runtime reads only when the app asks for a message, so apps that
    /// keep a `recv` outstanding (the usual loop) should turn this on, e.g. 30 s.
    pub ws_ping_interval: Option<Duration>,
    /// With `ws_ping_interval`: if nothing at all arrives this long after a ping, the peer
    /// is taken as dead and the TCP connection dropped without a close frame (the app sees
    /// the connection end, close code 1006 in RFC 6455 §7.1.5 terms: a close frame to a
    /// dead peer would only wait for the write timeout). Default 10 s.
    pub ws_pong_timeout: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            limits: Limits::default(),
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_connections_per_worker: 25_000,
            backlog: 2048,
            shutdown_timeout: Duration::from_secs(30),
            keep_alive_timeout: Duration::from_secs(5),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            drain_limit: 256 * 1024,
            linger_timeout: Duration::from_secs(2),
            linger_limit: 256 * 1024,
            write_high_water: 64 * 1024,
            read_buffer: 64 * 1024,
            abandon_grace: Duration::from_secs(5),
            pool_threads: (4 * std::thread::available_parallelism().map_or(1, |n| n.get()))
                .clamp(4, 64),
            pool_queue: 256,
            access_log: Some(AccessLogConfig::default()),
            half_close: false,
            min_request_body_rate: Some(MinDataRate {
                bytes_per_second: 240,
                grace: Duration::from_secs(5),
            }),
            min_response_rate: Some(MinDataRate {
                bytes_per_second: 240,
                grace: Duration::from_secs(5),
            }),
            ws_max_message: 1 << 20,
            ws_max_frame: 1 << 20,
            ws_ping_interval: None,
            ws_pong_timeout: Duration::from_secs(10),
        }
    }
}

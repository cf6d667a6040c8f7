//! Serving streams you accept yourself: a Unix socket, a socket handed over by another
//! process, an in-memory pipe in a test or a fuzzer.
//!
//! [`Server`](crate::Server) accepts TCP connections and spreads them over worker threads.
//! [`Connections`] is one worker's part of it without the acceptor: the same connection
//! actor, limits, timeouts, blocking pool and access log, serving whatever [`Io`] stream it
//! is given on the current thread (as hyper's `serve_connection` does).
//!
//! ```
//! use weir_actors::serve::Connections;
//! use weir_actors::weir::rt::ConnInfo;
//! use weir_actors::weir::{Exchange, StatusCode};
//! use weir_actors::Config;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # actix_rt::System::new().block_on(async {
//! let app = |ex: Exchange| async move { ex.respond(StatusCode::OK, [("x", "y")], "hi").await };
//! let conns = Connections::new(app, Config::default());
//! let (mut client, server) = tokio::io::duplex(4096);
//! let addr = "127.0.0.1:1".parse().unwrap();
//! let done = conns.serve(server, ConnInfo::new(addr, addr));
//! client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
//! let mut out = String::new();
//! client.read_to_string(&mut out).await.unwrap();
//! assert!(out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with("\r\n\r\nhi"));
//! done.await;
//! # });
//! ```

use std::future::Future;
use std::rc::Rc;

use futures::channel::oneshot;
use weir::rt::ConnInfo;
use weir::App;

use crate::access_log::AccessLog;
use crate::connection::Connection;
use crate::io::Io;
use crate::pool::SyncPool;
use crate::worker::Worker;
use crate::Config;

/// The connections of one thread, for streams accepted elsewhere (see the module docs).
/// Not `Send`: make one per thread, inside an actix `System`.
pub struct Connections {
    worker: Rc<Worker<Connection>>,
    /// The access log's writer thread: it exits, after writing every line, once this and
    /// every connection are gone.
    _access_log: Option<AccessLog>,
}

impl Connections {
    /// Serve `app` with `cfg`. Starts a blocking pool of `cfg.pool_threads` threads, so it
    /// must be called inside an actix `System`. If the access log's file cannot be opened,
    /// the error is logged and requests are served without it.
    pub fn new<A: App>(app: A, cfg: Config) -> Connections {
        let pool = SyncPool::start(cfg.pool_threads, cfg.pool_queue);
        let access_log = cfg
            .access_log
            .as_ref()
            .and_then(|c| match AccessLog::start(c) {
                Ok(log) => Some(log),
                Err(e) => {
                    tracing::error!(error = %e, "cannot open the access log; serving without it");
                    None
                }
            });
        let worker_log = access_log.as_ref().map(|l| l.handle().worker());
        let worker = Worker::new(cfg, Box::new(move |ex| app.call(ex)), pool);
        Connections {
            worker: Rc::new(worker.with_access_log(worker_log)),
            _access_log: access_log,
        }
    }

    /// Serve HTTP/1.1 on `io`, a connection described by `info`. The returned future
    /// resolves when the connection has closed; the connection is served whether or not it
    /// is awaited.
    pub fn serve(&self, io: impl Io, info: ConnInfo) -> impl Future<Output = ()> {
        let (done, closed) = oneshot::channel::<()>();
        Connection::start(Box::new(io), info, Rc::clone(&self.worker), done);
        async move {
            let _ = closed.await;
        }
    }

    /// Begin a graceful shutdown: idle connections close at once, busy ones finish their
    /// response with `Connection: close`, and apps see their close signal.
    pub fn shutdown(&self) {
        self.worker.shutdown();
    }
}

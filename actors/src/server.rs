//! The server: binds, accepts, spreads connections over worker arbiters, shuts down.
//!
//! Built on `actix-server`, which already does the acceptor well: connection limits taken at
//! accept time and released when a connection ends, no `accept()` while saturated, back-off
//! on `EMFILE`, and a graceful stop with a deadline. weir adds what HTTP needs on top: each
//! worker's connections hear about a graceful shutdown (idle keep-alive connections close
//! at once, busy ones finish their response and close, apps see their close signal), and
//! SIGINT as well as SIGTERM is graceful.

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_rt::net::TcpStream;
use actix_service::fn_service;
use futures::channel::oneshot;
use futures::future::{ready, Either, FutureExt, Map, Ready};
use weir::App;

use crate::access_log::AccessLog;
use crate::connection::Connection;
use crate::pool::SyncPool;
use crate::worker::Worker;
use crate::Config;

/// A weir HTTP/1.1 server for one app. Must be run inside an actix `System`.
///
/// ```no_run
/// use weir_actors::{Config, Server};
/// use weir_actors::weir::{Exchange, StatusCode};
///
/// #[actix_rt::main]
/// async fn main() -> std::io::Result<()> {
///     let app = |ex: Exchange| async move {
///         ex.respond(StatusCode::OK, [("content-type", "text/plain")], "Hello, World!").await
///     };
///     let running = Server::new(app).bind("127.0.0.1:8080")?.run()?;
///     running.await
/// }
/// ```
pub struct Server<A: App> {
    app: A,
    cfg: Config,
    listeners: Vec<TcpListener>,
    signals: bool,
}

impl<A: App> Server<A> {
    /// A server for `app` with the default [`Config`].
    pub fn new(app: A) -> Server<A> {
        Server {
            app,
            cfg: Config::default(),
            listeners: Vec::new(),
            signals: true,
        }
    }

    /// Use `cfg`.
    pub fn config(mut self, cfg: Config) -> Server<A> {
        self.cfg = cfg;
        self
    }

    /// Bind a listening socket now (so a port 0 is resolved before `run`).
    pub fn bind(mut self, addr: impl ToSocketAddrs) -> io::Result<Server<A>> {
        let mut last = None;
        for a in addr.to_socket_addrs()? {
            match bind_listener(a, self.cfg.backlog) {
                Ok(l) => {
                    self.listeners.push(l);
                    return Ok(self);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address")))
    }

    /// Serve on an already bound listener.
    pub fn listen(mut self, listener: TcpListener) -> Server<A> {
        self.listeners.push(listener);
        self
    }

    /// Do not install SIGINT/SIGTERM handlers (for servers embedded in a larger system that
    /// stops them through [`ServerHandle::stop`]).
    pub fn disable_signals(mut self) -> Server<A> {
        self.signals = false;
        self
    }

    /// The addresses the server listens on.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Start accepting. The returned [`Running`] resolves when the server has stopped.
    pub fn run(self) -> io::Result<Running> {
        let addrs = self.local_addrs();
        let cfg = self.cfg;
        let secs = cfg.shutdown_timeout.as_millis().div_ceil(1000) as u64;
        let mut builder = actix_server::Server::build()
            .workers(cfg.workers.max(1))
            .max_concurrent_connections(cfg.max_connections_per_worker)
            .backlog(cfg.backlog)
            .shutdown_timeout(secs);
        builder = if self.signals {
            builder.shutdown_signal(os_signal())
        } else {
            builder.disable_signals()
        };
        let shutdown = builder.graceful_shutdown_signal();
        // Opened before anything starts, so a bad access-log path fails `run`.
        let access_log = cfg.access_log.as_ref().map(AccessLog::start).transpose()?;
        let access_handle = access_log.as_ref().map(AccessLog::handle);
        let pool = SyncPool::start(cfg.pool_threads, cfg.pool_queue);
        for (i, listener) in self.listeners.into_iter().enumerate() {
            let app = self.app.clone();
            let cfg = cfg.clone();
            let shutdown = shutdown.clone();
            let pool = pool.clone();
            let access_handle = access_handle.clone();
            builder = builder.listen(format!("weir-{i}"), listener, move || {
                // Runs once per worker, on the worker's thread.
                let app = app.clone();
                let worker = Rc::new(
                    Worker::new(cfg.clone(), Box::new(move |ex| app.call(ex)), pool.clone())
                        .with_access_log(access_handle.as_ref().map(|h| h.worker())),
                );
                let on_stop = Rc::clone(&worker);
                let shutdown = shutdown.clone();
                actix_rt::spawn(async move {
                    shutdown.notified().await;
                    on_stop.shutdown();
                });
                fn_service(move |stream: TcpStream| serve_connection(stream, Rc::clone(&worker)))
            })?;
        }
        let server = builder.run();
        Ok(Running {
            handle: ServerHandle {
                inner: server.handle(),
            },
            server,
            addrs,
            access_log,
            draining: None,
            result: None,
        })
    }
}

/// What actix-server holds per connection: an immediate setup error, or the receiver that
/// resolves when the connection actor stops.
type ConnectionLife = Either<
    Ready<io::Result<()>>,
    Map<oneshot::Receiver<()>, fn(Result<(), oneshot::Canceled>) -> io::Result<()>>,
>;

/// Start a connection actor for `io`. The returned future (what actix-server holds, with
/// the connection's slot, for the connection's whole life) is only the receiver that
/// resolves when the actor stops: an idle connection should cost as little as possible.
fn serve_connection(stream: TcpStream, worker: Rc<Worker<Connection>>) -> ConnectionLife {
    match crate::io::tcp(stream) {
        Ok((io, info)) => {
            let (done, closed) = oneshot::channel::<()>();
            Connection::start(io, info, worker, done);
            Either::Right(closed.map(|_| Ok(())))
        }
        Err(e) => Either::Left(ready(Err(e))),
    }
}

fn bind_listener(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let domain = socket2::Domain::for_address(addr);
    let sock = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    sock.bind(&addr.into())?;
    sock.listen(backlog.min(i32::MAX as u32) as i32)?;
    sock.set_nonblocking(true)?;
    Ok(sock.into())
}

/// Resolves on SIGINT or SIGTERM: both start a graceful shutdown.
async fn os_signal() {
    #[cfg(unix)]
    {
        use actix_rt::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                let _ = actix_rt::signal::ctrl_c().await;
                return;
            }
        };
        let which = futures::select! {
            _ = actix_rt::signal::ctrl_c().fuse() => "SIGINT",
            _ = term.recv().fuse() => "SIGTERM",
        };
        tracing::info!("{which} received; shutting down gracefully");
    }
    #[cfg(not(unix))]
    {
        let _ = actix_rt::signal::ctrl_c().await;
        tracing::info!("interrupt received; shutting down gracefully");
    }
}

/// A running server: a future that resolves when it has stopped, and its handle.
///
/// It resolves once the workers have stopped *and* the access log has written every line
/// they logged (see [`access_log`](crate::access_log)), so a process that exits when
/// `Running` resolves loses no lines.
pub struct Running {
    handle: ServerHandle,
    server: actix_server::Server,
    addrs: Vec<SocketAddr>,
    access_log: Option<AccessLog>,
    /// After the server stopped: the access log's writer finishing.
    draining: Option<Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
    /// The server's result, kept while the access log drains.
    result: Option<io::Result<()>>,
}

impl Running {
    /// A handle to stop the server.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// The addresses the server listens on.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Access-log lines dropped so far because the sink could not keep up (also counted by
    /// the `metrics` counter `weir_access_log_dropped_total`); 0 when the log is off.
    pub fn access_log_dropped(&self) -> u64 {
        self.access_log.as_ref().map_or(0, AccessLog::dropped)
    }
}

impl std::future::Future for Running {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.result.is_none() {
            let Poll::Ready(res) = Pin::new(&mut this.server).poll(cx) else {
                return Poll::Pending;
            };
            this.result = Some(res);
            // Every worker has stopped (after a graceful stop, every request has finished
            // and logged): the writer takes what the workers buffered and writes it.
            this.draining = this.access_log.as_mut().map(|l| Box::pin(l.close()) as _);
        }
        if let Some(draining) = &mut this.draining {
            if draining.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.draining = None;
        }
        Poll::Ready(this.result.take().unwrap_or(Ok(())))
    }
}

/// Stops a running server; cheap to clone and `Send`.
#[derive(Clone)]
pub struct ServerHandle {
    inner: actix_server::ServerHandle,
}

impl ServerHandle {
    /// Graceful stop: stop accepting, close idle connections, let in-flight requests finish
    /// (their connections close after the response) until the shutdown timeout, then close
    /// the rest. Resolves when the server has stopped.
    pub fn stop(&self) -> impl std::future::Future<Output = ()> {
        self.inner.stop(true)
    }

    /// Immediate stop: drop every connection now.
    pub fn stop_now(&self) -> impl std::future::Future<Output = ()> {
        self.inner.stop(false)
    }
}

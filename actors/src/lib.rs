//! weir-actors: the actix runtime for [`weir`]: a server whose connection actors run
//! async-aware and blocking weir apps over HTTP/1.1.
//!
//! Apps need only this crate: it re-exports `weir` as [`weir`] (and `actix`).
//!
//! # Layout
//! - [`server`]: binds, accepts (with `actix-server`), spreads connections over worker
//!   threads, graceful shutdown. [`serve`]: the same for streams accepted elsewhere.
//! - `worker`: what the connections of one worker thread share (config, app, buffer pool,
//!   the shutdown registry).
//! - [`io`]: the connection's byte stream ([`io::Io`]): TCP now, TLS next, in-memory pipes in
//!   tests.
//! - `connection/`: the connection actor, one per connection: its shell (`mod.rs`), the
//!   HTTP/1.1 state machine (`http1`), the I/O driver (`driver`), its one timer (`timer`)
//!   and the access log (`access`).
//! - `fast_path`: the connection polls a new request's app itself; no actor until it waits.
//! - `app`: the app actor, one per request whose app waits, and the sync switch's dispatch.
//! - `transport`: the transports that turn an exchange's awaits (and a switched
//!   continuation's blocking calls) into messages.
//! - `body`: the request-body stage of a connection: one body chunk per `ReadChunk`, only on
//!   demand. `write_buf`: the connection's write buffer.
//! - [`websocket`]: the [`WsConnection`](websocket::WsConnection) actor an upgraded
//!   connection is handed to after its 101 (`connection/upgrade.rs` hands it over): frames
//!   (tungstenite's sans-I/O engine), closing handshake, keep-alive pings.
//! - [`pool`]: the blocking pool (a `SyncArbiter` of [`pool::PoolThread`]s), bounded.
//! - [`messages`]: every message between them.
//! - [`hub`]: a broadcast [`Hub`](hub::Hub) actor for Comet apps; [`comet`]: the SSE loop.
//! - [`config`]: every limit and timeout, with defaults.
//! - `deadline`: the one re-armable timer each actor keeps.
//! - [`access_log`]: the access log: formats, sinks, batching on worker threads and a
//!   writer thread.
//!
//! See ARCHITECTURE.md for the life of one request.
#![deny(missing_docs)]

pub mod access_log;
mod app;
mod body;
pub mod comet;
pub mod config;
mod connection;
mod deadline;
mod fast_path;
pub mod hub;
pub mod io;
pub mod messages;
pub mod pool;
pub mod serve;
pub mod server;
mod transport;
pub mod websocket;
mod worker;
mod write_buf;

/// Re-exported so apps can start and address actors (such as a [`hub::Hub`]) without a
/// separate dependency.
pub use actix;
pub use config::Config;
pub use pool::SyncPool;
pub use server::{Running, Server, ServerHandle};
pub use weir;

/// The README's examples, compiled and run as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

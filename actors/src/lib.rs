//! weir-actors: the actix runtime for [weir](weir): a server, connection, request-body and
//! application actors that run async-aware weir apps over HTTP/1.1.
//!
//! Apps need only this crate: it re-exports `weir` as [`weir`].
//!
//! # Layout
//! - [`server`]: binds, accepts (with `actix-server`), spreads connections over worker
//!   arbiters, graceful shutdown.
//! - `connection`: the [`Connection`] actor, one per TCP connection: parses heads, frames
//!   responses, keep-alive, pipelining, timeouts, lingering close.
//! - `body`: the request-body stage of a connection: one body chunk per `ReadChunk`, only on
//!   demand.
//! - `app`: the [`AppActor`], one per request, driving the app's future; the transports
//!   that turn its awaits (and a switched continuation's blocking calls) into messages.
//! - [`websocket`]: the [`WsConnection`](websocket::WsConnection) actor an upgraded
//!   connection is handed to after its 101: frames (tungstenite's sans-I/O engine), closing
//!   handshake, keep-alive pings.
//! - [`pool`]: the blocking pool (a `SyncArbiter`) with a bounded queue.
//! - [`messages`]: every message between them.
//! - [`hub`]: a broadcast [`Hub`](hub::Hub) actor for Comet apps; [`comet`]: the SSE loop.
//! - [`config`]: every limit and timeout, with defaults.
//!
//! See ARCHITECTURE.md for the life of one request.
#![deny(missing_docs)]

mod app;
mod body;
pub mod comet;
pub mod config;
mod connection;
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

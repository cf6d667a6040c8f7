//! The blocking side: PEP 3333-style apps, the sync switch's continuation, and the bridge
//! that lets a plain blocking app sit under an async-aware stack.
//!
//! A blocking component gets the environ ([`Request`](crate::Request)), a blocking [`Input`]
//! (`std::io::Read` + `BufRead`, fed by messages: each refill asks the connection for the
//! next body chunk and blocks on the reply, so it never reads past the request's end and
//! never buffers the whole body) and a [`StartResponse`] (`start_response`, with `restart`
//! for `exc_info` and the legacy `write`). It runs on a thread of the server's blocking pool.
//!
//! Three ways in:
//! - a [`SyncApp`] (returns a [`ResponseBody`] iterator, as in PEP 3333), made servable by
//!   [`bridge`], which is the async-aware middleware the seed says a server MUST provide;
//!   [`add_header`] and [`content_length`] are sync middleware that wrap one;
//! - the sync switch ([`Exchange::switch_to_sync`](crate::Exchange::switch_to_sync), the
//!   seed's `input_factory`): an async-aware app hands the rest of its request to a
//!   continuation that gets a [`SyncExchange`] whose input starts exactly where async input
//!   stopped;
//! - delegated blocking calls ([`Exchange::blocking`](crate::Exchange::blocking), the seed's
//!   `resume_with_result`).
//!
//! Blocking components receive no handle to the pool: only async-aware code (which holds an
//! `Exchange`) can reach the threading API, by construction.
//!
//! # Layout
//! - `input`: [`Input`], the blocking request body.
//! - `start_response`: [`StartResponse`], on the same head rules as the async side.
//! - `app`: [`SyncApp`], its [`ResponseBody`], [`run_sync_app`] and [`bridge`].
//! - `middleware`: [`add_header`], [`content_length`].
//! - `switch`: [`SyncExchange`], and the runtime's switch hand-off (exported from
//!   [`rt`](crate::rt)).

mod app;
mod input;
mod middleware;
mod start_response;
pub(crate) mod switch;

pub use app::{bridge, run_sync_app, ResponseBody, SyncApp};
pub use input::Input;
pub use middleware::{add_header, content_length};
pub use start_response::StartResponse;
pub use switch::SyncExchange;

pub(crate) use switch::Switch;

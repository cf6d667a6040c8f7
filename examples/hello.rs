//! `hello`: any method, any path → read the whole request body (discarding it), then
//! `200 Hello, World!`. Because it reads the body, framing errors in it are seen.
//!
//! HEAD gets the same head as GET (`Content-Length: 13`) and no body: the runtime drops the
//! body of any response to HEAD.
//!
//! Run: `cargo run --example hello -- --bind 127.0.0.1:8080`, then
//! `curl -i http://127.0.0.1:8080/` (`-- --help` lists every option with its default).

mod common;

use clap::Parser;
use weir_actors::weir::{Exchange, Outcome, Result, StatusCode};
use weir_actors::Server;

/// `hello`: answers every request with `200 Hello, World!`, after reading its body.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    server: common::ServerOptions,
}

async fn hello(mut ex: Exchange) -> Result<Outcome> {
    ex.discard_body().await?;
    ex.respond(
        StatusCode::OK,
        [("content-type", "text/plain")],
        "Hello, World!",
    )
    .await
}

#[actix_rt::main]
async fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    common::init_logging();
    let server = Server::new(hello)
        .config(cli.server.config())
        .bind(&cli.server.bind)?;
    let addr = server.local_addrs()[0];
    let running = server.run()?;
    common::announce(addr);
    running.await
}

//! `hello`: the bare axum hello-world the load benchmark measures the mock server against. It
//! is the floor of what any axum server on this machine can do: no state, no logging, one route.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use clap::Parser;

/// A bare axum hello-world server.
#[derive(Debug, Parser)]
#[command(name = "hello")]
struct Args {
    /// Address and port to listen on (port 0: any free one). The address it got is printed as
    /// `listening on <address>`.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() -> ExitCode {
    match serve(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hello: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    println!("listening on {}", listener.local_addr()?);
    let app = Router::new().route("/", get(|| async { "Hello, World!" }));
    axum::serve(listener, app).await.context("serving")
}

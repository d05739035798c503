//! `hello`: the bare axum hello-world the load benchmark measures the mock server against. It
//! is the floor of what any axum server on this machine can do: no state, no logging, one route.
//!
//! With `--answer <file>` it answers every request with the response in that file instead (as
//! `curl -si` prints it): a server that sends a mock's bytes and does nothing else, so the cost
//! of the bigger response is measured apart from the mock server's own work.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
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
    /// Answer every request with this HTTP response (status line, headers, blank line, body, as
    /// `curl -si` prints it) rather than "Hello, World!".
    #[arg(long)]
    answer: Option<PathBuf>,
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
    // The answer is read first: a file it cannot use stops it before it says it listens.
    let app = match args.answer {
        None => Router::new().route("/", get(|| async { "Hello, World!" })),
        Some(path) => {
            let file =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let answer = parse_answer(&file).with_context(|| format!("in {}", path.display()))?;
            Router::new().fallback(move || {
                let answer = answer.clone();
                async move { answer }
            })
        }
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await.context("serving")
}

/// A response as `curl -si` prints it. Its `Content-Length`, `Date` and `Connection` are left
/// to the server, which sets them as for any answer.
fn parse_answer(file: &[u8]) -> anyhow::Result<(StatusCode, HeaderMap, Bytes)> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(head) = response.parse(file)? else {
        bail!("the response's head is cut off");
    };
    let status = StatusCode::from_u16(response.code.context("no status")?)?;
    let mut map = HeaderMap::new();
    for field in response.headers.iter() {
        let name = HeaderName::from_bytes(field.name.as_bytes())?;
        if ![header::CONTENT_LENGTH, header::DATE, header::CONNECTION].contains(&name) {
            map.append(name, HeaderValue::from_bytes(field.value)?);
        }
    }
    Ok((status, map, Bytes::copy_from_slice(&file[head..])))
}

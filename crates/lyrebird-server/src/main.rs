//! `lyrebird`: parses the command line, sets up logging, and runs the server.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lyrebird_server::config::ServeArgs;
use tracing_subscriber::EnvFilter;

/// Lyrebird: mock API servers you run yourself.
#[derive(Debug, Parser)]
#[command(name = "lyrebird", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the server (with an embedded PostgreSQL unless DATABASE_URL is set).
    Serve(ServeArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let result = match cli.command {
        Command::Serve(args) => lyrebird_server::serve(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("lyrebird: {error:#}");
            ExitCode::FAILURE
        }
    }
}

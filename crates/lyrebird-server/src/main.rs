//! `lyrebird`: parses the command line, sets up logging, and runs the server.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use lyrebird_server::config::ServeArgs;
use lyrebird_server::operator::OperatorCommand;
use lyrebird_store::WorkspaceRef;
use tracing_subscriber::EnvFilter;

/// Much faster than glibc's malloc for the many small, short-lived allocations of a mock call
/// (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Lyrebird: mock API servers you run yourself.
#[derive(Debug, Parser)]
#[command(name = "lyrebird", version, about)]
struct Cli {
    /// How log lines are written to standard error: `text` for people, `json` (one object per
    /// line) for log collectors. Which lines: RUST_LOG (default `info,sqlx=warn`).
    #[arg(
        long,
        env = "LYREBIRD_LOG_FORMAT",
        default_value = "text",
        global = true
    )]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the server (with an embedded PostgreSQL unless DATABASE_URL is set).
    Serve(ServeArgs),
    #[command(flatten)]
    Client(lyrebird_cli::Command),
    /// The operator's commands: operators, workspaces, suspension and plans.
    Operator {
        #[command(subcommand)]
        command: OperatorCommand,
    },
    /// Sets a workspace's quota (the older spelling of `lyrebird operator quota`).
    Workspace {
        #[command(subcommand)]
        command: WorkspaceCommand,
    },
}

#[derive(Debug, Subcommand)]
enum WorkspaceCommand {
    /// Sets a workspace's monthly quota of mock calls; running servers apply it at once. Uses
    /// the same database as `lyrebird serve` with the same options.
    SetQuota {
        /// The workspace's id, or its owner's email.
        workspace: WorkspaceRef,
        /// Mock calls per calendar month (UTC).
        quota: u64,
        #[command(flatten)]
        database: ServeArgs,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")),
        )
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().init(),
    }
    let result = match cli.command {
        // The client commands print for people and scripts, with exit codes of their own.
        Command::Client(command) => return lyrebird_cli::run(command).await,
        Command::Serve(args) => lyrebird_server::serve(args).await,
        Command::Operator { command } => lyrebird_server::operator::run(command)
            .await
            .map(|said| println!("{said}")),
        Command::Workspace {
            command:
                WorkspaceCommand::SetQuota {
                    workspace,
                    quota,
                    database,
                },
        } => lyrebird_server::api::usage::set_quota(&database, &workspace, quota)
            .await
            .map(|id| println!("workspace {id}: monthly quota set to {quota} mock calls")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("lyrebird: {error:#}");
            ExitCode::FAILURE
        }
    }
}

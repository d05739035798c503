//! The commands of `lyrebird` that are clients of a running server, over its admin API:
//!
//! - `lyrebird mock push | pull | diff`: a mock kept as files in a directory, under version
//!   control like the code it serves ("mocks as code"; docs/cli.md);
//! - `lyrebird verify FILE`: checks of the calls a mock received, for the end of a test run.
//!
//! They exit with 0 when all is well, 1 when they found what they were asked to look for
//! (differences, a failed check), and 2 when they could not do their work (a bad file, no
//! server, a refusal), with the reason on standard error.

mod client;
mod layout;
mod line_diff;
mod mocks;
mod verify;

use std::process::ExitCode;

use clap::Subcommand;

pub use client::API_KEY_VAR;
pub use mocks::MockCommand;
pub use verify::VerifyArgs;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// A mock kept as files: push a directory to the server, pull a mock into one, or diff the
    /// two. The admin key is read from LYREBIRD_API_KEY.
    Mock {
        #[command(subcommand)]
        command: MockCommand,
    },
    /// Checks the calls a mock received against a file of expectations (JSON or YAML). The admin
    /// key is read from LYREBIRD_API_KEY.
    Verify(VerifyArgs),
}

/// How a command that did its work ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Nothing to report: exit code 0.
    Clean,
    /// Differences found (`diff --exit-code`) or a check failed: exit code 1.
    Flagged,
}

/// Runs a client command; its exit code: 0, 1 ([`Status::Flagged`]) or 2 with a message on
/// standard error when it could not do its work.
pub async fn run(command: Command) -> ExitCode {
    let result = match command {
        Command::Mock { command } => mocks::run(command).await,
        Command::Verify(args) => verify::run(args).await,
    };
    match result {
        Ok(Status::Clean) => ExitCode::SUCCESS,
        Ok(Status::Flagged) => ExitCode::from(1),
        Err(error) => {
            eprintln!("lyrebird: {error:#}");
            ExitCode::from(2)
        }
    }
}

//! One module per command; each turns its parsed arguments into library calls.

mod copy;

use crate::cli::{Cli, Command};
use crate::failure::Failure;

/// Runs the parsed command line, honouring --command-timeout.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    let global = cli.global.clone();
    let work = async move {
        match cli.command {
            Command::Copy(args) => copy::run(&cli.global, args).await,
        }
    };
    match global.command_timeout {
        Some(t) => tokio::time::timeout(t, work).await.map_err(|_| {
            Failure::new(format!(
                "timed out after {t:?} (--command-timeout); nothing was written"
            ))
        })?,
        None => work.await,
    }
}

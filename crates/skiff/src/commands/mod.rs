//! One module per command; each turns its parsed arguments into library calls.

mod copy;
mod inspect;
mod manifest_digest;
mod registry;

use crate::cli::{Cli, Command};
use crate::failure::Failure;

/// Runs the parsed command line, honouring --command-timeout.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    let global = cli.global.clone();
    let work = async move {
        match cli.command {
            Command::Copy(args) => copy::run(&cli.global, *args).await,
            Command::Inspect(args) => inspect::run(&cli.global, args).await,
            Command::ListTags(args) => registry::list_tags(&cli.global, args).await,
            Command::Delete(args) => registry::delete(&cli.global, args).await,
            Command::ManifestDigest(args) => manifest_digest::run(args),
            Command::Login(args) => registry::login(&cli.global, args).await,
            Command::Logout(args) => registry::logout(args).await,
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

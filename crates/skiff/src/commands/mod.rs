//! One module per command; each turns its parsed arguments into library calls.

mod copy;
mod inspect;
mod lxc;
mod manifest_digest;
mod registry;
mod unpack;

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
            Command::Unpack(args) => unpack::run(&cli.global, args).await,
            Command::Lxc(crate::cli::LxcCommand::Create(args)) => {
                lxc::create(&cli.global, args).await
            }
            Command::Completion(args) => {
                let mut cmd = <Cli as clap::CommandFactory>::command();
                clap_complete::generate(
                    args.shell,
                    &mut cmd,
                    crate::cli::program_name(),
                    &mut std::io::stdout(),
                );
                Ok(())
            }
            Command::Man => {
                let cmd = <Cli as clap::CommandFactory>::command();
                let mut out = Vec::new();
                clap_mangen::Man::new(cmd)
                    .render(&mut out)
                    .map_err(|e| Failure::new(format!("rendering the manual: {e}")))?;
                crate::output::print_raw(&out)
            }
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

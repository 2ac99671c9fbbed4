//! One module per command; each turns its parsed arguments into library calls.

mod apply;
mod cache;
mod catalog;
mod copy;
mod docs;
mod inspect;
mod lxc;
mod manifest_digest;
mod pve;
mod pve_api;
mod pve_create;
mod registry;
mod signing;
mod sync;
mod unpack;

use crate::cli::{Cli, Command};
use crate::failure::{Failure, Sides};

/// Runs the parsed command line, honouring --command-timeout.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    let global = cli.global.clone();
    let sides = sides(&cli.command);
    let work = async move {
        match cli.command {
            Command::Copy(args) => copy::run(&cli.global, *args).await,
            Command::Sync(args) => sync::run(&cli.global, *args).await,
            Command::Inspect(args) => inspect::run(&cli.global, args).await,
            Command::ListTags(args) => registry::list_tags(&cli.global, args).await,
            Command::Delete(args) => registry::delete(&cli.global, args).await,
            Command::ManifestDigest(args) => manifest_digest::run(args),
            Command::StandaloneSign(args) => signing::standalone_sign(args),
            Command::StandaloneVerify(args) => signing::standalone_verify(args),
            Command::UntrustedSignatureDumpWithoutVerification(args) => {
                signing::untrusted_dump(args)
            }
            Command::GenerateSigstoreKey(args) => signing::generate_sigstore_key(args),
            Command::Login(args) => registry::login(&cli.global, args).await,
            Command::Logout(args) => registry::logout(args).await,
            Command::Unpack(args) => unpack::run(&cli.global, args).await,
            Command::Lxc(crate::cli::LxcCommand::Create(args)) => {
                lxc::create(&cli.global, args).await
            }
            Command::Pve(command) => pve_run(&cli.global, command).await,
            Command::Cache(command) => cache::run(command),
            Command::Catalog(command) => catalog::run(command),
            Command::Plan(args) => apply::plan(&cli.global, args).await,
            Command::Apply(args) => apply::apply(&cli.global, args).await,
            Command::Destroy(args) => apply::destroy(&cli.global, args).await,
            Command::Status(args) => apply::status(&cli.global, args).await,
            Command::Completion(args) => docs::completion(args),
            Command::Man(args) => docs::man(args),
        }
    };
    let outcome = match global.command_timeout {
        Some(t) => tokio::time::timeout(t, work).await.map_err(|_| {
            Failure::new(format!(
                "timed out after {t:?} (--command-timeout); nothing was written"
            ))
        })?,
        None => work.await,
    };
    outcome.map_err(|f| f.on(&sides))
}

/// The registries `command` talks to and the prefix of each one's flags, so that a hint
/// names `--dest-tls-verify` for a failed push and `--src-creds` for a failed pull.
fn sides(command: &Command) -> Sides {
    match command {
        Command::Copy(args) => Sides::none()
            .side(&args.source, "src-")
            .side(&args.destination, "dest-"),
        Command::Sync(args) => sync::sides(args),
        Command::Unpack(args) => Sides::none().side(&args.image, "src-"),
        Command::Lxc(crate::cli::LxcCommand::Create(args)) => {
            Sides::none().side(&args.image, "src-")
        }
        _ => Sides::plain(),
    }
}

/// `pve …`.
async fn pve_run(
    global: &crate::cli::GlobalOptions,
    command: crate::cli::PveCommand,
) -> Result<(), Failure> {
    use crate::cli::PveCommand;
    match command {
        PveCommand::Pull(args) => pve::pull(global, args).await,
        PveCommand::Tags(args) => pve::tags(global, args).await,
        PveCommand::Images(args) => pve::images(global, args).await,
        PveCommand::Create(args) => pve_create::create(global, *args).await,
    }
}

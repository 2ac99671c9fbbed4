//! The command line, spelt as skopeo spells it (see SKOPEO-CLI.md), plus skiff's own
//! commands. Flag names and meanings follow skopeo's manual pages so scripts written for
//! skopeo keep working.

mod apply;
mod cache;
mod catalog;
mod containers;
mod image_commands;
mod pve;
mod pve_api;
mod registry_flags;
mod signing;
mod transfer;

pub use apply::*;
pub use cache::*;
pub use catalog::*;
pub use containers::*;
pub use image_commands::*;
pub use pve::*;
pub use pve_api::*;
pub use registry_flags::*;
pub use signing::*;
pub use transfer::*;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// The program name under which skiff was started: `skopeo` when called through a symlink
/// of that name. The one source of the name for help, version, the message prefix and
/// every hint, so that a user who runs `skopeo` is never told to run `skiff`.
pub fn program_name() -> &'static str {
    let invoked = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    if invoked.as_deref() == Some("skopeo") {
        "skopeo"
    } else {
        "skiff"
    }
}

/// Prints what clap has to say about the command line: help and version on stdout
/// (exit 0), a usage error on stderr with exit 1 as skopeo's, because 2 means "image not
/// found" to the scripts that call it.
pub fn usage_error(e: clap::Error) -> ExitCode {
    // print() writes without panicking on a closed pipe.
    let _ = e.print();
    if e.use_stderr() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Parses the process's command line: named as invoked (so `--version` and help say
/// `skopeo` through that symlink), with Go-style boolean values and skopeo's hidden
/// aliases rewritten first (see [`crate::argv`]).
pub fn parse() -> Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let command = Cli::command().name(program_name());
    let args = crate::argv::normalise(&command, argv());
    let mut matches = command.try_get_matches_from(args)?;
    Cli::from_arg_matches_mut(&mut matches)
}

/// The arguments, with the program name normalised for clap.
pub fn argv() -> Vec<OsString> {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    if let Some(first) = args.first_mut() {
        *first = program_name().into();
    }
    args
}

/// What `--version` prints after the program name: as `skopeo`, skopeo's words with the
/// version of skopeo's interface skiff implements (`skopeo version 1.9.3`: scripts take the
/// third word to decide which flags exist) and skiff's own version as a further word; as
/// `skiff`, its own.
fn version_text() -> &'static str {
    if program_name() == "skopeo" {
        concat!("version 1.9.3 skiff/", env!("CARGO_PKG_VERSION"))
    } else {
        concat!("version ", env!("CARGO_PKG_VERSION"))
    }
}

/// skiff: move OCI images between registries and local formats, and turn them into LXC
/// and Proxmox VE containers.
#[derive(Debug, Parser)]
#[command(version = version_text(), disable_version_flag = true, about, long_about = None)]
pub struct Cli {
    /// Print the version (`-v` as skopeo spells it).
    #[arg(short = 'v', long, action = clap::ArgAction::Version)]
    version: Option<bool>,
    /// Options every command accepts.
    #[command(flatten)]
    pub global: GlobalOptions,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// skopeo's global options.
#[derive(Debug, Args, Clone)]
pub struct GlobalOptions {
    /// Print every HTTP exchange with registries on stderr: method, URL, status and the
    /// telling headers (credentials, tokens and signatures removed).
    #[arg(long, global = true)]
    pub debug: bool,
    /// Run without a policy check: accept any image, signed or not, and even when no
    /// policy.json exists.
    #[arg(long, global = true)]
    pub insecure_policy: bool,
    /// The trust policy file (containers-policy.json(5)) deciding which images copy, unpack
    /// and lxc create may use; default $HOME/.config/containers/policy.json, else
    /// /etc/containers/policy.json.
    #[arg(long, global = true, value_name = "PATH")]
    pub policy: Option<PathBuf>,
    /// The registries.d directory (containers-registries.d(5)) naming where signatures are
    /// looked up; default $HOME/.config/containers/registries.d, else
    /// /etc/containers/registries.d.
    #[arg(long = "registries.d", global = true, value_name = "DIR")]
    pub registries_d: Option<PathBuf>,
    /// Use this registries.conf instead of the system's.
    #[arg(long, global = true, value_name = "PATH")]
    pub registries_conf: Option<PathBuf>,
    /// Use ARCH instead of the host's architecture when choosing from a manifest list.
    #[arg(long, global = true, value_name = "ARCH")]
    pub override_arch: Option<String>,
    /// Use OS instead of the host's OS when choosing from a manifest list.
    #[arg(long, global = true, value_name = "OS")]
    pub override_os: Option<String>,
    /// Use VARIANT instead of the host's architecture variant.
    #[arg(long, global = true, value_name = "VARIANT")]
    pub override_variant: Option<String>,
    /// Directory for temporary files (skiff writes beside its destinations instead, so
    /// this only matters for commands that need scratch space).
    #[arg(long, global = true, value_name = "DIR")]
    pub tmpdir: Option<PathBuf>,
    /// Give up after this long (e.g. 90s, 10m).
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub command_timeout: Option<Duration>,
    /// Prefix for the User-Agent header sent to registries.
    #[arg(long, global = true, value_name = "PREFIX")]
    pub user_agent_prefix: Option<String>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Copy an image from one location to another (docker://, oci:, oci-archive:, dir:, docker-archive:).
    Copy(Box<CopyArgs>),
    /// Copy every image of a repository, a directory or a YAML list to a registry or a directory.
    Sync(Box<SyncArgs>),
    /// Print an image's manifest, config or summary (as skopeo inspect).
    Inspect(InspectArgs),
    /// List the tags of a repository (every page) or of a docker-archive.
    ListTags(ListTagsArgs),
    /// Delete an image (its manifest) from a registry.
    Delete(DeleteArgs),
    /// Print the digest of a manifest file.
    ManifestDigest(ManifestDigestArgs),
    /// Create a signature of a manifest file with a GnuPG key (simple signing).
    StandaloneSign(StandaloneSignArgs),
    /// Verify a simple signature of a manifest file.
    StandaloneVerify(StandaloneVerifyArgs),
    /// Show what a signature claims, WITHOUT verifying it.
    UntrustedSignatureDumpWithoutVerification(UntrustedSignatureDumpArgs),
    /// Generate a sigstore key pair (PREFIX.pub, encrypted PREFIX.private).
    GenerateSigstoreKey(GenerateSigstoreKeyArgs),
    /// Save credentials for a registry after checking them.
    Login(LoginArgs),
    /// Remove saved credentials.
    Logout(LogoutArgs),
    /// Unpack an image into a root filesystem, safely (for LXC / Proxmox containers).
    Unpack(UnpackArgs),
    /// Containers on a plain LXC host.
    #[command(subcommand)]
    Lxc(LxcCommand),
    /// Proxmox VE on this node: pull into template caches, tags, templates, create.
    #[command(subcommand)]
    Pve(PveCommand),
    /// The host's blob cache: list or prune the layers kept for later pulls.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// The catalog of self-hosted apps (built in, plus user entries).
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Show what `apply` would do to make the containers of a YAML file real.
    Plan(ApplyFileArgs),
    /// Create, update or replace the containers of a YAML file, and start them in order.
    Apply(ApplyArgs),
    /// Remove the containers of a YAML file (their mounted data stays).
    Destroy(DestroyArgs),
    /// Show the containers of a YAML file: running, image digest against the latest, drift.
    Status(ApplyFileArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completion(CompletionArgs),
    /// Print the manual page (roff) to stdout, or write one page per command.
    Man(ManArgs),
}

/// `completion SHELL`.
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
    /// Register the completions for this command name (default: the name skiff was
    /// invoked as, e.g. skopeo through a symlink).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

/// `man [--dir DIR]`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write one page per command into DIR (skiff.1, skiff-copy.1, …) instead of printing
    /// the main page.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
}

/// The longest duration Go's `time.Duration` holds (2^63-1 ns, about 292 years): what
/// skopeo accepts, and a bound that keeps every later deadline and backoff computation
/// far from overflowing.
const MAX_DURATION: Duration = Duration::from_nanos(i64::MAX as u64);

/// Parses Go-style durations: `90s`, `1m30s`, `500ms`, `2h`; a bare number is seconds.
/// A value Go could not hold is refused, as Go's `time.ParseDuration` refuses it.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let too_long = || format!("duration {s:?} is too long (at most about 292 years)");
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<u64>()
            .ok()
            .map(Duration::from_secs)
            .filter(|d| *d <= MAX_DURATION)
            .ok_or_else(too_long);
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("missing unit in duration {s:?} (use e.g. 30s, 5m)"))?;
        let value: f64 = rest[..num_end]
            .parse()
            .map_err(|_| format!("invalid duration {s:?}"))?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            other => return Err(format!("unknown unit {other:?} in duration {s:?}")),
        };
        // try_from_secs_f64 refuses what does not fit (from_secs_f64 panics on it).
        total = Duration::try_from_secs_f64(value * factor)
            .ok()
            .and_then(|d| total.checked_add(d))
            .filter(|t| *t <= MAX_DURATION)
            .ok_or_else(too_long)?;
        rest = &rest[unit_end..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("").is_err());
    }

    /// Values from the command line never panic: they are too long, or fine.
    #[test]
    fn durations_too_long_for_go_are_errors() {
        for s in [
            "99999999999999999999h",
            "99999999999999999999",
            "9999999999999999999999999999999999999999.5s",
            "3000000h",
            "2000000h2000000h",
        ] {
            let e = parse_duration(s).unwrap_err();
            assert!(e.contains("too long"), "{s}: {e}");
        }
        assert_eq!(
            parse_duration("2562047h").unwrap(),
            Duration::from_secs(2_562_047 * 3600)
        );
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn skopeo_style_bool_flags() {
        let cli = Cli::try_parse_from([
            "skiff",
            "copy",
            "--src-tls-verify=false",
            "docker://a",
            "oci:b",
        ])
        .unwrap();
        let Command::Copy(c) = cli.command else {
            panic!("parsed as copy")
        };
        assert_eq!(c.src.tls_verify, Some(false));
    }
}

//! The command line, spelt as skopeo spells it (see SKOPEO-CLI.md), plus skiff's own
//! commands. Flag names and meanings follow skopeo's manual pages so scripts written for
//! skopeo keep working.

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
    /// Save credentials for a registry after checking them.
    Login(LoginArgs),
    /// Remove saved credentials.
    Logout(LogoutArgs),
    /// Unpack an image into a root filesystem, safely (for LXC / Proxmox containers).
    Unpack(UnpackArgs),
    /// Containers on a plain LXC host.
    #[command(subcommand)]
    Lxc(LxcCommand),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completion(CompletionArgs),
    /// Print the manual page (roff) to stdout, or write one page per command.
    Man(ManArgs),
}

/// Id mapping and safety limits for unpacking.
#[derive(Debug, Args, Clone)]
pub struct IdMapArgs {
    /// Shift owners as Proxmox's unprivileged containers need (container 0 → host 100000, 65536 ids).
    #[arg(long)]
    pub unprivileged: bool,
    /// Map container uids to host uids: CONTAINER:HOST:COUNT (repeatable).
    #[arg(long, value_name = "CONT:HOST:COUNT")]
    pub uidmap: Vec<String>,
    /// Map container gids to host gids: CONTAINER:HOST:COUNT (repeatable).
    #[arg(long, value_name = "CONT:HOST:COUNT")]
    pub gidmap: Vec<String>,
    /// Do not change owners or create device nodes (the default when not run as root).
    #[arg(long)]
    pub rootless: bool,
    /// Refuse a layer that decompresses to more than RATIO times its compressed size.
    #[arg(long, value_name = "RATIO")]
    pub max_ratio: Option<u64>,
    /// Refuse a layer larger than this many bytes uncompressed.
    #[arg(long, value_name = "BYTES")]
    pub max_layer_bytes: Option<u64>,
}

/// `unpack IMAGE ROOTFS`.
#[derive(Debug, Args)]
pub struct UnpackArgs {
    /// The image (any transport skiff reads).
    pub image: String,
    /// The new root filesystem directory (must not exist, or be empty).
    pub rootfs: PathBuf,
    /// Print no summary.
    #[arg(short, long)]
    pub quiet: bool,
    /// Also write the config lines Proxmox's `pct create` writes for this image to PATH
    /// (and create the image's volume directories in the rootfs, as pct does).
    #[arg(long, value_name = "PATH")]
    pub pve_config: Option<PathBuf>,
    /// Id mapping and limits.
    #[command(flatten)]
    pub ids: IdMapArgs,
    /// Source registry options.
    #[command(flatten)]
    pub src: SrcRegistryArgs,
}

/// `lxc …` subcommands.
#[derive(Debug, Subcommand)]
pub enum LxcCommand {
    /// Create a container NAME from IMAGE under LXCPATH/NAME (rootfs and config).
    Create(LxcCreateArgs),
}

/// `lxc create NAME IMAGE`.
#[derive(Debug, Args)]
pub struct LxcCreateArgs {
    /// The container name.
    pub name: String,
    /// The image (any transport skiff reads).
    pub image: String,
    /// Where containers live (lxc.lxcpath).
    #[arg(short = 'P', long = "lxcpath", value_name = "LXCPATH")]
    pub lxcpath: Option<PathBuf>,
    /// Extra LXC config line KEY=VALUE (repeatable), e.g. lxc.net.0.type=none.
    #[arg(long, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Print no summary.
    #[arg(short, long)]
    pub quiet: bool,
    /// Id mapping and limits.
    #[command(flatten)]
    pub ids: IdMapArgs,
    /// Source registry options.
    #[command(flatten)]
    pub src: SrcRegistryArgs,
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

/// `inspect IMAGE`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The image: docker://REF, oci:DIR[:REF], oci-archive:FILE[:REF], dir:DIR, docker-archive:FILE.
    pub image: String,
    /// Print the manifest exactly as stored (with --config: the config blob).
    #[arg(long)]
    pub raw: bool,
    /// Print the image configuration instead of the summary.
    #[arg(long)]
    pub config: bool,
    /// Do not list the repository's tags (RepoTags stays empty).
    #[arg(short = 'n', long)]
    pub no_tags: bool,
    /// Format the output with a Go template, e.g. '{{.Digest}}' or
    /// '{{index .Labels "org.opencontainers.image.version"}}' (the text/template subset
    /// scripts use: fields, index, range, if, with, printf, json, join, upper, lower).
    #[arg(short = 'f', long, value_name = "TEMPLATE")]
    pub format: Option<String>,
    /// How often to retry a failed request.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retry_times: u32,
    /// Fixed delay between retries (default: exponential backoff, honouring Retry-After).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub retry_delay: Option<Duration>,
    /// Registry options.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `list-tags REPOSITORY`.
#[derive(Debug, Args)]
pub struct ListTagsArgs {
    /// docker://REPOSITORY (no tag) or docker-archive:FILE.
    pub image: String,
    /// How often to retry a failed request.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retry_times: u32,
    /// Fixed delay between retries (default: exponential backoff, honouring Retry-After).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub retry_delay: Option<Duration>,
    /// Registry options.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `delete docker://REF`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The image to delete.
    pub image: String,
    /// How often to retry a failed request.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retry_times: u32,
    /// Fixed delay between retries (default: exponential backoff, honouring Retry-After).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub retry_delay: Option<Duration>,
    /// Registry options.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `manifest-digest FILE`.
#[derive(Debug, Args)]
pub struct ManifestDigestArgs {
    /// The manifest file.
    pub manifest: PathBuf,
}

/// `login REGISTRY`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The registry (host[:port]).
    pub registry: String,
    /// Username.
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password (prefer --password-stdin: command lines are visible to other users).
    #[arg(short, long)]
    pub password: Option<String>,
    /// Read the password from standard input.
    #[arg(long)]
    pub password_stdin: bool,
    /// Print the username saved for the registry and exit.
    #[arg(long)]
    pub get_login: bool,
    /// Credentials file to write (default ${XDG_RUNTIME_DIR}/containers/auth.json).
    #[arg(long, value_name = "PATH")]
    pub authfile: Option<PathBuf>,
    /// Require HTTPS and verify certificates (=false allows plain HTTP).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = crate::argv::parse_go_bool)]
    pub tls_verify: Option<bool>,
    /// CA certificates (*.crt) and client certificate/key for the registry.
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
}

/// `logout [--all] [REGISTRY]`.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry (host[:port]).
    pub registry: Option<String>,
    /// Remove the credentials of every registry.
    #[arg(short, long)]
    pub all: bool,
    /// Credentials file to change.
    #[arg(long, value_name = "PATH")]
    pub authfile: Option<PathBuf>,
}

/// `copy SOURCE-IMAGE DESTINATION-IMAGE`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// Where to read: docker://REF, oci:DIR[:REF], oci-archive:FILE[:REF], dir:DIR,
    /// docker-archive:FILE[:REF|@INDEX].
    pub source: String,
    /// Where to write: docker://REF, oci-archive:FILE[:REF], oci:DIR[:REF], dir:DIR,
    /// docker-archive:FILE[:REF].
    pub destination: String,
    /// Copy every platform of a manifest list and keep the list (same as --multi-arch=all).
    #[arg(short, long)]
    pub all: bool,
    /// Which images of a manifest list to copy: system (the host's), all, index-only.
    #[arg(long, value_name = "WHICH")]
    pub multi_arch: Option<MultiArch>,
    /// Manifest format to write. Without it oci: and oci-archive: get OCI and every other
    /// destination keeps the source's format; v2s2 converts OCI images to Docker's format
    /// (refused for zstd layers, which Docker cannot express).
    #[arg(short = 'f', long, value_name = "FORMAT")]
    pub format: Option<FormatArg>,
    /// Print no progress.
    #[arg(short, long)]
    pub quiet: bool,
    /// Write the digest of the copied manifest to this file.
    #[arg(long, value_name = "PATH")]
    pub digestfile: Option<PathBuf>,
    /// Re-encode every layer that is not already in this compression: gzip or zstd.
    #[arg(long, value_name = "FORMAT")]
    pub dest_compress_format: Option<CompressArg>,
    /// Compression level for re-encoded layers (gzip 1-9, zstd 1-22).
    #[arg(long, value_name = "LEVEL", allow_negative_numbers = true)]
    pub dest_compress_level: Option<i32>,
    /// Compress uncompressed layers (gzip unless --dest-compress-format says otherwise).
    #[arg(long)]
    pub dest_compress: bool,
    /// Store every layer uncompressed.
    #[arg(long, conflicts_with_all = ["dest_compress", "dest_compress_format", "dest_compress_level"])]
    pub dest_decompress: bool,
    /// Write uncompressed layers to oci: / oci-archive: as they are (by default they are
    /// gzip-compressed, as skopeo does).
    #[arg(long)]
    pub dest_oci_accept_uncompressed_layers: bool,
    /// Another name (NAME:TAG) for the image in a docker-archive: destination; repeatable,
    /// or several separated by commas.
    #[arg(
        long = "additional-tag",
        value_name = "NAME:TAG",
        value_delimiter = ','
    )]
    pub additional_tags: Vec<String>,
    /// Refuse any change of digests (fail instead of converting Docker manifests to OCI).
    #[arg(long)]
    pub preserve_digests: bool,
    /// Do not copy signatures (skiff copies none yet, so this is always the case).
    #[arg(long)]
    pub remove_signatures: bool,
    /// How many layers move at once.
    #[arg(long, value_name = "N")]
    pub image_parallel_copies: Option<usize>,
    /// How often to retry a failed request or interrupted transfer.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retry_times: u32,
    /// Fixed delay between retries (default: exponential backoff, honouring Retry-After).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub retry_delay: Option<Duration>,
    /// Credentials file for both sides.
    #[arg(long, value_name = "PATH")]
    pub authfile: Option<PathBuf>,
    /// Source registry options.
    #[command(flatten)]
    pub src: SrcRegistryArgs,
    /// Destination registry options.
    #[command(flatten)]
    pub dest: DestRegistryArgs,
}

/// `sync --src KIND --dest KIND SOURCE DESTINATION`, with skopeo's flags.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// docker: REGISTRY/REPOSITORY[:TAG] (no tag: every tag); dir: a directory of dir:
    /// images; yaml: a YAML file listing images per registry.
    pub source: String,
    /// docker: REGISTRY[/NAMESPACE]; dir: a directory.
    pub destination: String,
    /// What SOURCE is.
    #[arg(short = 's', long = "src", value_name = "TRANSPORT")]
    pub src_kind: SyncSourceArg,
    /// What DESTINATION is.
    #[arg(short = 'd', long = "dest", value_name = "TRANSPORT")]
    pub dest_kind: SyncDestArg,
    /// Copy every platform of a manifest list and keep the list.
    #[arg(short, long)]
    pub all: bool,
    /// Name images at DESTINATION by their full source name (registry and path).
    #[arg(long)]
    pub scoped: bool,
    /// Append this to every destination name.
    #[arg(long, value_name = "SUFFIX", default_value = "")]
    pub append_suffix: String,
    /// List the images that would be copied; copy nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Go on after an image fails (the sync still exits 1 at the end).
    #[arg(long)]
    pub keep_going: bool,
    /// Refuse any change of digests.
    #[arg(long)]
    pub preserve_digests: bool,
    /// Do not copy signatures (skiff copies none yet, so this is always the case).
    #[arg(long)]
    pub remove_signatures: bool,
    /// Manifest format to write (default: the source's).
    #[arg(short = 'f', long, value_name = "FORMAT")]
    pub format: Option<FormatArg>,
    /// How often to retry a failed request or interrupted transfer.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retry_times: u32,
    /// Fixed delay between retries (default: exponential backoff, honouring Retry-After).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub retry_delay: Option<Duration>,
    /// Images copied at once (skiff; skopeo copies one after the other).
    #[arg(long, value_name = "N")]
    pub parallel_images: Option<usize>,
    /// How many layers of one image move at once.
    #[arg(long, value_name = "N")]
    pub image_parallel_copies: Option<usize>,
    /// Not supported by skiff sync yet (refused rather than ignored).
    #[arg(long, value_name = "PATH")]
    pub digestfile: Option<PathBuf>,
    /// Signing is not supported by skiff sync yet (refused rather than ignored).
    #[arg(long, value_name = "FINGERPRINT")]
    pub sign_by: Option<String>,
    /// Signing is not supported by skiff sync yet (refused rather than ignored).
    #[arg(long, value_name = "PATH")]
    pub sign_by_sigstore_private_key: Option<PathBuf>,
    /// Signing is not supported by skiff sync yet (refused rather than ignored).
    #[arg(long, value_name = "PATH")]
    pub sign_by_sigstore: Option<PathBuf>,
    /// Signing is not supported by skiff sync yet (refused rather than ignored).
    #[arg(long, value_name = "PATH")]
    pub sign_passphrase_file: Option<PathBuf>,
    /// Signing is not supported by skiff sync yet (refused rather than ignored).
    #[arg(long, value_name = "REFERENCE")]
    pub sign_identity: Option<String>,
    /// Credentials file for both sides.
    #[arg(long, value_name = "PATH")]
    pub authfile: Option<PathBuf>,
    /// Source registry options.
    #[command(flatten)]
    pub src: SrcRegistryArgs,
    /// Destination registry options.
    #[command(flatten)]
    pub dest: DestRegistryArgs,
}

/// skopeo sync's source transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SyncSourceArg {
    /// A registry repository.
    Docker,
    /// A directory of dir: images.
    Dir,
    /// A YAML file.
    Yaml,
}

/// skopeo sync's destination transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SyncDestArg {
    /// A registry (and namespace).
    Docker,
    /// A directory.
    Dir,
}

/// Defines one side's registry options (`--src-*`, `--dest-*`, or unprefixed for
/// inspect / list-tags / delete), so the flags are declared once whatever their prefix.
macro_rules! registry_args {
    ($name:ident, $prefix:literal, $side:literal) => {
        #[doc = concat!("Registry options for the ", $side, ".")]
        #[derive(Debug, Args, Clone)]
        pub struct $name {
            #[arg(id = concat!($prefix, "authfile"), long = concat!($prefix, "authfile"), value_name = "PATH",
                  help = concat!("Credentials file for the ", $side))]
            pub authfile: Option<PathBuf>,
            #[arg(id = concat!($prefix, "creds"), long = concat!($prefix, "creds"), value_name = "USER[:PASS]",
                  help = concat!("Credentials for the ", $side, " registry"))]
            pub creds: Option<String>,
            #[arg(id = concat!($prefix, "username"), long = concat!($prefix, "username"), value_name = "USER",
                  help = concat!("Username for the ", $side, " registry"))]
            pub username: Option<String>,
            #[arg(id = concat!($prefix, "password"), long = concat!($prefix, "password"), value_name = "PASS",
                  help = concat!("Password for the ", $side, " registry"))]
            pub password: Option<String>,
            #[arg(id = concat!($prefix, "no-creds"), long = concat!($prefix, "no-creds"),
                  help = concat!("Access the ", $side, " registry anonymously"))]
            pub no_creds: bool,
            #[arg(id = concat!($prefix, "registry-token"), long = concat!($prefix, "registry-token"), value_name = "TOKEN",
                  help = concat!("Bearer token for the ", $side, " registry"))]
            pub registry_token: Option<String>,
            #[arg(id = concat!($prefix, "tls-verify"), long = concat!($prefix, "tls-verify"), value_name = "BOOL",
                  num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = crate::argv::parse_go_bool,
                  help = concat!("Require HTTPS and verify certificates for the ", $side, " (=false allows plain HTTP)"))]
            pub tls_verify: Option<bool>,
            #[arg(id = concat!($prefix, "cert-dir"), long = concat!($prefix, "cert-dir"), value_name = "DIR",
                  help = concat!("CA certificates (*.crt) and client certificate/key (*.cert, *.key) for the ", $side))]
            pub cert_dir: Option<PathBuf>,
        }

        impl $name {
            /// These flags as library-neutral registry flags.
            pub fn flags(&self, authfile: Option<&PathBuf>, retry_times: u32, retry_delay: Option<Duration>) -> crate::options::RegistryFlags {
                crate::options::RegistryFlags {
                    authfile: self.authfile.clone().or_else(|| authfile.cloned()),
                    creds: self.creds.clone(),
                    username: self.username.clone(),
                    password: self.password.clone(),
                    no_creds: self.no_creds,
                    registry_token: self.registry_token.clone(),
                    tls_verify: self.tls_verify,
                    cert_dir: self.cert_dir.clone(),
                    retry_times,
                    retry_delay,
                    quiet: false,
                }
            }
        }
    };
}

registry_args!(SrcRegistryArgs, "src-", "source");
registry_args!(DestRegistryArgs, "dest-", "destination");
registry_args!(RegistryArgs, "", "registry");

/// skopeo's --multi-arch values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MultiArch {
    /// The image for the host (or --override-*) platform.
    System,
    /// Every image and the list.
    All,
    /// Only the list itself.
    IndexOnly,
}

/// skopeo's --dest-compress-format values (`zstd:chunked` is not written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompressArg {
    /// gzip (what every runtime reads).
    Gzip,
    /// zstd (smaller and faster to unpack; OCI manifests only).
    Zstd,
}

/// skopeo's --format values (schema 1, `v2s1`, is deprecated and not written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// OCI image manifest and index.
    Oci,
    /// Docker v2 schema 2 manifest and manifest list.
    V2s2,
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

//! Flags of the commands that read or change one image or registry: inspect, list-tags,
//! delete, manifest-digest, login, logout.

use std::path::PathBuf;

use clap::Args;

use super::{RegistryArgs, RetryArgs};

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
    /// Retries.
    #[command(flatten)]
    pub retry: RetryArgs,
    /// Registry options.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `list-tags REPOSITORY`.
#[derive(Debug, Args)]
pub struct ListTagsArgs {
    /// docker://REPOSITORY (no tag) or docker-archive:FILE.
    pub image: String,
    /// Retries.
    #[command(flatten)]
    pub retry: RetryArgs,
    /// Registry options.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `delete docker://REF`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The image to delete.
    pub image: String,
    /// Retries.
    #[command(flatten)]
    pub retry: RetryArgs,
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

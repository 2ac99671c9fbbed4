//! Flags of the commands that turn an image into a root filesystem or container:
//! `unpack` and `lxc create`, with their id-mapping and limit flags.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{CacheArgs, SrcRegistryArgs};

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
    /// The host's blob cache.
    #[command(flatten)]
    pub cache: CacheArgs,
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
    /// The host's blob cache.
    #[command(flatten)]
    pub cache: CacheArgs,
    /// Source registry options.
    #[command(flatten)]
    pub src: SrcRegistryArgs,
}

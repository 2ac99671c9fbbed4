//! Flags of the declarative commands: `plan`, `apply`, `destroy` and `status` of a YAML
//! file of apps and containers (crate skiff-apply).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{CatalogDirArgs, PveApiArgs, SrcRegistryArgs};

/// Where the file's containers live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// Plain LXC (lxc-start, containers under LXCPATH).
    Lxc,
    /// Proxmox VE's pct on this node.
    Pve,
    /// A Proxmox VE cluster through its REST API.
    PveApi,
}

/// What every declarative command takes.
#[derive(Debug, Args)]
pub struct ApplyFileArgs {
    /// The YAML file of apps and containers.
    pub file: PathBuf,
    /// Where the containers live; default: the file's `backend:`, else pve where
    /// /etc/pve exists, else lxc.
    #[arg(long, value_enum)]
    pub backend: Option<BackendKind>,
    /// Where LXC containers live (lxc.lxcpath), as lxc-create's -P.
    #[arg(short = 'P', long = "lxcpath", value_name = "LXCPATH")]
    pub lxcpath: Option<PathBuf>,
    /// Where volumes (mounts without `source:`) are kept: DIR/CONTAINER/TARGET.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/skiff/volumes")]
    pub data_dir: PathBuf,
    /// Where generated secrets are kept (one 0600 file per secret).
    #[arg(long, value_name = "DIR", default_value = "/var/lib/skiff/secrets")]
    pub secrets_dir: PathBuf,
    /// Where datasets become directories on hosts without ZFS.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/skiff/datasets")]
    pub datasets_dir: PathBuf,
    /// Print no progress.
    #[arg(short, long)]
    pub quiet: bool,
    /// Registry options for pulling the images.
    #[command(flatten)]
    pub src: SrcRegistryArgs,
    /// Where `apps: [{catalog: NAME}]` finds entries besides the built-in ones.
    #[command(flatten)]
    pub catalog: CatalogDirArgs,
    /// The cluster of `--backend pve-api`, as `skiff pve … --api` takes it.
    #[command(flatten)]
    pub api: PveApiArgs,
}

/// `apply FILE`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The file and where its containers live.
    #[command(flatten)]
    pub target: ApplyFileArgs,
    /// Apply without asking.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Also delete containers this file created that it no longer lists.
    #[arg(long)]
    pub prune: bool,
}

/// `destroy FILE`.
#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// The file and where its containers live.
    #[command(flatten)]
    pub target: ApplyFileArgs,
    /// Destroy without asking.
    #[arg(short = 'y', long)]
    pub yes: bool,
}

//! Flags of `pve …`: Proxmox VE on the node skiff runs on (pull into a template cache,
//! tags, templates, create with pct).

use clap::{Args, Subcommand, ValueEnum};

use super::{CacheArgs, PveApiArgs, RegistryArgs, RetryArgs};

/// `pve …` subcommands.
#[derive(Debug, Subcommand)]
pub enum PveCommand {
    /// Pull an image into a storage's template cache, as Proxmox's oci-registry-pull
    /// writes it; prints the volume id (STORAGE:vztmpl/FILE).
    Pull(PvePullArgs),
    /// List a repository's tags as the JSON array Proxmox's tag query returns.
    Tags(PveTagsArgs),
    /// List the OCI templates of a storage (or of every template storage).
    Images(PveImagesArgs),
    /// Create a container from an image with pct (pulling the template when missing).
    Create(Box<PveCreateArgs>),
}

/// Where a template goes: storage, file name, node.
#[derive(Debug, Args, Clone)]
pub struct TemplatePlace {
    /// The storage whose template cache receives the image (content vztmpl).
    #[arg(long, value_name = "ID", default_value = "local")]
    pub storage: String,
    /// The template's file name (normalised as Proxmox does, `.tar` appended); default
    /// from the reference.
    #[arg(long, value_name = "NAME")]
    pub filename: Option<String>,
    /// The node; on one node only this node's own name is accepted; with --api any node
    /// of the cluster (default: the one with the most free memory).
    #[arg(long, value_name = "NODE")]
    pub node: Option<String>,
}

/// `pve pull REF`.
#[derive(Debug, Args)]
pub struct PvePullArgs {
    /// The image: NAME:TAG or NAME@sha256:DIGEST (docker:// optional).
    pub reference: String,
    /// Where the template goes.
    #[command(flatten)]
    pub place: TemplatePlace,
    /// Print a JSON object (volid, path, digest, reference) instead of the volume id.
    #[arg(long)]
    pub json: bool,
    /// How the image is pulled, and the cluster to upload it to (--api).
    #[command(flatten)]
    pub pull: PvePullFlags,
}

/// How `pve pull` and `pve create` pull an image: progress, the cluster (with `--api`
/// the template is pulled here and uploaded to the node), registry, retries, cache.
#[derive(Debug, Args)]
pub struct PvePullFlags {
    /// Print no progress.
    #[arg(short, long)]
    pub quiet: bool,
    /// Cluster mode: pull here, then work on the node through the API.
    #[command(flatten)]
    pub api: PveApiArgs,
    /// Registry options (--creds, --authfile, --tls-verify, …).
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Retries.
    #[command(flatten)]
    pub retry: RetryArgs,
    /// The host's blob cache (--no-cache).
    #[command(flatten)]
    pub cache: CacheArgs,
}

impl PvePullFlags {
    /// The registry flags of the pull: credentials, TLS, retries, quiet.
    pub fn registry_flags(&self) -> crate::options::RegistryFlags {
        self.registry
            .flags(None, self.retry.retry_times, self.retry.retry_delay)
            .quiet(self.quiet)
    }
}

/// `pve tags REPO`.
#[derive(Debug, Args)]
pub struct PveTagsArgs {
    /// The repository (docker:// optional), without tag or digest.
    pub repository: String,
    /// Registry options.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Retries.
    #[command(flatten)]
    pub retry: RetryArgs,
}

/// `pve images`.
#[derive(Debug, Args)]
pub struct PveImagesArgs {
    /// Only this storage (default: every storage with vztmpl content and a path).
    #[arg(long, value_name = "ID")]
    pub storage: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// With --api: the node whose storage is listed (default: the one with the most free
    /// memory, as pull and create choose).
    #[arg(long, value_name = "NODE")]
    pub node: Option<String>,
    /// Cluster mode: list a node's storage through the API.
    #[command(flatten)]
    pub api: PveApiArgs,
}

/// The GPU kinds of `--gpu`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GpuArg {
    /// Intel: /dev/dri.
    Intel,
    /// AMD: /dev/dri.
    Amd,
    /// NVIDIA: /dev/nvidia*.
    Nvidia,
}

/// `pve create VMID|auto IMAGE`.
#[derive(Debug, Args)]
pub struct PveCreateArgs {
    /// The VMID (100–999999999), or `auto` for the next free one.
    pub vmid: String,
    /// A template volume id (STORAGE:vztmpl/FILE) or an image reference, pulled into
    /// --storage when its template is missing.
    pub image: String,
    /// Where a pulled template goes.
    #[command(flatten)]
    pub place: TemplatePlace,
    /// The hostname (default CT<vmid>).
    #[arg(long)]
    pub hostname: Option<String>,
    /// CPU cores (default: all).
    #[arg(long)]
    pub cores: Option<u32>,
    /// Memory in MiB (default 512).
    #[arg(long)]
    pub memory: Option<u32>,
    /// Swap in MiB (default 512).
    #[arg(long)]
    pub swap: Option<u32>,
    /// Root disk size in GiB (`8` or `8G`), a new volume on --rootfs-storage.
    #[arg(long, value_name = "SIZE", default_value = "4")]
    pub disk: String,
    /// The storage of the root disk (content rootdir); default the first such storage in
    /// storage.cfg.
    #[arg(long, value_name = "ID")]
    pub rootfs_storage: Option<String>,
    /// A network interface, netN's property string (repeatable); default
    /// name=eth0,bridge=vmbr0,ip=dhcp.
    #[arg(long, value_name = "PROPS")]
    pub net: Vec<String>,
    /// SRC:DST[:ro]: a host directory (bind mount), STORAGE:N (new N GiB volume) or a
    /// volume id, mounted at DST (repeatable).
    #[arg(long, value_name = "SRC:DST[:ro]")]
    pub mount: Vec<String>,
    /// Pass the host's GPU in: intel or amd (/dev/dri), nvidia (/dev/nvidia*).
    #[arg(long, value_name = "KIND", num_args = 0..=1, default_missing_value = "intel")]
    pub gpu: Option<GpuArg>,
    /// Set an environment variable over the image's (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Replace the image's Entrypoint and Cmd with this command line.
    #[arg(long, value_name = "COMMAND")]
    pub entrypoint: Option<String>,
    /// Container features, e.g. nesting=1 (systemd images need it).
    #[arg(long, value_name = "LIST")]
    pub features: Option<String>,
    /// Start the container when the node boots.
    #[arg(long)]
    pub onboot: bool,
    /// Start the container once created.
    #[arg(long)]
    pub start: bool,
    /// Tags (`a;b`, `a,b`, or repeated).
    #[arg(long, value_name = "TAGS")]
    pub tags: Vec<String>,
    /// Unprivileged container (Proxmox's default); --unprivileged=false for a privileged one.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true", value_parser = crate::argv::parse_go_bool)]
    pub unprivileged: bool,
    /// Print the pct command lines and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print a JSON object (vmid, ostemplate, started) instead of the VMID.
    #[arg(long)]
    pub json: bool,
    /// How the template is pulled when missing, and the cluster to create it in (--api).
    #[command(flatten)]
    pub pull: PvePullFlags,
}

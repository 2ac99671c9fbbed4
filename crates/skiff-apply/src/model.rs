//! What the file asks for, checked and normalised: one [`Desired`] per container, in the
//! order they must start (dependencies first).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;
use sha2::{Digest as _, Sha256};
use skiff_oci::Digest;

use crate::raw::Gpu;
use crate::size::{Gib, Mib};

/// One container as the file wants it.
#[derive(Debug, Clone, Serialize)]
pub struct Desired {
    /// The container's name on the host: `APP-CONTAINER`, `APP` for a one-container
    /// app, or the plain name.
    pub name: String,
    /// The app it belongs to, if any (secrets and `${host:…}` are per app).
    pub app: Option<String>,
    /// `registry/repository:tag`, normalised (no digest).
    pub image: String,
    /// A digest the file pins the image to: then no registry request is needed at all.
    pub pinned: Option<Digest>,
    /// CPU cores.
    pub cores: Option<u32>,
    /// Memory limit.
    pub memory: Option<Mib>,
    /// Swap limit.
    pub swap: Option<Mib>,
    /// Root disk size.
    pub disk: Option<Gib>,
    /// `disk` is a catalog's suggestion, not the file's: backends whose root
    /// filesystems have no size (plain LXC's directories) leave it aside.
    #[serde(skip)]
    pub disk_suggested: bool,
    /// Bind mounts (the data; never deleted by apply).
    pub mounts: Vec<Mount>,
    /// Environment, with `${secret:…}` / `${host:…}` not yet expanded.
    pub env: BTreeMap<String, String>,
    /// Overrides the image's Entrypoint.
    pub entrypoint: Option<Vec<String>>,
    /// Overrides the image's Cmd.
    pub command: Option<Vec<String>>,
    /// Start with the host.
    pub onboot: bool,
    /// Keep it running (default true).
    #[serde(skip)]
    pub start: bool,
    /// Shift ids as Proxmox's unprivileged containers do. Unset, each backend keeps its
    /// tool's default: privileged on plain LXC (as lxc-create run by root), unprivileged
    /// on Proxmox VE (as pct create).
    pub unprivileged: Option<bool>,
    /// Full names of the containers that must run (and be healthy) first.
    #[serde(skip)]
    pub depends_on: Vec<String>,
    /// A command run inside that must exit 0 before dependants start.
    #[serde(skip)]
    pub health: Option<String>,
    /// Keys only Proxmox can honour; a backend that cannot refuses them.
    pub proxmox: ProxmoxKeys,
    /// Where the container was defined: 1-based line and column, for later errors.
    #[serde(skip)]
    pub at: (usize, usize),
}

/// Keys of the seed that describe a Proxmox guest.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProxmoxKeys {
    /// The guest id (allocated when absent).
    pub vmid: Option<u32>,
    /// The cluster node.
    pub node: Option<String>,
    /// The storage of the root disk.
    pub storage: Option<String>,
    /// net0, as pct takes it.
    pub net: Option<String>,
    /// GPU passthrough.
    pub gpu: Option<Gpu>,
    /// pct `--features`.
    pub features: Option<String>,
    /// Proxmox tags.
    pub tags: Vec<String>,
}

/// One bind mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    /// Host path; `None` = a volume skiff keeps under its data dir.
    pub source: Option<PathBuf>,
    /// Path inside the container (absolute).
    pub target: String,
    /// Mounted read-only.
    pub readonly: bool,
    /// Include in backups (Proxmox `backup=1`).
    pub backup: bool,
}

/// A ZFS dataset of the seed's `pools:` (or a directory where there is no ZFS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// `pool/dataset`.
    pub name: String,
    /// `mountpoint=`.
    pub mountpoint: Option<String>,
    /// `quota=`.
    pub quota: Option<Gib>,
    /// `compression=`.
    pub compression: Option<String>,
}

/// The whole file, checked.
#[derive(Debug, Clone)]
pub struct DesiredFile {
    /// The file, made absolute: containers it created carry it in their marker, and
    /// `--prune` only removes containers of the same file.
    pub path: PathBuf,
    /// The `backend:` key.
    pub backend: Option<String>,
    /// The containers, dependencies first.
    pub containers: Vec<Desired>,
    /// The datasets of `pools:`.
    pub datasets: Vec<Dataset>,
}

impl Desired {
    /// A short hash of everything the backend writes for this container, kept in its
    /// marker: when the config's own keys no longer match what this hash was made from,
    /// someone edited it by hand (drift).
    pub fn spec_hash(&self, env: &BTreeMap<String, String>) -> String {
        #[derive(Serialize)]
        struct Hashed<'a> {
            d: &'a Desired,
            env: &'a BTreeMap<String, String>,
        }
        let json = serde_json::to_vec(&Hashed { d: self, env }).unwrap_or_default();
        hex::encode(&Sha256::digest(&json)[..8])
    }
}

//! # skiff-pve: Proxmox VE on one node
//!
//! What skiff needs to know about a Proxmox VE node to put OCI images where Proxmox looks
//! for them and to create containers from them, exactly as PVE 9.1 does (see
//! PROXMOX.md). It knows nothing of how images are fetched: the binary copies an image
//! into the [`template::TemplateTarget`] this crate names, with skiff-transport.
//!
//! * [`root`]: where the node's files are (`/etc/pve`, storage paths, `/dev`), prefixed
//!   for tests by `SKIFF_PVE_ROOT` / `SKIFF_DEV_ROOT`.
//! * [`storage`]: `/etc/pve/storage.cfg` — storages, their content types and their
//!   template caches.
//! * [`naming`]: Proxmox's template file-name normalisation and volume ids.
//! * [`template`]: the `NAME.tmp.PID` then rename-without-overwrite protocol of
//!   `oci-registry-pull`, and the OCI templates already in a cache.
//! * [`spec`]: [`CreateSpec`], a container to create, validated and independent of the
//!   way it is created (pct's argv here, API parameters in cluster mode).
//! * [`pct`]: the `pct create` / `pct set` command lines for a [`CreateSpec`], and
//!   running them.
//! * [`gpu`]: the host's GPU device nodes as `devN` entries.
//! * [`api`]: cluster mode — the same through the Proxmox VE REST API of a cluster.

pub mod api;
mod check;
mod error;
pub mod gpu;
pub mod naming;
pub mod pct;
pub mod root;
pub mod spec;
pub mod storage;
pub mod template;

pub use error::PveError;
pub use naming::{normalise_filename, template_filename, volid};
pub use root::NodeRoot;
pub use spec::{CreateSpec, Mount, MountSource, VmidChoice};
pub use storage::{Storage, StorageConfig};

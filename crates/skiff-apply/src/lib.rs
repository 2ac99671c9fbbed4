//! # skiff-apply: a YAML file of apps becomes running containers, planned and idempotent
//!
//! Terraform's plan/apply with Ansible's idempotence, for containers made from OCI
//! images:
//!
//! * [`file`] reads the file (the seed's `pools:` shape and plain `containers:` /
//!   `apps:` lists) into checked [`Desired`] containers — a typo, a wrong type or a bad
//!   size is an error at its `file:line:column` before anything is touched.
//! * [`plan`] compares each with what the [`Backend`] observes *on the live system* —
//!   there is no state file that could drift from reality; skiff marks the containers it
//!   manages (a comment in an LXC config) and never touches one without its mark.
//! * [`run`] carries a plan out in dependency order: create, update in place, replace
//!   the root filesystem when the image digest changed (mounts, the data, stay), start,
//!   wait for running and healthy, then the next.
//! * [`secrets`] expands `${secret:NAME}` (generated once, 0600) and `${host:NAME}`.
//!
//! Images reach this crate through [`Images`] (the binary resolves a tag with one
//! manifest HEAD and unpacks through skiff-rootfs), so it knows nothing of HTTP or tar.
//! Backends: [`lxc::LxcBackend`] (plain LXC), [`pve::PveBackend`] (pct on a Proxmox VE
//! node, through skiff-pve), [`pve_api::PveApiBackend`] (a cluster through its REST API).

mod backend;
mod error;
pub mod file;
pub mod lxc;
mod model;
pub mod plan;
pub mod pve;
pub mod pve_api;
mod raw;
pub mod run;
pub mod secrets;
mod size;

pub use backend::{Backend, Images, Live, Observed, Template};
pub use error::ApplyError;
pub use model::{Dataset, Desired, DesiredFile, Mount, ProxmoxKeys};
pub use raw::Gpu;
pub use size::{Gib, Mib};

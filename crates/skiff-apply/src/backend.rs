//! The seam between planning and the system containers live on: a [`Backend`] observes
//! live state and carries out single steps; [`Images`] brings images in. The plan logic
//! is the same for every backend — only the effect of a changed field (live, restart)
//! and the mechanics differ.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use skiff_oci::{Digest, ImageConfiguration};
use skiff_unpack::IdMap;

use crate::plan::Effect;
use crate::{ApplyError, Desired};

/// What a backend finds under a container name.
#[derive(Debug, Clone)]
pub enum Observed {
    /// Nothing of that name.
    Absent,
    /// A container skiff did not create (no marker): never touched.
    Unmanaged,
    /// A container skiff manages, as it is now.
    Managed(Live),
}

/// A managed container read from the live system (its config and its marker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    /// The image reference it was made from.
    pub image: String,
    /// The manifest digest its root filesystem was unpacked from.
    pub digest: Digest,
    /// The file that manages it (for `--prune`, which removes only its own file's).
    pub file: PathBuf,
    /// The [`Desired::spec_hash`] of the last apply.
    pub spec_hash: String,
    /// Running now.
    pub running: bool,
    /// The fields apply controls, read back from the config (see [`Backend::fields`]).
    pub fields: BTreeMap<String, String>,
}

/// One container as apply is about to write it: the file's wish with env expanded and
/// every mount given a host path, the digest the image resolved to, and the marker data.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// What the file says (mount sources filled in).
    pub desired: &'a Desired,
    /// The environment with `${secret:…}` / `${host:…}` expanded.
    pub env: BTreeMap<String, String>,
    /// The manifest digest to unpack.
    pub digest: Digest,
    /// The file, recorded in the marker.
    pub file: &'a Path,
    /// The spec hash, recorded in the marker.
    pub hash: String,
}

/// Where containers live. Every method acts on one container; the order and the
/// decisions are [`crate::run`]'s.
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// `lxc`, `pve`, `pve-api`.
    fn name(&self) -> &'static str;
    /// Refuses keys this backend cannot honour (never accepted and ignored).
    fn check(&self, d: &Desired) -> Result<(), ApplyError>;
    /// The fields apply controls, as this backend would write them for `d` with `env`:
    /// compared with [`Live::fields`] to plan, so both sides use the same spelling.
    fn fields(&self, d: &Desired, env: &BTreeMap<String, String>) -> BTreeMap<String, String>;
    /// How a change of `field` reaches a running container.
    fn effect(&self, field: &str) -> Effect;
    /// What `${host:NAME}` becomes for another container of the same app.
    fn host_address(&self, name: &str) -> String;
    /// What exists under `name`.
    fn observe(&self, name: &str) -> Result<Observed, ApplyError>;
    /// Every container this backend's skiff marker is on, with its state.
    fn managed(&self) -> Result<Vec<(String, Live)>, ApplyError>;
    /// Creates the container (stopped), atomically: it exists complete or not at all.
    async fn create(&self, t: &Target<'_>, images: &dyn Images) -> Result<(), ApplyError>;
    /// Replaces the root filesystem by the image at `t.digest`; mounts stay.
    async fn replace(&self, t: &Target<'_>, images: &dyn Images) -> Result<(), ApplyError>;
    /// Rewrites the config for `t` and applies `live` changes to the running container.
    fn update(&self, t: &Target<'_>, live: &[String]) -> Result<(), ApplyError>;
    /// Starts the container and waits until it runs.
    fn start(&self, name: &str) -> Result<(), ApplyError>;
    /// Stops the container.
    fn stop(&self, name: &str) -> Result<(), ApplyError>;
    /// Runs `command` inside until it exits 0 (or gives up).
    fn health(&self, name: &str, command: &str) -> Result<(), ApplyError>;
    /// Stops and removes the container (its mounts' sources stay).
    fn destroy(&self, name: &str) -> Result<(), ApplyError>;
}

/// Where images come from: implemented by the binary (registry flags, policy, progress).
#[async_trait::async_trait]
pub trait Images: Send + Sync {
    /// The digest `image` (a tagged reference) names now: one manifest HEAD.
    async fn resolve(&self, image: &str) -> Result<Digest, ApplyError>;
    /// Unpacks `image` at `digest` into `rootfs` (which must not exist) with `id_map`,
    /// returning the image configuration.
    async fn unpack(
        &self,
        image: &str,
        digest: &Digest,
        rootfs: &Path,
        id_map: IdMap,
    ) -> Result<ImageConfiguration, ApplyError>;
    /// The Proxmox template (an OCI archive in a storage's template cache) of `image` at
    /// `digest`: the one already there, else pulled as `skiff pve pull` pulls. Only the
    /// pve backends ask; a binary without them says so.
    async fn template(&self, image: &str, digest: &Digest) -> Result<Template, ApplyError>;
    /// Pulls `image` at `digest` into a new OCI archive at `path`, as `skiff pve pull`
    /// writes it: what the pve-api backend uploads to a node that lacks the template.
    async fn archive(&self, image: &str, digest: &Digest, path: &Path) -> Result<(), ApplyError>;
}

/// An OCI template in a Proxmox storage's template cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// `STORAGE:vztmpl/FILE`, what `pct create` takes.
    pub volid: String,
    /// The archive on this node.
    pub path: PathBuf,
}

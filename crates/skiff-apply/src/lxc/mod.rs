//! The `lxc` backend: containers on a plain LXC host, under `LXCPATH/NAME` as
//! lxc-create makes them, run as services (`lxc-start -d`).
//!
//! Every change is atomic per container, so an apply killed at any point leaves each
//! container as it was or as planned, and the next apply finishes the job:
//!
//! * create builds the whole container in `LXCPATH/.NAME.skiff-new` and renames it to
//!   `LXCPATH/NAME` last (a leftover `.NAME.skiff-new` is apply's and is removed);
//! * replace unpacks the new image into `rootfs-<digest>` beside the old one, writes the
//!   config beside (`.config.skiff-new`) and renames it over the old: the config names
//!   the rootfs, so the rename *is* the swap. The old rootfs is removed only after it;
//!   leftovers of an interrupted replace are removed by the next one;
//! * update renames a rewritten config into place and applies memory/cores/swap to the
//!   running container through `lxc-cgroup`.
//!
//! Each rootfs keeps its image configuration beside it (`rootfs-<digest>.image.json`) so
//! that an update can rewrite the config without fetching the image again.

mod cgroup;
mod config;
mod staging;
mod tools;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use skiff_lxc::{launcher, validate_name, write_identity, ContainerSpec};
use skiff_oci::{Digest, ImageConfiguration};

use crate::backend::{Backend, Images, Live, Observed, Target};
use crate::plan::Effect;
use crate::{ApplyError, Desired};
use cgroup::Cgroup;
use staging::Uncommitted;

/// Containers under one LXCPATH.
#[derive(Debug, Clone)]
pub struct LxcBackend {
    lxcpath: PathBuf,
}

impl LxcBackend {
    /// The backend for containers under `lxcpath` (lxc-create's `-P`).
    pub fn new(lxcpath: &Path) -> Self {
        LxcBackend {
            lxcpath: lxcpath.to_path_buf(),
        }
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.lxcpath.join(name)
    }

    fn unsupported(d: &Desired, key: &'static str, why: &str) -> ApplyError {
        ApplyError::Unsupported {
            container: d.name.clone(),
            backend: "lxc",
            key,
            why: why.to_string(),
        }
    }

    /// Unpacks the image of `t` into `dir/rootfs-<digest>` and writes its image config
    /// beside it; returns the rootfs path, the image config and the runtime spec.
    async fn unpack(
        &self,
        t: &Target<'_>,
        dir: &Path,
        images: &dyn Images,
    ) -> Result<(PathBuf, ImageConfiguration, ContainerSpec), ApplyError> {
        let rootfs = dir.join(rootfs_name(&t.digest));
        let id_map = config::id_map(config::unprivileged(t.desired));
        let owner = id_map.container_root();
        let image = images
            .unpack(&t.desired.image, &t.digest, &rootfs, id_map)
            .await?;
        let json = image_json(&rootfs);
        let bytes = serde_json::to_vec(&image).map_err(|e| ApplyError::Io {
            what: "encoding",
            path: json.clone(),
            source: std::io::Error::other(e),
        })?;
        std::fs::write(&json, bytes).map_err(ApplyError::io("writing", &json))?;
        let spec = ContainerSpec::from_image_config(&image, &rootfs)?;
        spec.create_volume_dirs(&rootfs, owner)?;
        write_identity(&rootfs, &t.desired.name, owner)?;
        Ok((rootfs, image, spec))
    }

    /// Writes the config for `t` over `dir/config` atomically (beside, then renamed). The
    /// config names `rootfs`; the tree is at `rootfs_now` (a staging path while creating).
    fn write_config(
        &self,
        dir: &Path,
        t: &Target<'_>,
        image: &ImageConfiguration,
        mut spec: ContainerSpec,
        (rootfs, rootfs_now): (&Path, &Path),
    ) -> Result<(), ApplyError> {
        make_mount_sources(t.desired)?;
        // The argv depends on the file's overrides, not only on the image, so the
        // launcher's argv file is (re)written with every config.
        spec.entrypoint = config::argv(t.desired, image);
        let owner = config::id_map(config::unprivileged(t.desired)).container_root();
        launcher::install(rootfs_now, &spec.entrypoint, owner)?;
        let text = config::render(t, spec, rootfs)?;
        let tmp = dir.join(".config.skiff-new");
        std::fs::write(&tmp, text).map_err(ApplyError::io("writing", &tmp))?;
        let target = dir.join("config");
        std::fs::rename(&tmp, &target).map_err(ApplyError::io("renaming into", &target))
    }

    fn read(&self, name: &str) -> Result<Option<config::Parsed>, ApplyError> {
        let path = self.dir(name).join("config");
        let text = std::fs::read_to_string(&path).map_err(ApplyError::io("reading", &path))?;
        Ok(config::parse(&text))
    }
}

/// `rootfs-<first 12 hex digits of the digest>`.
fn rootfs_name(digest: &Digest) -> String {
    let s = digest.to_string();
    let hex = s.split_once(':').map_or(s.as_str(), |(_, h)| h);
    format!("rootfs-{}", &hex[..hex.len().min(12)])
}

fn image_json(rootfs: &Path) -> PathBuf {
    let mut p = rootfs.as_os_str().to_owned();
    p.push(".image.json");
    PathBuf::from(p)
}

/// Creates missing mount sources: a bind mount of a missing directory fails to start.
fn make_mount_sources(d: &Desired) -> Result<(), ApplyError> {
    for src in d.mounts.iter().filter_map(|m| m.source.as_deref()) {
        std::fs::create_dir_all(src).map_err(ApplyError::io("creating mount source", src))?;
    }
    Ok(())
}

/// What interrupted applies left in `dir`: rootfs trees and their staging directories
/// other than `keep` (the one the config names), and an unrenamed config.
fn leftovers(dir: &Path, keep: &Path) -> Result<Vec<PathBuf>, ApplyError> {
    let entries = std::fs::read_dir(dir).map_err(ApplyError::io("reading", dir))?;
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("rootfs-")
                || name.starts_with(".rootfs-")
                || name == ".config.skiff-new"
        })
        .map(|e| e.path())
        .filter(|p| p != keep && *p != image_json(keep))
        .collect();
    out.sort();
    Ok(out)
}

/// Removes [`leftovers`].
fn remove_leftovers(dir: &Path, keep: &Path) -> Result<(), ApplyError> {
    for path in leftovers(dir, keep)? {
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(ApplyError::io("removing leftover", &path))?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl Backend for LxcBackend {
    fn name(&self) -> &'static str {
        "lxc"
    }

    fn check(&self, d: &Desired) -> Result<(), ApplyError> {
        let p = &d.proxmox;
        let pve = "a Proxmox key; it takes effect with --backend pve";
        if p.vmid.is_some() {
            return Err(Self::unsupported(d, "vmid", pve));
        }
        if p.node.is_some() {
            return Err(Self::unsupported(d, "node", pve));
        }
        if p.storage.is_some() {
            return Err(Self::unsupported(d, "storage", pve));
        }
        if p.features.is_some() {
            return Err(Self::unsupported(d, "features", pve));
        }
        if !p.tags.is_empty() {
            return Err(Self::unsupported(d, "tags", pve));
        }
        if p.net.is_some() {
            return Err(Self::unsupported(d, "net", "containers share the host's network here (lxc.net.0.type = none); there is no bridge to configure"));
        }
        if p.gpu.is_some_and(|g| g != crate::Gpu::None) {
            return Err(Self::unsupported(d, "gpu", "GPU passthrough is configured by the pve backend; on plain LXC bind /dev/dri with a mount"));
        }
        if d.swap.is_some() && d.memory.is_none() && Cgroup::detect() == Cgroup::V1 {
            return Err(Self::unsupported(
                d,
                "swap",
                "this host's cgroup v1 limits memory and swap together; set `memory:` too",
            ));
        }
        if d.disk.is_some() && !d.disk_suggested {
            return Err(Self::unsupported(d, "disk", "a directory root filesystem has no size to set; drop `disk:` or use the pve backend"));
        }
        if d.mounts.iter().any(|m| m.backup) {
            return Err(Self::unsupported(
                d,
                "backup",
                "LXC has no backup of mounts (Proxmox's vzdump honours backup=1)",
            ));
        }
        let spaced = |s: &str| s.chars().any(char::is_whitespace);
        if let Some(m) = d.mounts.iter().find(|m| {
            spaced(&m.target)
                || m.source
                    .as_deref()
                    .is_some_and(|s| spaced(&s.to_string_lossy()))
        }) {
            return Err(Self::unsupported(
                d,
                "mounts",
                &format!(
                    "{:?}: lxc.mount.entry cannot hold paths with spaces",
                    m.target
                ),
            ));
        }
        Ok(())
    }

    fn fields(&self, d: &Desired, env: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        config::fields(d, env)
    }

    fn effect(&self, field: &str) -> Effect {
        match field {
            "memory" | "swap" | "cores" | "onboot" | "image" | "leftovers" => Effect::Live,
            "unprivileged" => Effect::Replace,
            _ => Effect::Restart,
        }
    }

    fn host_address(&self, _name: &str) -> String {
        // Containers share the host's network namespace (see `config::render`).
        "127.0.0.1".into()
    }

    fn observe(&self, name: &str) -> Result<Observed, ApplyError> {
        validate_name(name)?;
        if !self.dir(name).join("config").exists() {
            return Ok(Observed::Absent);
        }
        let Some(parsed) = self.read(name)? else {
            return Ok(Observed::Unmanaged);
        };
        let mut live = parsed.live;
        live.running = tools::running(name, &self.lxcpath)?;
        // Shown as a change, so that the next apply tidies up after an interrupted one.
        let left = leftovers(&self.dir(name), &parsed.rootfs)?;
        if !left.is_empty() {
            let names: Vec<String> = left
                .iter()
                .filter_map(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .collect();
            live.fields.insert("leftovers".into(), names.join(" "));
        }
        Ok(Observed::Managed(live))
    }

    fn managed(&self) -> Result<Vec<(String, Live)>, ApplyError> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.lxcpath) else {
            return Ok(out);
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if validate_name(&name).is_err() {
                continue;
            }
            if let Observed::Managed(live) = self.observe(&name)? {
                out.push((name, live));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    async fn create(&self, t: &Target<'_>, images: &dyn Images) -> Result<(), ApplyError> {
        let name = &t.desired.name;
        validate_name(name)?;
        let dir = self.dir(name);
        if dir.exists() {
            return Err(ApplyError::Unmanaged(name.clone()));
        }
        std::fs::create_dir_all(&self.lxcpath)
            .map_err(ApplyError::io("creating", &self.lxcpath))?;
        let new = self.lxcpath.join(format!(".{name}.skiff-new"));
        if new.exists() {
            std::fs::remove_dir_all(&new).map_err(ApplyError::io("removing leftover", &new))?;
        }
        std::fs::create_dir(&new).map_err(ApplyError::io("creating", &new))?;
        let staging = Uncommitted::new(vec![new.clone()]);
        let (rootfs, image, spec) = self.unpack(t, &new, images).await?;
        // The config names the final path: it is only read after the rename below.
        let final_rootfs = dir.join(rootfs.file_name().unwrap_or_default());
        self.write_config(&new, t, &image, spec, (&final_rootfs, &rootfs))?;
        std::fs::rename(&new, &dir).map_err(ApplyError::io("renaming into", &dir))?;
        staging.commit();
        Ok(())
    }

    async fn replace(&self, t: &Target<'_>, images: &dyn Images) -> Result<(), ApplyError> {
        let name = &t.desired.name;
        let dir = self.dir(name);
        let old = self
            .read(name)?
            .ok_or_else(|| ApplyError::Unmanaged(name.clone()))?;
        remove_leftovers(&dir, &old.rootfs)?;
        let rootfs = dir.join(rootfs_name(&t.digest));
        if rootfs == old.rootfs {
            return Err(ApplyError::Io {
                what: "replacing",
                path: rootfs,
                source: std::io::Error::other(
                    "the new image has the running image's digest prefix",
                ),
            });
        }
        let staging = Uncommitted::new(vec![
            rootfs.clone(),
            image_json(&rootfs),
            dir.join(".config.skiff-new"),
        ]);
        let (rootfs, image, spec) = self.unpack(t, &dir, images).await?;
        tools::stop(name, &self.lxcpath)?;
        self.write_config(&dir, t, &image, spec, (&rootfs, &rootfs))?;
        staging.commit();
        remove_leftovers(&dir, &rootfs)
    }

    fn update(&self, t: &Target<'_>, live: &[String]) -> Result<(), ApplyError> {
        let name = &t.desired.name;
        let dir = self.dir(name);
        let current = self
            .read(name)?
            .ok_or_else(|| ApplyError::Unmanaged(name.clone()))?;
        let json = image_json(&current.rootfs);
        let bytes = std::fs::read(&json).map_err(ApplyError::io("reading", &json))?;
        let image: ImageConfiguration =
            serde_json::from_slice(&bytes).map_err(|e| ApplyError::Io {
                what: "decoding",
                path: json.clone(),
                source: std::io::Error::other(e),
            })?;
        let spec = ContainerSpec::from_image_config(&image, &current.rootfs)?;
        self.write_config(&dir, t, &image, spec, (&current.rootfs, &current.rootfs))?;
        remove_leftovers(&dir, &current.rootfs)?;
        if !tools::running(name, &self.lxcpath)? {
            return Ok(());
        }
        if live
            .iter()
            .any(|f| matches!(f.as_str(), "memory" | "swap" | "cores"))
        {
            let cg = Cgroup::detect();
            for (key, value) in cg.live_settings(config::limits(t.desired)) {
                tools::cgroup(name, &self.lxcpath, key, &value)?;
            }
        }
        Ok(())
    }

    fn start(&self, name: &str) -> Result<(), ApplyError> {
        tools::start(name, &self.lxcpath)
    }

    fn stop(&self, name: &str) -> Result<(), ApplyError> {
        tools::stop(name, &self.lxcpath)
    }

    fn health(&self, name: &str, command: &str) -> Result<(), ApplyError> {
        tools::health(name, &self.lxcpath, command)
    }

    fn destroy(&self, name: &str) -> Result<(), ApplyError> {
        tools::stop(name, &self.lxcpath)?;
        let dir = self.dir(name);
        std::fs::remove_dir_all(&dir).map_err(ApplyError::io("removing", &dir))
    }
}

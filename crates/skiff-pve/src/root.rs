//! Where the node's files are. On a Proxmox node that is `/`; tests point skiff at a
//! prepared tree instead, with `SKIFF_PVE_ROOT` (for `/etc/pve` and storage paths) and
//! `SKIFF_DEV_ROOT` (for `/dev`, so GPU probing sees chosen device nodes).

use std::path::{Path, PathBuf};

use crate::PveError;

/// The environment variable prefixing `/etc/pve` and storage paths.
pub const PVE_ROOT_ENV: &str = "SKIFF_PVE_ROOT";
/// The environment variable prefixing `/dev` for device probing.
pub const DEV_ROOT_ENV: &str = "SKIFF_DEV_ROOT";

/// The file-system roots of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRoot {
    root: PathBuf,
    dev_root: PathBuf,
}

impl Default for NodeRoot {
    fn default() -> Self {
        NodeRoot {
            root: PathBuf::from("/"),
            dev_root: PathBuf::from("/"),
        }
    }
}

impl NodeRoot {
    /// `/` unless the environment says otherwise.
    pub fn from_env() -> Self {
        let var = |name| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        NodeRoot {
            root: var(PVE_ROOT_ENV).unwrap_or_else(|| PathBuf::from("/")),
            dev_root: var(DEV_ROOT_ENV).unwrap_or_else(|| PathBuf::from("/")),
        }
    }

    /// Roots at `root` for both (tests).
    pub fn at(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        NodeRoot {
            dev_root: root.clone(),
            root,
        }
    }

    /// An absolute node path (`/etc/pve/storage.cfg`) under the root.
    pub fn path(&self, absolute: impl AsRef<Path>) -> PathBuf {
        under(&self.root, absolute.as_ref())
    }

    /// An absolute device path (`/dev/dri`) under the device root.
    pub fn dev_path(&self, absolute: impl AsRef<Path>) -> PathBuf {
        under(&self.dev_root, absolute.as_ref())
    }

    /// `/etc/pve/storage.cfg`.
    pub fn storage_cfg(&self) -> PathBuf {
        self.path("/etc/pve/storage.cfg")
    }

    /// `/etc/pve/lxc/VMID.conf`, the container's config on this node.
    pub fn lxc_conf(&self, vmid: u32) -> PathBuf {
        self.path(format!("/etc/pve/lxc/{vmid}.conf"))
    }

    /// The directories whose `VMID.conf` files are the guests of the cluster: this node's
    /// `lxc` and `qemu-server`, and every node's under `/etc/pve/nodes`.
    pub fn guest_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![self.path("/etc/pve/lxc"), self.path("/etc/pve/qemu-server")];
        if let Ok(nodes) = std::fs::read_dir(self.path("/etc/pve/nodes")) {
            for node in nodes.flatten() {
                dirs.push(node.path().join("lxc"));
                dirs.push(node.path().join("qemu-server"));
            }
        }
        dirs
    }
}

/// This node's name, as Proxmox names it: the host name up to the first dot.
pub fn local_node_name() -> Result<String, PveError> {
    let path = "/proc/sys/kernel/hostname";
    let name = std::fs::read_to_string(path).map_err(|e| PveError::io("reading", path, e))?;
    Ok(name
        .trim()
        .split('.')
        .next()
        .unwrap_or_default()
        .to_string())
}

fn under(root: &Path, absolute: &Path) -> PathBuf {
    let relative = absolute.strip_prefix("/").unwrap_or(absolute);
    root.join(relative)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_prefixed() {
        let r = NodeRoot::at("/tmp/node");
        assert_eq!(r.storage_cfg(), Path::new("/tmp/node/etc/pve/storage.cfg"));
        assert_eq!(r.lxc_conf(101), Path::new("/tmp/node/etc/pve/lxc/101.conf"));
        assert_eq!(
            NodeRoot::default().dev_path("/dev/dri"),
            Path::new("/dev/dri")
        );
    }
}

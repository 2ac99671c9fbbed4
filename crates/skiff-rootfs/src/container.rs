//! An unpacked image as a container: a plain LXC container (`lxc create`) or the config
//! lines Proxmox's `pct create` writes (`unpack --pve-config`).

use std::path::{Path, PathBuf};

use skiff_lxc::{
    pve_config_fragment, validate_name, write_container, ContainerSpec, LxcConfigOptions,
};
use skiff_oci::ImageConfiguration;
use skiff_transport::atomic::Cleanup;
use skiff_unpack::IdMap;

use crate::RootfsError;

/// Parses a `--set KEY=VALUE` extra LXC config line: only `lxc.*` keys, one line.
pub fn parse_setting(s: &str) -> Result<(String, String), RootfsError> {
    let bad = || RootfsError::BadSetting(s.to_string());
    let (k, v) = s.split_once('=').ok_or_else(bad)?;
    let (k, v) = (k.trim(), v.trim());
    if !k.starts_with("lxc.") || v.contains('\n') {
        return Err(bad());
    }
    Ok((k.to_string(), v.to_string()))
}

/// Where a new LXC container goes, reserved before its image is unpacked: the directory
/// `LXCPATH/NAME` is removed again unless [`finish`](Self::finish) is reached.
pub struct NewContainer {
    lxcpath: PathBuf,
    name: String,
    guard: Option<Cleanup>,
}

impl NewContainer {
    /// Refuses an invalid name or an existing container, then creates `LXCPATH/NAME`. The
    /// name is checked first: it becomes a path, so `.`, `a/b` or `x/../../esc` would put
    /// the rootfs somewhere else.
    pub fn reserve(lxcpath: &Path, name: &str) -> Result<Self, RootfsError> {
        validate_name(name)?;
        let dir = lxcpath.join(name);
        if dir.join("config").exists() {
            return Err(RootfsError::ContainerExists {
                name: name.to_string(),
                lxcpath: lxcpath.to_path_buf(),
            });
        }
        std::fs::create_dir_all(lxcpath).map_err(RootfsError::io("creating", lxcpath))?;
        let guard = (!dir.exists()).then(|| Cleanup::new(dir.clone()));
        std::fs::create_dir_all(&dir).map_err(RootfsError::io("creating", &dir))?;
        Ok(NewContainer {
            lxcpath: lxcpath.to_path_buf(),
            name: name.to_string(),
            guard,
        })
    }

    /// Where the image must be unpacked.
    pub fn rootfs(&self) -> PathBuf {
        self.lxcpath.join(&self.name).join("rootfs")
    }

    /// Writes the container config for the unpacked image (volume directories, hostname
    /// and hosts files included) and keeps the container. Returns the config's path.
    pub fn finish(
        mut self,
        config: &ImageConfiguration,
        id_map: IdMap,
        extra: Vec<(String, String)>,
    ) -> Result<PathBuf, RootfsError> {
        let rootfs = self.rootfs();
        let owner = id_map.container_root();
        let spec = ContainerSpec::from_image_config(config, &rootfs)?;
        spec.create_volume_dirs(&rootfs, owner)?;
        let options = LxcConfigOptions {
            name: self.name.clone(),
            rootfs,
            id_map,
            extra,
        };
        let path = write_container(&self.lxcpath, &spec, &options, owner)?;
        if let Some(g) = self.guard.as_mut() {
            g.disarm();
        }
        Ok(path)
    }
}

/// Writes Proxmox's `pct create` config lines for an unpacked image to `out`, and creates
/// the image's volume directories in the rootfs as pct does.
pub fn write_pve_fragment(
    config: &ImageConfiguration,
    rootfs: &Path,
    id_map: &IdMap,
    out: &Path,
) -> Result<(), RootfsError> {
    let spec = ContainerSpec::from_image_config(config, rootfs)?;
    spec.create_volume_dirs(rootfs, id_map.container_root())?;
    std::fs::write(out, pve_config_fragment(&spec)).map_err(RootfsError::io("writing", out))
}

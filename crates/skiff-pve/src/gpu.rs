//! `--gpu`: the host's GPU device nodes as `devN` entries, as Proxmox users pass them
//! (PROXMOX.md): Intel and AMD through `/dev/dri` (render nodes owned by the container's
//! `render` group, card nodes by its `video` group — the gids are the image's, read from
//! its `/etc/group`, because PVE applies devN uid/gid inside the container); NVIDIA
//! through `/dev/nvidia*`, with the driver's userspace in the image.

use crate::spec::Device;
use crate::{NodeRoot, PveError};

/// The GPU kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gpu {
    /// Intel or AMD: `/dev/dri`.
    Dri,
    /// NVIDIA: `/dev/nvidia*`.
    Nvidia,
}

/// The NVIDIA control nodes passed besides `/dev/nvidiaN`.
const NVIDIA_CONTROL: [&str; 3] = ["nvidiactl", "nvidia-uvm", "nvidia-uvm-tools"];

/// The gid of `name` in an `/etc/group` text.
pub fn group_gid(etc_group: &str, name: &str) -> Option<u32> {
    etc_group.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next() == Some(name))
            .then(|| fields.nth(1).and_then(|g| g.trim().parse().ok()))
            .flatten()
    })
}

/// The device entries for `gpu` from the host's `/dev` (under `root`'s device root).
/// `etc_group` is the image's `/etc/group`, if it has one.
pub fn devices(
    gpu: Gpu,
    root: &NodeRoot,
    etc_group: Option<&str>,
) -> Result<Vec<Device>, PveError> {
    let dev = root.dev_path("/dev");
    let names = |dir: &std::path::Path| -> Result<Vec<String>, PveError> {
        let mut names: Vec<String> = match std::fs::read_dir(dir) {
            Ok(d) => d
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(PveError::io("reading", dir, e)),
        };
        names.sort();
        Ok(names)
    };
    let found: Vec<Device> = match gpu {
        Gpu::Dri => {
            let gid = |group: &str| etc_group.and_then(|g| group_gid(g, group));
            let video = gid("video");
            // Images without a render group (Alpine has none) get video's: the node is
            // then usable by the same users as the card node.
            let render = gid("render").or(video);
            names(&dev.join("dri"))?
                .into_iter()
                .filter_map(|n| {
                    let gid = if n.starts_with("renderD") {
                        render
                    } else if n.starts_with("card") {
                        video
                    } else {
                        return None;
                    };
                    Some(Device {
                        path: format!("/dev/dri/{n}"),
                        gid,
                    })
                })
                .collect()
        }
        Gpu::Nvidia => {
            let present = names(&dev)?;
            let numbered = present.iter().filter(|n| {
                n.strip_prefix("nvidia")
                    .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            });
            let control = NVIDIA_CONTROL
                .iter()
                .filter(|c| present.iter().any(|n| n == *c))
                .map(|c| c.to_string());
            numbered
                .cloned()
                .chain(control)
                .map(|n| Device {
                    path: format!("/dev/{n}"),
                    gid: None,
                })
                .collect()
        }
    };
    if found.is_empty() {
        let wanted = match gpu {
            Gpu::Dri => "/dev/dri/renderD* or /dev/dri/card*",
            Gpu::Nvidia => "/dev/nvidia0…",
        };
        return Err(PveError::invalid(
            "--gpu",
            format!("this host has no {wanted} (is the driver loaded?)"),
        ));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dri_nodes_take_the_images_groups() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("dev/dri/by-path")).unwrap();
        for n in ["card0", "renderD128"] {
            std::fs::write(dir.path().join("dev/dri").join(n), b"").unwrap();
        }
        let root = NodeRoot::at(dir.path());
        let group = "root:x:0:\nvideo:x:44:\nrender:x:993:\n";
        let d = devices(Gpu::Dri, &root, Some(group)).unwrap();
        assert_eq!(d[0].property(), "/dev/dri/card0,gid=44");
        assert_eq!(d[1].property(), "/dev/dri/renderD128,gid=993");
        let d = devices(Gpu::Dri, &root, Some("video:x:27:\n")).unwrap();
        assert_eq!(d[1].property(), "/dev/dri/renderD128,gid=27");
        assert!(devices(Gpu::Nvidia, &root, None).is_err());
    }

    #[test]
    fn nvidia_nodes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("dev")).unwrap();
        for n in [
            "nvidia0",
            "nvidiactl",
            "nvidia-uvm",
            "nvidia-modeset",
            "null",
        ] {
            std::fs::write(dir.path().join("dev").join(n), b"").unwrap();
        }
        let d = devices(Gpu::Nvidia, &NodeRoot::at(dir.path()), None).unwrap();
        let paths: Vec<&str> = d.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm"]);
    }
}

//! `lxc create NAME IMAGE`: a runnable container on a plain LXC host, straight from any
//! image source — rootfs unpacked safely, config written as LXC's lxc-oci template does.

use std::path::{Path, PathBuf};

use skiff_lxc::{write_container, ContainerSpec, LxcConfigOptions, LxcInit};
use skiff_transport::atomic::Cleanup;

use crate::cli::{GlobalOptions, IdMapArgs, LxcCreateArgs};
use crate::commands::unpack::unpack_to;
use crate::failure::Failure;

/// The host owner of the container's root (for directories skiff creates in the rootfs).
pub fn mapped_root(ids: &IdMapArgs) -> Result<Option<(u32, u32)>, Failure> {
    let map = crate::commands::unpack::unpack_options(ids)?.id_map;
    Ok(match (map.uid(0), map.gid(0)) {
        (Some(u), Some(g)) if (u, g) != (0, 0) => Some((u, g)),
        _ => None,
    })
}

/// `lxc.idmap` entries for the id-mapping flags.
fn idmap_lines(ids: &IdMapArgs) -> Result<Vec<(char, u32, u32, u32)>, Failure> {
    if ids.unprivileged {
        return Ok(vec![('u', 0, 100_000, 65_536), ('g', 0, 100_000, 65_536)]);
    }
    let parse = |kind: char, s: &String| -> Result<(char, u32, u32, u32), Failure> {
        let parts: Vec<u32> = s
            .split(':')
            .map(|p| p.parse::<u32>())
            .collect::<Result<_, _>>()
            .map_err(|_| Failure::new(format!("invalid id map {s:?}: use CONTAINER:HOST:COUNT")))?;
        match parts.as_slice() {
            [c, h, n] => Ok((kind, *c, *h, *n)),
            _ => Err(Failure::new(format!(
                "invalid id map {s:?}: use CONTAINER:HOST:COUNT"
            ))),
        }
    };
    ids.uidmap
        .iter()
        .map(|s| parse('u', s))
        .chain(ids.gidmap.iter().map(|s| parse('g', s)))
        .collect()
}

fn parse_set(s: &str) -> Result<(String, String), Failure> {
    let (k, v) = s.split_once('=').ok_or_else(|| {
        Failure::new(format!(
            "--set {s:?}: use KEY=VALUE, e.g. lxc.net.0.type=none"
        ))
    })?;
    let (k, v) = (k.trim(), v.trim());
    if !k.starts_with("lxc.") || v.contains('\n') {
        return Err(Failure::new(format!(
            "--set {s:?}: only lxc.* keys with one-line values"
        )));
    }
    Ok((k.to_string(), v.to_string()))
}

pub async fn create(global: &GlobalOptions, args: LxcCreateArgs) -> Result<(), Failure> {
    let lxcpath = args
        .lxcpath
        .clone()
        .unwrap_or_else(|| PathBuf::from("/var/lib/lxc"));
    let dir = lxcpath.join(&args.name);
    if dir.join("config").exists() {
        return Err(Failure::new(format!(
            "container {} already exists in {}",
            args.name,
            lxcpath.display()
        )));
    }
    let extra = args
        .set
        .iter()
        .map(|s| parse_set(s))
        .collect::<Result<Vec<_>, _>>()?;
    let id_map = idmap_lines(&args.ids)?;
    let owner = mapped_root(&args.ids)?;
    std::fs::create_dir_all(&lxcpath)
        .map_err(|e| Failure::new(format!("creating {}: {e}", lxcpath.display())))?;
    let created_dir = !dir.exists();
    let mut guard = created_dir.then(|| Cleanup::new(dir.clone()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| Failure::new(format!("creating {}: {e}", dir.display())))?;
    let rootfs = dir.join("rootfs");
    let unpacked = unpack_to(global, &args.image, &rootfs, &args.ids, &args.src).await?;
    let spec = ContainerSpec::from_image_config(&unpacked.config, &rootfs)
        .map_err(|e| Failure::new(e.to_string()))?;
    spec.create_volume_dirs(&rootfs, owner)
        .map_err(|e| Failure::new(e.to_string()))?;
    let options = LxcConfigOptions {
        name: args.name.clone(),
        rootfs: rootfs.clone(),
        init: if args.init {
            LxcInit::Init
        } else {
            LxcInit::Execute
        },
        id_map,
        extra,
    };
    let config = write_container(&lxcpath, &spec, &options, owner)
        .map_err(|e| Failure::new(e.to_string()))?;
    if let Some(g) = guard.as_mut() {
        g.disarm();
    }
    if !args.quiet {
        let run = if args.init {
            "lxc-start -F"
        } else {
            "lxc-execute"
        };
        eprintln!("Created container {} ({})", args.name, config.display());
        eprintln!(
            "Run it with: {run} -n {} -P {}",
            args.name,
            lxcpath.display()
        );
    }
    Ok(())
}

/// Writes Proxmox's `pct create` config lines for an unpacked image (`unpack --pve-config`).
pub fn write_pve_fragment(
    config: &skiff_oci::ImageConfiguration,
    rootfs: &Path,
    owner: Option<(u32, u32)>,
    out: &Path,
) -> Result<(), Failure> {
    let spec = ContainerSpec::from_image_config(config, rootfs)
        .map_err(|e| Failure::new(e.to_string()))?;
    spec.create_volume_dirs(rootfs, owner)
        .map_err(|e| Failure::new(e.to_string()))?;
    std::fs::write(out, skiff_lxc::pve_config_fragment(&spec))
        .map_err(|e| Failure::new(format!("writing {}: {e}", out.display())))
}

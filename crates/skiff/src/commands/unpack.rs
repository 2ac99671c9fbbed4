//! `unpack IMAGE ROOTFS`: an image's layers applied safely into a new root filesystem.

use std::sync::Arc;

use skiff_transport::{open_source, ImageName};
use skiff_unpack::{IdMap, Limits, UnpackOptions};

use crate::cli::{GlobalOptions, IdMapArgs, UnpackArgs};
use crate::failure::Failure;
use crate::options::{open_options, platform};
use crate::rootfs::{unpack_image, Unpacked};

/// Unpack options from the id-mapping and limit flags; as non-root, rootless mode (owners
/// and device nodes skipped with a warning) is the only thing that can work.
pub fn unpack_options(ids: &IdMapArgs) -> Result<UnpackOptions, Failure> {
    let id_map = if ids.unprivileged {
        if !ids.uidmap.is_empty() || !ids.gidmap.is_empty() {
            return Err(Failure::new(
                "--unprivileged and --uidmap/--gidmap are mutually exclusive",
            ));
        }
        IdMap::proxmox_unprivileged()
    } else if ids.uidmap.is_empty() && ids.gidmap.is_empty() {
        IdMap::identity()
    } else {
        IdMap::parse(&ids.uidmap, &ids.gidmap).map_err(|e| Failure::new(e.to_string()))?
    };
    let mut limits = Limits::default();
    if let Some(r) = ids.max_ratio {
        limits.max_ratio = r;
    }
    if let Some(b) = ids.max_layer_bytes {
        limits.max_layer_bytes = b;
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    Ok(UnpackOptions {
        id_map,
        rootless: ids.rootless || !root,
        limits,
        threads: skiff_unpack::default_threads(),
    })
}

/// Opens IMAGE and unpacks it into ROOTFS.
pub async fn unpack_to(
    global: &GlobalOptions,
    image: &str,
    rootfs: &std::path::Path,
    ids: &IdMapArgs,
    src: &crate::cli::SrcRegistryArgs,
) -> Result<Unpacked, Failure> {
    let name: ImageName = image.parse()?;
    let open = open_options(global, &src.flags(None, 3, None))?;
    let source: Arc<dyn skiff_transport::ImageSource> = Arc::from(open_source(&name, &open)?);
    let options = unpack_options(ids)?;
    let unpacked = unpack_image(source, &platform(global), rootfs, options).await?;
    for w in &unpacked.report.warnings {
        eprintln!("skiff: warning: {w}");
    }
    Ok(unpacked)
}

pub async fn run(global: &GlobalOptions, args: UnpackArgs) -> Result<(), Failure> {
    let unpacked = unpack_to(global, &args.image, &args.rootfs, &args.ids, &args.src).await?;
    if let Some(out) = &args.pve_config {
        let owner = crate::commands::lxc::mapped_root(&args.ids)?;
        crate::commands::lxc::write_pve_fragment(&unpacked.config, &args.rootfs, owner, out)?;
    }
    if !args.quiet {
        eprintln!(
            "Unpacked {} layer(s), {} entries, {:.1} MiB into {}",
            unpacked.report.layers,
            unpacked.report.entries,
            unpacked.report.bytes as f64 / (1024.0 * 1024.0),
            args.rootfs.display()
        );
    }
    Ok(())
}

//! `unpack IMAGE ROOTFS`: an image's layers applied safely into a new root filesystem.

use skiff_rootfs::container::write_pve_fragment;

use crate::cli::{GlobalOptions, UnpackArgs};
use crate::failure::Failure;
use crate::output::stderr_line;
use crate::rootfs::{unpack_options, unpack_to};

pub async fn run(global: &GlobalOptions, args: UnpackArgs) -> Result<(), Failure> {
    let options = unpack_options(&args.ids)?;
    let id_map = options.id_map.clone();
    let unpacked = unpack_to(
        global,
        &args.image,
        &args.rootfs,
        options,
        &args.src,
        &args.cache,
        args.quiet,
    )
    .await?;
    if let Some(out) = &args.pve_config {
        write_pve_fragment(&unpacked.config, &args.rootfs, &id_map, out)?;
    }
    if !args.quiet {
        stderr_line(&format!(
            "Unpacked {} layer(s), {} entries, {:.1} MiB into {}",
            unpacked.report.layers,
            unpacked.report.entries,
            unpacked.report.bytes as f64 / (1024.0 * 1024.0),
            args.rootfs.display()
        ));
    }
    Ok(())
}

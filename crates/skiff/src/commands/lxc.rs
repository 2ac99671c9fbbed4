//! `lxc create NAME IMAGE`: a runnable container on a plain LXC host, straight from any
//! image source — rootfs unpacked safely, config written as LXC's lxc-oci template does.

use std::path::PathBuf;

use skiff_rootfs::container::{parse_setting, NewContainer};

use crate::cli::{GlobalOptions, LxcCreateArgs};
use crate::failure::Failure;
use crate::output::stderr_line;
use crate::rootfs::{unpack_options, unpack_to};

pub async fn create(global: &GlobalOptions, args: LxcCreateArgs) -> Result<(), Failure> {
    let lxcpath = args
        .lxcpath
        .clone()
        .unwrap_or_else(|| PathBuf::from("/var/lib/lxc"));
    let extra = args
        .set
        .iter()
        .map(|s| parse_setting(s))
        .collect::<Result<Vec<_>, _>>()?;
    let options = unpack_options(&args.ids)?;
    let id_map = options.id_map.clone();
    let container = NewContainer::reserve(&lxcpath, &args.name)?;
    let unpacked = unpack_to(
        global,
        &args.image,
        &container.rootfs(),
        options,
        &args.src,
        &args.cache,
        args.quiet,
    )
    .await?;
    let config = container.finish(&unpacked.config, id_map, extra)?;
    if !args.quiet {
        stderr_line(&format!(
            "Created container {} ({})",
            args.name,
            config.display()
        ));
        stderr_line(&format!(
            "Run it with: lxc-execute -n {} -P {}",
            args.name,
            lxcpath.display()
        ));
    }
    Ok(())
}

//! Glue between the unpack flags and skiff-rootfs: options from flags, errors to
//! failures with a hint, the source opened and the progress rendered. The pipeline
//! itself lives in the skiff-rootfs crate.

use std::path::Path;
use std::sync::Arc;

use skiff_rootfs::{unpack_image, RootfsError, Unpacked};
use skiff_transport::{open_source, ImageName, ImageSource};
use skiff_unpack::{IdMap, Limits, UnpackError, UnpackOptions};

use crate::cli::{program_name, CacheArgs, GlobalOptions, IdMapArgs, SrcRegistryArgs};
use crate::failure::Failure;
use crate::options::{host_cache, open_options, platform};
use crate::output::stderr_line;

/// The id map the flags ask for.
pub fn id_map(ids: &IdMapArgs) -> Result<IdMap, Failure> {
    if ids.unprivileged {
        if !ids.uidmap.is_empty() || !ids.gidmap.is_empty() {
            return Err(Failure::new(
                "--unprivileged and --uidmap/--gidmap are mutually exclusive",
            ));
        }
        return Ok(IdMap::proxmox_unprivileged());
    }
    IdMap::parse(&ids.uidmap, &ids.gidmap).map_err(|e| {
        Failure::new(e.to_string())
            .hint("--uidmap/--gidmap take CONTAINER:HOST:COUNT, e.g. 0:100000:65536")
    })
}

/// Unpack options from the id-mapping and limit flags; as non-root, rootless mode (owners
/// and device nodes skipped with a warning) is the only thing that can work, and is what
/// the library's default says.
pub fn unpack_options(ids: &IdMapArgs) -> Result<UnpackOptions, Failure> {
    let defaults = UnpackOptions::default();
    let mut limits = Limits::default();
    if let Some(r) = ids.max_ratio {
        limits.max_ratio = r;
    }
    if let Some(b) = ids.max_layer_bytes {
        limits.max_layer_bytes = b;
    }
    Ok(UnpackOptions {
        id_map: id_map(ids)?,
        rootless: ids.rootless || defaults.rootless,
        limits,
        ..defaults
    })
}

/// Opens IMAGE and unpacks it into ROOTFS, rendering progress unless `quiet`.
pub async fn unpack_to(
    global: &GlobalOptions,
    image: &str,
    rootfs: &Path,
    options: UnpackOptions,
    src: &SrcRegistryArgs,
    cache: &CacheArgs,
    quiet: bool,
) -> Result<Unpacked, Failure> {
    let name: ImageName = image.parse()?;
    let mut open = open_options(global, &src.flags(None, 3, None).quiet(quiet))?;
    open.cache = host_cache(cache)?;
    let source: Arc<dyn ImageSource> = Arc::from(crate::policy::gate(
        global,
        &name,
        &open,
        open_source(&name, &open)?,
    )?);
    let reporter = crate::render_unpack::reporter(quiet);
    let unpacked = unpack_image(source, &platform(global), rootfs, options, reporter).await?;
    for w in &unpacked.report.warnings {
        stderr_line(&format!("{}: warning: {w}", program_name()));
    }
    Ok(unpacked)
}

impl From<RootfsError> for Failure {
    fn from(e: RootfsError) -> Self {
        match e {
            RootfsError::Transport(e) => Failure::from(e),
            RootfsError::TargetNotEmpty(_) => Failure::new(e.to_string())
                .hint("unpack into a new directory, or remove the old root filesystem first"),
            RootfsError::ContainerExists { .. } => Failure::new(e.to_string())
                .hint("choose another name, or remove the container first (lxc-destroy -n NAME)"),
            RootfsError::Unpack(UnpackError::Cancelled) => Failure::interrupted(),
            e => Failure::new(e.to_string()),
        }
    }
}

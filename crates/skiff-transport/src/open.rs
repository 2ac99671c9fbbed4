//! From an image name to a source or destination.

use skiff_registry::registries_conf::RegistriesConf;
use skiff_registry::{ClientOptions, RegistryClient};

use crate::client_pool::{client_for, ClientPool};
use crate::dir::{DirDestination, DirSource};
use crate::docker::DockerSource;
use crate::docker_archive::{ArchiveSelector, DockerArchiveDestination, DockerArchiveSource};
use crate::docker_dest::RegistryDestination;
use crate::error::{Result, TransportError};
use crate::layout::archive_writer::ArchiveDestination;
use crate::layout::files::LayoutFiles;
use crate::layout::layout_writer::LayoutDestination;
use crate::layout::source::LayoutSource;
use crate::{ImageDestination, ImageName, ImageSource};

/// What opening a transport needs beyond the name: registry client settings and the
/// registries.conf that resolves `docker://` names.
#[derive(Default, Clone)]
pub struct OpenOptions {
    /// Settings for `docker://` (TLS, credentials, retries).
    pub registry: ClientOptions,
    /// Short-name resolution, rewrites, mirrors, blocked and insecure registries.
    pub registries: std::sync::Arc<RegistriesConf>,
    /// More names for an image written to `docker-archive:` (`--additional-tag`); other
    /// destinations ignore them, as skopeo's do.
    pub additional_tags: Vec<skiff_oci::Reference>,
    /// Where a compressed archive source is decoded to (`--tmpdir`; default: the system's
    /// temporary directory).
    pub tmpdir: Option<std::path::PathBuf>,
    /// Write uncompressed layers to `oci:` / `oci-archive:` as they are instead of
    /// gzipping them (`--dest-oci-accept-uncompressed-layers`).
    pub oci_accept_uncompressed_layers: bool,
    /// `--src-shared-blob-dir` / `--dest-shared-blob-dir`: the blobs of an `oci:` layout
    /// live in this directory (`ALG/HEX`) instead of its `blobs/`.
    pub shared_blob_dir: Option<std::path::PathBuf>,
    /// The host's blob cache, for blobs pulled from registries; `None` with `--no-cache`.
    pub cache: Option<skiff_cache::Cache>,
    /// The image being copied, when it comes from a registry: a `docker://` destination
    /// on the same registry mounts the blobs it lacks from there instead of uploading.
    pub mount_from: Option<skiff_oci::Reference>,
    /// Registry clients shared by every image opened with these options (a sync);
    /// `None` makes a client per image. See [`ClientPool`] for what may share one.
    pub clients: Option<ClientPool>,
}

/// Opens `name` for reading.
pub fn open_source(name: &ImageName, options: &OpenOptions) -> Result<Box<dyn ImageSource>> {
    Ok(match name {
        ImageName::Docker { reference, .. } => Box::new(
            DockerSource::open(
                reference,
                &options.registries,
                &options.registry,
                options.clients.as_ref(),
            )?
            .with_cache(options.cache.clone()),
        ),
        ImageName::Oci { path, reference } => Box::new(
            LayoutSource::new(
                LayoutFiles::Dir(path.clone()),
                reference.clone(),
                name.to_string(),
            )?
            .shared_blob_dir(options.shared_blob_dir.clone()),
        ),
        ImageName::OciArchive { path, reference } => {
            if !path.is_file() {
                return Err(TransportError::local_not_found(format!(
                    "{name}: no such archive"
                )));
            }
            Box::new(LayoutSource::new(
                LayoutFiles::open_tar(path, options.tmpdir.as_deref())?,
                reference.clone(),
                name.to_string(),
            )?)
        }
        ImageName::Dir { path } => Box::new(DirSource::new(path.clone())?),
        ImageName::DockerArchive { path, selector } => Box::new(DockerArchiveSource::open(
            path.clone(),
            selector.clone(),
            options.tmpdir.as_deref(),
        )?),
    })
}

/// Opens `name` for writing. Nothing is written until the copy begins, and nothing
/// becomes visible until it commits.
pub fn open_destination(
    name: &ImageName,
    options: &OpenOptions,
) -> Result<Box<dyn ImageDestination>> {
    Ok(match name {
        ImageName::Docker { reference, .. } => {
            let client = registry_client(&reference.name(), reference.registry(), options)?;
            let from = options
                .mount_from
                .as_ref()
                .filter(|s| s.registry() == reference.registry())
                .map(|s| s.repository().to_string());
            Box::new(RegistryDestination::new(client, reference.clone()).mount_from(from))
        }
        ImageName::Oci { path, reference } => Box::new(
            LayoutDestination::new(path.clone(), reference.clone())
                .accept_uncompressed_layers(options.oci_accept_uncompressed_layers)
                .shared_blob_dir(options.shared_blob_dir.clone()),
        ),
        ImageName::OciArchive { path, reference } => {
            if path.is_dir() {
                return Err(TransportError::Unsupported(format!(
                    "{name}: {} is a directory",
                    path.display()
                )));
            }
            Box::new(
                ArchiveDestination::new(path.clone(), reference.clone())
                    .accept_uncompressed_layers(options.oci_accept_uncompressed_layers),
            )
        }
        ImageName::Dir { path } => Box::new(DirDestination::new(path.clone())?),
        ImageName::DockerArchive { path, selector } => {
            let reference = match selector {
                Some(ArchiveSelector::Reference(r)) => Some(r.clone()),
                Some(ArchiveSelector::Index(_)) => {
                    return Err(TransportError::InvalidName(
                        name.to_string(),
                        "@INDEX selects an image to read; name a destination tag as :NAME:TAG"
                            .into(),
                    ))
                }
                None => None,
            };
            let tags = reference.iter().chain(&options.additional_tags).cloned();
            Box::new(DockerArchiveDestination::new(path.clone(), tags.collect()))
        }
    })
}

/// A client for talking to the registry of `name` (`host[:port]/repository`, or a bare
/// host for login) itself — pushing, deleting, listing tags, logging in: refused when
/// registries.conf blocks it, and without TLS verification where it marks it `insecure`
/// (unless `--tls-verify` says otherwise). Mirrors and rewrites are for pulling only.
pub fn registry_client(
    name: &str,
    registry: &str,
    options: &OpenOptions,
) -> Result<RegistryClient> {
    let insecure = options
        .registries
        .access(name)
        .map_err(|e| TransportError::Unsupported(format!("docker://{name}: {e}")))?;
    let mut opts = options.registry.clone();
    if insecure && opts.tls_verify.is_none() {
        opts.tls_verify = Some(false);
    }
    client_for(options.clients.as_ref(), registry, opts)
}

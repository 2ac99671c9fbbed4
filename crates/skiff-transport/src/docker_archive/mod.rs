//! `docker-archive:` — the `docker save` format, as a source and as a destination.
//!
//! An archive holds `manifest.json` (a list of images: `Config`, `RepoTags`, `Layers`,
//! each a path inside the archive), the config files and the layer tars (usually
//! uncompressed). There is no registry manifest inside, so one is synthesised — a Docker
//! v2 schema 2 manifest, serialised field for field as containers/image does, so that
//! skiff and skopeo agree on its digest. Like `oci-archive:`, the tar is indexed once and
//! read in place.
//!
//! One module each: the archive's own files ([`layout`]: manifest.json, tar entries), the
//! [`source`] that synthesises a manifest, the [`destination`] that writes one.

mod destination;
mod layout;
mod source;

use skiff_oci::Reference;

pub use crate::name::ArchiveSelector;
pub use destination::DockerArchiveDestination;
use layout::read_items;
pub use source::DockerArchiveSource;

use crate::error::Result;
use crate::layout::files::LayoutFiles;

/// Every tag recorded in an archive, fully qualified (`list-tags docker-archive:FILE`).
pub fn archive_tags(
    path: &std::path::Path,
    tmpdir: Option<&std::path::Path>,
) -> Result<Vec<String>> {
    let files = LayoutFiles::open_tar(path, tmpdir)?;
    Ok(read_items(&files)?
        .into_iter()
        .flat_map(|i| i.repo_tags.unwrap_or_default())
        .filter_map(|t| Reference::parse(&t).ok().map(|r| r.to_string()))
        .collect())
}

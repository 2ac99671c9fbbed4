//! `docker-archive:` as a source: an image of the archive, with a synthesised manifest.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use skiff_oci::media_type::{DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_LAYER_TAR, DOCKER_MANIFEST};
use skiff_oci::{Digest, Manifest, Reference};

use super::layout::{read_items, ArchiveItem};
use super::ArchiveSelector;
use crate::blob::{BlobInfo, BlobStream};
use crate::error::{Result, TransportError};
use crate::layout::files::LayoutFiles;
use crate::source::ImageSource;

/// A blob of the synthesised manifest and where its bytes are in the archive.
struct ArchiveBlob {
    digest: Digest,
    path: String,
}

/// An image inside a docker archive.
pub struct DockerArchiveSource {
    files: LayoutFiles,
    name: String,
    manifest: Vec<u8>,
    blobs: Vec<ArchiveBlob>,
}

impl DockerArchiveSource {
    /// Opens `path` and selects an image: the only one when no selector is given.
    /// A compressed archive is decoded into a temporary file under `tmpdir` first.
    pub fn open(
        path: PathBuf,
        selector: Option<ArchiveSelector>,
        tmpdir: Option<&Path>,
    ) -> Result<DockerArchiveSource> {
        let name = format!("docker-archive:{}", path.display());
        if !path.is_file() {
            return Err(TransportError::local_not_found(format!(
                "{name}: no such archive"
            )));
        }
        let files = LayoutFiles::open_tar(&path, tmpdir)?;
        let items = read_items(&files)?;
        let item = select(&items, selector.as_ref(), &name)?.clone();
        let config = files.read_small(&item.config)?;
        let config_digest = Digest::sha256(&config);
        let diff_ids = skiff_oci::convert::parse_config(&config)?
            .rootfs()
            .diff_ids()
            .clone();
        if diff_ids.len() != item.layers.len() {
            return Err(TransportError::Corrupt(format!(
                "{name}: config lists {} layers, manifest.json {}",
                diff_ids.len(),
                item.layers.len()
            )));
        }
        let mut blobs = vec![ArchiveBlob {
            digest: config_digest.clone(),
            path: item.config.clone(),
        }];
        let mut layers = Vec::new();
        for (layer, diff_id) in item.layers.iter().zip(diff_ids) {
            let (size, compressed) = files.probe(layer)?;
            let (media_type, digest) = if compressed {
                (DOCKER_LAYER_GZIP, files.digest_of(layer)?)
            } else {
                // An uncompressed layer's digest is its diff_id; the pipeline still
                // verifies it while the bytes stream.
                (DOCKER_LAYER_TAR, diff_id.parse::<Digest>()?)
            };
            layers.push(format!(
                r#"{{"mediaType":"{media_type}","size":{size},"digest":"{digest}"}}"#
            ));
            blobs.push(ArchiveBlob {
                digest,
                path: layer.clone(),
            });
        }
        // containers/image's field order and compact encoding, so digests agree.
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"{DOCKER_CONFIG}","size":{},"digest":"{config_digest}"}},"layers":[{}]}}"#,
            config.len(),
            layers.join(",")
        )
        .into_bytes();
        Ok(DockerArchiveSource {
            files,
            name,
            manifest,
            blobs,
        })
    }
}

fn select<'a>(
    items: &'a [ArchiveItem],
    selector: Option<&ArchiveSelector>,
    name: &str,
) -> Result<&'a ArchiveItem> {
    match selector {
        None => match items {
            [only] => Ok(only),
            [] => Err(TransportError::local_not_found(format!(
                "{name} holds no image"
            ))),
            many => Err(TransportError::InvalidName(
                name.to_string(),
                format!(
                    "the archive holds {} images; select one with :NAME:TAG or @INDEX",
                    many.len()
                ),
            )),
        },
        Some(ArchiveSelector::Index(i)) => items.get(*i).ok_or_else(|| {
            TransportError::local_not_found(format!(
                "{name} has no image @{i} ({} images)",
                items.len()
            ))
        }),
        Some(ArchiveSelector::Reference(r)) => items
            .iter()
            .find(|item| {
                item.repo_tags
                    .iter()
                    .flatten()
                    .any(|t| Reference::parse(t).is_ok_and(|t| &t == r))
            })
            .ok_or_else(|| {
                TransportError::local_not_found(format!("no image tagged {r} in {name}"))
            }),
    }
}

#[async_trait]
impl ImageSource for DockerArchiveSource {
    fn describe(&self) -> String {
        self.name.clone()
    }

    async fn top_manifest(&self) -> Result<Manifest> {
        Ok(Manifest::parse(
            self.manifest.clone(),
            Some(DOCKER_MANIFEST),
        )?)
    }

    async fn manifest_by_digest(&self, digest: &Digest) -> Result<Manifest> {
        Err(TransportError::local_not_found(format!(
            "{} holds single images only; no manifest {digest}",
            self.name
        )))
    }

    async fn blob(&self, blob: &BlobInfo) -> Result<BlobStream> {
        let entry = self
            .blobs
            .iter()
            .find(|b| b.digest == blob.digest)
            .ok_or_else(|| {
                TransportError::local_not_found(format!(
                    "{} has no blob {}",
                    self.name, blob.digest
                ))
            })?;
        self.files.stream(&entry.path)
    }
}

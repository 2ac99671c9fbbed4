//! `docker-archive:` — the `docker save` format, as a source.
//!
//! An archive holds `manifest.json` (a list of images: `Config`, `RepoTags`, `Layers`,
//! each a path inside the archive), the config files and the layer tars (usually
//! uncompressed). There is no registry manifest inside, so one is synthesised — a Docker
//! v2 schema 2 manifest, serialised field for field as containers/image does, so that
//! skiff and skopeo agree on its digest. Like `oci-archive:`, the tar is indexed once and
//! read in place.

use std::io::Read;
use std::path::PathBuf;

use async_trait::async_trait;
use serde::Deserialize;
use skiff_oci::media_type::{DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_LAYER_TAR, DOCKER_MANIFEST};
use skiff_oci::{Digest, Manifest, Reference};

use crate::error::{Result, TransportError};
use crate::layout::files::LayoutFiles;
use crate::source::{BlobInfo, BlobStream, ImageSource};

/// How an image inside a docker archive is selected (`:REF` or `@INDEX`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveSelector {
    /// By one of its RepoTags.
    Reference(Reference),
    /// By position in manifest.json (0-based, as skopeo's `@N`).
    Index(usize),
}

/// One entry of `manifest.json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ArchiveItem {
    /// Path of the config file inside the archive.
    pub config: String,
    /// Tags the image was saved under.
    #[serde(default)]
    pub repo_tags: Option<Vec<String>>,
    /// Paths of the layer files, bottom first.
    pub layers: Vec<String>,
}

/// Reads the list of images in an archive's manifest.json.
pub fn read_items(files: &LayoutFiles) -> Result<Vec<ArchiveItem>> {
    let bytes = files.read_small("manifest.json")?;
    serde_json::from_slice(&bytes).map_err(|e| {
        TransportError::Corrupt(format!("{}: invalid manifest.json: {e}", files.describe()))
    })
}

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
    pub fn open(path: PathBuf, selector: Option<ArchiveSelector>) -> Result<DockerArchiveSource> {
        let name = format!("docker-archive:{}", path.display());
        if !path.is_file() {
            return Err(TransportError::NotFound(format!("{name}: no such archive")));
        }
        let files = LayoutFiles::open_tar(&path)?;
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
            [] => Err(TransportError::NotFound(format!("{name} holds no image"))),
            many => Err(TransportError::InvalidName(
                name.to_string(),
                format!(
                    "the archive holds {} images; select one with :NAME:TAG or @INDEX",
                    many.len()
                ),
            )),
        },
        Some(ArchiveSelector::Index(i)) => items.get(*i).ok_or_else(|| {
            TransportError::NotFound(format!("{name} has no image @{i} ({} images)", items.len()))
        }),
        Some(ArchiveSelector::Reference(r)) => items
            .iter()
            .find(|item| {
                item.repo_tags
                    .iter()
                    .flatten()
                    .any(|t| Reference::parse(t).is_ok_and(|t| &t == r))
            })
            .ok_or_else(|| TransportError::NotFound(format!("no image tagged {r} in {name}"))),
    }
}

impl LayoutFiles {
    /// A file's size and whether it starts with a gzip or zstd magic number.
    fn probe(&self, name: &str) -> Result<(u64, bool)> {
        let size = self.size(name)?;
        let mut head = [0u8; 4];
        let n = self.read_head(name, &mut head)?;
        let compressed =
            (n >= 2 && head[..2] == [0x1f, 0x8b]) || (n == 4 && head == [0x28, 0xb5, 0x2f, 0xfd]);
        Ok((size, compressed))
    }

    /// The sha256 of a file (for compressed layers, whose digest no config records).
    fn digest_of(&self, name: &str) -> Result<Digest> {
        let mut reader = self.reader(name)?;
        let mut hasher = skiff_oci::DigestHasher::new(skiff_oci::Algorithm::Sha256);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| TransportError::io(format!("reading {name}"), e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(hasher.finish())
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
        Err(TransportError::NotFound(format!(
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
                TransportError::NotFound(format!("{} has no blob {}", self.name, blob.digest))
            })?;
        self.files.stream(&entry.path)
    }
}

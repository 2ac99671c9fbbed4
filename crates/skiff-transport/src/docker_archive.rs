//! `docker-archive:` — the `docker save` format, as a source and as a destination.
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

use crate::atomic::{sibling, Cleanup};
use crate::destination::{BlobSink, DocumentKind, ImageDestination, ManifestPolicy, WritePlan};
use crate::error::{Result, TransportError};
use crate::layout::files::LayoutFiles;
use crate::source::{BlobInfo, BlobStream, ImageSource};
use skiff_oci::media_type::{layer_compression, Compression};

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

/// Every tag recorded in an archive, fully qualified (`list-tags docker-archive:FILE`).
pub fn archive_tags(path: &std::path::Path) -> Result<Vec<String>> {
    let files = LayoutFiles::open_tar(path)?;
    Ok(read_items(&files)?
        .into_iter()
        .flat_map(|i| i.repo_tags.unwrap_or_default())
        .filter_map(|t| Reference::parse(&t).ok().map(|r| r.to_string()))
        .collect())
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

/// Writes a `docker save`-style archive that `docker load` and skopeo read: the config as
/// `<hex>.json`, each layer **uncompressed** as `<diff_id hex>.tar` (what `docker load`
/// expects; containers/image decompresses for this transport too), and `manifest.json`.
/// Layers are decompressed while they arrive, checked against the config's diff_ids, kept
/// in a staging directory beside the target, and assembled into the archive at commit
/// (their uncompressed sizes are unknown until then). The legacy `repositories` file and
/// per-layer `VERSION`/`json` directories are not written; `docker load` does not need them.
pub struct DockerArchiveDestination {
    target: PathBuf,
    repo_tags: Vec<String>,
    staged: Option<Cleanup>,
    layers: Vec<BlobInfo>,
    config: Vec<u8>,
    config_digest: Option<Digest>,
    /// The manifest's layers in order, as indexes into `layers`, with their diff_ids.
    order: Vec<(usize, Digest)>,
}

impl DockerArchiveDestination {
    /// A destination for `target`, recording `references` (tagged, possibly none) in
    /// RepoTags.
    pub fn new(target: PathBuf, references: Vec<Reference>) -> DockerArchiveDestination {
        let mut repo_tags: Vec<String> = Vec::new();
        for tag in references.iter().map(familiar) {
            if !repo_tags.contains(&tag) {
                repo_tags.push(tag);
            }
        }
        DockerArchiveDestination {
            target,
            repo_tags,
            staged: None,
            layers: Vec::new(),
            config: Vec::new(),
            config_digest: None,
            order: Vec::new(),
        }
    }

    fn staged_layer(&self, index: usize) -> Result<PathBuf> {
        let staged = self
            .staged
            .as_ref()
            .ok_or_else(|| TransportError::Corrupt("docker-archive used before begin".into()))?;
        Ok(staged.path().join(format!("{index}.tar")))
    }
}

/// The short form Docker shows (`app:v1` for `docker.io/library/app:v1`).
fn familiar(r: &Reference) -> String {
    let name = r.name();
    let short = name
        .strip_prefix("docker.io/library/")
        .or_else(|| name.strip_prefix("docker.io/"))
        .unwrap_or(&name)
        .to_string();
    match r.tag() {
        Some(t) => format!("{short}:{t}"),
        None => short,
    }
}

#[async_trait]
impl ImageDestination for DockerArchiveDestination {
    fn describe(&self) -> String {
        format!("docker-archive:{}", self.target.display())
    }

    fn manifest_policy(&self) -> ManifestPolicy {
        ManifestPolicy::Keep
    }

    async fn begin(&mut self, plan: &WritePlan) -> Result<Vec<bool>> {
        if plan
            .documents
            .iter()
            .any(|d| d.kind == DocumentKind::Instance)
        {
            return Err(TransportError::Unsupported(
                "docker-archive: holds single images; copy without --all".into(),
            ));
        }
        let top = plan
            .documents
            .iter()
            .find(|d| d.kind == DocumentKind::Top)
            .ok_or_else(|| TransportError::Corrupt("plan without a manifest".into()))?;
        let manifest = Manifest::parse(top.bytes.clone(), None)?;
        let config = plan
            .documents
            .iter()
            .find(|d| d.kind == DocumentKind::Config)
            .ok_or_else(|| TransportError::Corrupt("plan without a config".into()))?;
        let diff_ids = skiff_oci::convert::parse_config(&config.bytes)?
            .rootfs()
            .diff_ids()
            .iter()
            .map(|d| d.parse::<Digest>())
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let image = manifest.as_image()?;
        if diff_ids.len() != image.layers().len() {
            return Err(TransportError::Corrupt(format!(
                "config lists {} diff_ids for {} layers",
                diff_ids.len(),
                image.layers().len()
            )));
        }
        for (layer, diff_id) in image.layers().iter().zip(diff_ids) {
            let digest = skiff_oci::descriptor_digest(layer)?;
            let index = plan
                .layers
                .iter()
                .position(|l| l.digest == digest)
                .ok_or_else(|| {
                    TransportError::Corrupt(format!("layer {digest} missing from plan"))
                })?;
            self.order.push((index, diff_id));
        }
        let staged = Cleanup::new(sibling(&self.target));
        std::fs::create_dir(staged.path())
            .map_err(|e| TransportError::io(format!("creating {}", staged.path().display()), e))?;
        self.staged = Some(staged);
        self.config = config.bytes.clone();
        self.config_digest = Some(config.digest.clone());
        self.layers = plan.layers.clone();
        Ok(vec![false; plan.layers.len()])
    }

    fn layer_sink(&self, index: usize) -> Result<Box<dyn BlobSink>> {
        let blob = self
            .layers
            .get(index)
            .ok_or_else(|| TransportError::Corrupt(format!("no layer {index} in plan")))?;
        let path = self.staged_layer(index)?;
        let file = std::fs::File::create(&path)
            .map_err(|e| TransportError::io(format!("creating {}", path.display()), e))?;
        let out = std::io::BufWriter::with_capacity(1 << 20, file);
        let writer: Box<dyn std::io::Write + Send> = match layer_compression(&blob.media_type) {
            Compression::None => Box::new(out),
            Compression::Gzip => Box::new(flate2::write::MultiGzDecoder::new(out)),
            Compression::Zstd => Box::new(
                zstd::stream::write::Decoder::new(out)
                    .map_err(|e| TransportError::io("starting zstd decoder", e))?,
            ),
        };
        Ok(Box::new(DecompressingSink { writer }))
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        let config_digest = self
            .config_digest
            .clone()
            .ok_or_else(|| TransportError::Corrupt("commit before begin".into()))?;
        let mut out = Cleanup::new(sibling(&self.target));
        let io = |e| TransportError::io(format!("writing {}", self.target.display()), e);
        let file = std::fs::File::create(out.path()).map_err(io)?;
        let mut builder = tar::Builder::new(std::io::BufWriter::with_capacity(1 << 20, file));
        let config_name = format!("{}.json", config_digest.hex());
        append_bytes(&mut builder, &config_name, &self.config).map_err(io)?;
        let mut names = Vec::new();
        let mut written = std::collections::HashSet::new();
        for (index, diff_id) in &self.order {
            let path = self.staged_layer(*index)?;
            let actual = hash_file(&path).map_err(io)?;
            if &actual != diff_id {
                return Err(TransportError::DigestMismatch {
                    what: format!("uncompressed layer {}", self.layers[*index].digest),
                    expected: diff_id.to_string(),
                    actual: actual.to_string(),
                });
            }
            let name = format!("{}.tar", diff_id.hex());
            if written.insert(name.clone()) {
                let mut f = std::fs::File::open(&path).map_err(io)?;
                let h = header(&name, f.metadata().map_err(io)?.len());
                builder.append(&h, &mut f).map_err(io)?;
            }
            names.push(name);
        }
        let manifest = serde_json::json!([{
            "Config": config_name,
            "RepoTags": self.repo_tags,
            "Layers": names,
        }]);
        append_bytes(
            &mut builder,
            "manifest.json",
            manifest.to_string().as_bytes(),
        )
        .map_err(io)?;
        let inner = builder.into_inner().map_err(io)?;
        inner.into_inner().map_err(|e| io(e.into_error()))?;
        std::fs::rename(out.path(), &self.target).map_err(io)?;
        out.disarm();
        self.staged = None;
        Ok(())
    }
}

fn header(name: &str, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    let _ = h.set_path(name);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    h
}

fn append_bytes<W: std::io::Write>(
    builder: &mut tar::Builder<W>,
    name: &str,
    bytes: &[u8],
) -> std::io::Result<()> {
    let h = header(name, bytes.len() as u64);
    builder.append(&h, bytes)
}

fn hash_file(path: &std::path::Path) -> std::io::Result<Digest> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = skiff_oci::DigestHasher::new(skiff_oci::Algorithm::Sha256);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(hasher.finish());
        }
        hasher.update(&buf[..n]);
    }
}

/// Decompresses a layer into its staging file while it arrives.
struct DecompressingSink {
    writer: Box<dyn std::io::Write + Send>,
}

impl BlobSink for DecompressingSink {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes)
    }

    fn commit(mut self: Box<Self>) -> std::io::Result<()> {
        self.writer.flush()
    }
}

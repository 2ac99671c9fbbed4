//! `--dest-compress-format`, `--dest-compress`, `--dest-decompress`: layers re-encoded
//! before the plan is final.
//!
//! The pipeline is plan-first: a destination learns every blob's digest and size before
//! the first byte moves (an `oci-archive:` places each blob by offset). A re-encoded
//! layer's digest exists only once it has been encoded, so the layers that change are
//! re-encoded first — each streamed from the source and verified against its digest while
//! it is decoded, encoded into a scratch file (`--tmpdir`, else the system's), hashed on
//! the way — and the plan's manifests are rewritten to name the new blobs. The streaming
//! stage then reads those blobs from the scratch files through [`WithScratchBlobs`].
//!
//! Layers already in the wanted form keep their bytes (skopeo does the same), and the
//! config never changes: diff_ids name uncompressed content.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use oci_spec::image::DescriptorBuilder;
use skiff_oci::media_type::{self, layer_compression, Compression};
use skiff_oci::{convert, Descriptor, Digest, Manifest};

use crate::copy::{pump_blob, CopyOptions};
use crate::destination::{DocumentKind, WritePlan};
use crate::error::{Result, TransportError};
use crate::progress::Reporter;
use crate::source::{BlobInfo, BlobStream, ImageSource};

/// Read and write size of the encoder loop and of scratch-file streams.
const CHUNK: usize = 256 << 10;

/// What the layers of a copy should become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerEncoding {
    /// The compression to write.
    pub format: Compression,
    /// Only change layers that are uncompressed (`--dest-compress` without a format).
    pub only_uncompressed: bool,
    /// Compression level (gzip 1–9, zstd 1–22); the algorithm's default when absent.
    pub level: Option<i32>,
}

impl LayerEncoding {
    /// Checks the level against what the algorithm accepts.
    pub fn validate(&self) -> Result<()> {
        let range = match self.format {
            Compression::Gzip => 0..=9,
            Compression::Zstd => 1..=22,
            Compression::None => return Ok(()),
        };
        match self.level {
            Some(l) if !range.contains(&l) => Err(TransportError::Unsupported(format!(
                "--dest-compress-level {l}: {:?} takes levels {} to {}",
                self.format,
                range.start(),
                range.end()
            ))),
            _ => Ok(()),
        }
    }

    /// Gives the layers this encoding will change the media type they will have, so that
    /// a format conversion planned before the re-encoding (`--format v2s2` of zstd layers
    /// that become gzip) judges the layers as they will be written.
    pub fn anticipate(&self, manifest: &mut oci_spec::image::ImageManifest) {
        let layers = manifest
            .layers()
            .iter()
            .map(|l| {
                let mut l = l.clone();
                if self.changes(l.media_type().as_ref()) {
                    l.set_media_type(media_type::oci_layer_for(self.format).into());
                }
                l
            })
            .collect();
        manifest.set_layers(layers);
    }

    /// Whether a layer of `media_type` is one this encoding re-encodes.
    fn changes(&self, media_type: &str) -> bool {
        if !media_type::is_plain_layer(media_type) {
            return false;
        }
        let current = layer_compression(media_type);
        if self.only_uncompressed {
            current == Compression::None && self.format != Compression::None
        } else {
            current != self.format
        }
    }
}

/// Scratch files holding re-encoded layers, removed when dropped.
pub struct ScratchBlobs {
    _dir: tempfile::TempDir,
    files: HashMap<Digest, PathBuf>,
}

/// Re-encodes the layers of `plan` that `encoding` changes and rewrites the plan's
/// manifests (and index) to name them. Returns the plan unchanged and no scratch files
/// when nothing changes; refuses to change anything under `--preserve-digests`.
pub async fn reencode_plan(
    source: &dyn ImageSource,
    mut plan: WritePlan,
    encoding: LayerEncoding,
    options: &CopyOptions,
    reporter: Arc<dyn Reporter>,
) -> Result<(WritePlan, Option<ScratchBlobs>)> {
    encoding.validate()?;
    let changing: Vec<BlobInfo> = plan
        .layers
        .iter()
        .filter(|b| encoding.changes(&b.media_type))
        .cloned()
        .collect();
    if changing.is_empty() {
        return Ok((plan, None));
    }
    if options.preserve_digests {
        return Err(TransportError::Unsupported(format!(
            "--preserve-digests: re-encoding layer {} would change the manifest's digest",
            changing[0].digest
        )));
    }
    let mut builder = tempfile::Builder::new();
    builder.prefix("skiff-layers-");
    let dir = match &options.scratch_dir {
        Some(p) => builder.tempdir_in(p),
        None => builder.tempdir(),
    }
    .map_err(|e| TransportError::io("creating a scratch directory for re-encoded layers", e))?;
    let encoded: Vec<(BlobInfo, BlobInfo, PathBuf)> =
        futures_util::stream::iter(changing.into_iter().enumerate())
            .map(|(i, blob)| {
                let path = dir.path().join(format!("{i}.blob"));
                let reporter = reporter.clone();
                async move {
                    let new = reencode_blob(source, &blob, encoding, &path, reporter).await?;
                    Ok::<_, TransportError>((blob, new, path))
                }
            })
            .buffer_unordered(options.parallel.max(1))
            .try_collect()
            .await?;
    let mut files = HashMap::new();
    let mut replaced = HashMap::new();
    for (old, new, path) in encoded {
        files.insert(new.digest.clone(), path);
        replaced.insert(old.digest, new);
    }
    rewrite_documents(&mut plan, &replaced)?;
    for layer in &mut plan.layers {
        if let Some(new) = replaced.get(&layer.digest) {
            *layer = new.clone();
        }
    }
    Ok((plan, Some(ScratchBlobs { _dir: dir, files })))
}

/// Points the plan's manifests at the re-encoded layers, then the index (if any) at the
/// rewritten manifests, and the plan's top at whichever document now comes first.
fn rewrite_documents(plan: &mut WritePlan, replaced: &HashMap<Digest, BlobInfo>) -> Result<()> {
    // Each manifest document, parsed once, with its place in the plan.
    let mut manifests = Vec::new();
    for (i, doc) in plan.documents.iter().enumerate() {
        if doc.kind != DocumentKind::Config {
            manifests.push((i, Manifest::parse(doc.bytes.clone(), None)?));
        }
    }
    let index = manifests.iter().find(|(_, m)| m.is_index());
    let entries: Vec<Descriptor> = match index.map(|(_, m)| m.kind()) {
        Some(skiff_oci::ManifestKind::Index(idx)) => idx.manifests().clone(),
        _ => Vec::new(),
    };
    // Old manifest digest → the descriptor of its rewritten bytes.
    let mut rewritten: HashMap<Digest, Descriptor> = HashMap::new();
    for (i, manifest) in manifests.iter().filter(|(_, m)| !m.is_index()) {
        let image = manifest.as_image()?;
        let mut changed = false;
        let layers = image
            .layers()
            .iter()
            .map(|l| match replaced.get(&skiff_oci::descriptor_digest(l)?) {
                Some(new) => {
                    changed = true;
                    new_layer_descriptor(l, new)
                }
                None => Ok(l.clone()),
            })
            .collect::<Result<Vec<_>>>()?;
        if !changed {
            continue;
        }
        let template = entries
            .iter()
            .find(|e| skiff_oci::descriptor_digest(e).is_ok_and(|d| &d == manifest.digest()));
        let c = convert::replace_layers(manifest, layers, template)?;
        let doc = &mut plan.documents[*i];
        rewritten.insert(doc.digest.clone(), c.descriptor.clone());
        doc.digest = skiff_oci::descriptor_digest(&c.descriptor)?;
        doc.bytes = c.bytes;
        if doc.kind == DocumentKind::Top {
            plan.top = c.descriptor;
        }
    }
    if let Some((i, index)) = index {
        let manifests = entries
            .iter()
            .map(|e| {
                let old = skiff_oci::descriptor_digest(e)?;
                Ok(rewritten.get(&old).cloned().unwrap_or_else(|| e.clone()))
            })
            .collect::<Result<Vec<_>>>()?;
        let c = convert::replace_manifests(index, manifests)?;
        let doc = &mut plan.documents[*i];
        doc.digest = skiff_oci::descriptor_digest(&c.descriptor)?;
        doc.bytes = c.bytes;
        plan.top = c.descriptor;
    }
    Ok(())
}

/// The descriptor of a re-encoded layer: OCI media type for its new compression (a
/// Docker manifest maps it back), new digest and size; annotations kept, urls dropped
/// (they named the old blob).
fn new_layer_descriptor(old: &Descriptor, new: &BlobInfo) -> Result<Descriptor> {
    let mut b = DescriptorBuilder::default()
        .media_type(new.media_type.as_str())
        .digest(oci_spec::image::Digest::from(&new.digest))
        .size(new.size);
    if let Some(a) = old.annotations() {
        b = b.annotations(a.clone());
    }
    b.build()
        .map_err(|e| TransportError::Corrupt(format!("layer descriptor: {e}")))
}

/// Streams one layer from the source into its re-encoded scratch file, verifying the
/// source bytes; returns the new blob.
async fn reencode_blob(
    source: &dyn ImageSource,
    blob: &BlobInfo,
    encoding: LayerEncoding,
    path: &Path,
    reporter: Arc<dyn Reporter>,
) -> Result<BlobInfo> {
    let (worker_blob, worker_path) = (blob.clone(), path.to_path_buf());
    pump_blob(source, blob, reporter, move |rx| {
        encode_file(rx, &worker_blob, encoding, &worker_path)
    })
    .await
}

/// The source bytes of one layer as a reader, hashed and counted as they are read.
struct VerifiedInput {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    current: Bytes,
    hasher: skiff_oci::DigestHasher,
    total: u64,
}

impl Read for VerifiedInput {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(c) => self.current = c,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        let chunk = self.current.split_to(n);
        self.hasher.update(&chunk);
        self.total += n as u64;
        buf[..n].copy_from_slice(&chunk);
        Ok(n)
    }
}

/// A writer that hashes and counts what passes through.
struct HashingWriter<W> {
    inner: W,
    hasher: skiff_oci::DigestHasher,
    total: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.total += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The encoder thread of one layer: decode the source, encode into `path`, verify the
/// source's size and digest, return the new blob.
fn encode_file(
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    blob: &BlobInfo,
    encoding: LayerEncoding,
    path: &Path,
) -> Result<BlobInfo> {
    let io = |e| TransportError::io(format!("re-encoding layer {}", blob.digest), e);
    let mut input = VerifiedInput {
        rx,
        current: Bytes::new(),
        hasher: blob.digest.hasher(),
        total: 0,
    };
    let file = std::fs::File::create(path).map_err(io)?;
    let mut output = HashingWriter {
        inner: std::io::BufWriter::with_capacity(CHUNK, file),
        hasher: skiff_oci::DigestHasher::new(skiff_oci::Algorithm::Sha256),
        total: 0,
    };
    let encoded = transcode(&mut input, &blob.media_type, encoding, &mut output);
    // Whatever the decoder left unread still belongs to the blob, and a blob that is not
    // what its digest says is the error to report, before any decoding error it caused.
    std::io::copy(&mut input, &mut std::io::sink()).map_err(io)?;
    if input.total != blob.size {
        return Err(TransportError::SizeMismatch {
            what: blob.digest.to_string(),
            expected: blob.size,
            actual: input.total,
        });
    }
    let actual = input.hasher.finish();
    if actual != blob.digest {
        return Err(TransportError::DigestMismatch {
            what: blob.digest.to_string(),
            expected: blob.digest.to_string(),
            actual: actual.to_string(),
        });
    }
    encoded.map_err(io)?;
    output.flush().map_err(io)?;
    Ok(BlobInfo {
        digest: output.hasher.finish(),
        size: output.total,
        media_type: media_type::oci_layer_for(encoding.format).to_string(),
    })
}

/// Decodes `input` (compressed as `media_type` says) and encodes it into `output`.
fn transcode(
    input: &mut dyn Read,
    media_type: &str,
    encoding: LayerEncoding,
    output: &mut dyn Write,
) -> std::io::Result<()> {
    let mut decoder: Box<dyn Read + '_> = match layer_compression(media_type) {
        Compression::None => Box::new(input),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(input)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(input)?),
    };
    let mut encoder: Box<dyn FinishWrite + '_> = match encoding.format {
        Compression::None => Box::new(output),
        Compression::Gzip => Box::new(flate2::write::GzEncoder::new(
            output,
            flate2::Compression::new(encoding.level.unwrap_or(6) as u32),
        )),
        Compression::Zstd => Box::new(zstd::stream::write::Encoder::new(
            output,
            encoding.level.unwrap_or(3),
        )?),
    };
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = decoder.read(&mut buf)?;
        if n == 0 {
            break;
        }
        encoder.write_all(&buf[..n])?;
    }
    encoder.finish_writing()
}

/// Encoders end their stream explicitly (gzip trailer, zstd epilogue).
trait FinishWrite: Write {
    fn finish_writing(self: Box<Self>) -> std::io::Result<()>;
}

impl FinishWrite for &mut dyn Write {
    fn finish_writing(self: Box<Self>) -> std::io::Result<()> {
        Ok(())
    }
}

impl<W: Write> FinishWrite for flate2::write::GzEncoder<W> {
    fn finish_writing(self: Box<Self>) -> std::io::Result<()> {
        self.finish().map(drop)
    }
}

impl<W: Write> FinishWrite for zstd::stream::write::Encoder<'_, W> {
    fn finish_writing(self: Box<Self>) -> std::io::Result<()> {
        self.finish().map(drop)
    }
}

/// A source whose re-encoded layers come from scratch files; everything else from the
/// wrapped source. The streaming stage verifies scratch blobs like any other — hashing
/// them a second time, after the encoder did — so a scratch file damaged on disk is
/// caught before it reaches the destination.
pub struct WithScratchBlobs<'a> {
    /// The original source.
    pub inner: &'a dyn ImageSource,
    /// The re-encoded layers, if any.
    pub scratch: Option<&'a ScratchBlobs>,
}

#[async_trait]
impl ImageSource for WithScratchBlobs<'_> {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn top_manifest(&self) -> Result<Manifest> {
        self.inner.top_manifest().await
    }

    async fn manifest_by_digest(&self, digest: &Digest) -> Result<Manifest> {
        self.inner.manifest_by_digest(digest).await
    }

    async fn blob(&self, blob: &BlobInfo) -> Result<BlobStream> {
        let Some(path) = self.scratch.and_then(|s| s.files.get(&blob.digest)) else {
            return self.inner.blob(blob).await;
        };
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| TransportError::io(format!("reading re-encoded {}", blob.digest), e))?;
        let chunks = futures_util::stream::try_unfold(file, |mut file| async move {
            use tokio::io::AsyncReadExt;
            let mut buf = bytes::BytesMut::with_capacity(CHUNK);
            let n = file.read_buf(&mut buf).await?;
            Ok::<_, std::io::Error>((n > 0).then(|| (buf.freeze(), file)))
        });
        Ok(Box::pin(chunks))
    }
}

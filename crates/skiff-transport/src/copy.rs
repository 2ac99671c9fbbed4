//! The copy pipeline: resolve, plan, stream verified layers in parallel, commit.
//!
//! It knows no transport. Its stages:
//! 1. **Resolve** the top manifest; for an index pick the platform (or keep all with
//!    `--all`), fetching every per-platform manifest by digest and verifying it.
//! 2. **Plan**: fetch and verify each config, convert Docker documents when the destination
//!    requires OCI, and collect the layers — so the destination learns every blob and size
//!    before any layer byte moves.
//! 3. **Stream** the layers, at most `parallel` at a time. Each layer flows from the
//!    source's stream through a bounded channel to a blocking thread that hashes and writes
//!    it; size is checked on the fly and the digest at the end, before the blob is
//!    committed into the (still invisible) destination.
//! 4. **Commit** the destination atomically.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use skiff_oci::convert;
use skiff_oci::media_type;
use skiff_oci::{Descriptor, Digest, Manifest, ManifestKind, Platform};

use crate::destination::{
    BlobSink, Document, DocumentKind, ImageDestination, ManifestFormat, ManifestPolicy, WritePlan,
};
use crate::error::{Result, TransportError};
use crate::progress::{Event, Reporter};
use crate::recompress::{reencode_plan, LayerEncoding, WithScratchBlobs};
use crate::source::{BlobInfo, ImageSource};

/// How many chunks may wait between the network and the writer thread of one layer.
const CHANNEL_DEPTH: usize = 8;
/// Writes to the destination are coalesced to this size.
const WRITE_BUFFER: usize = 256 << 10;

/// Choices of a copy, as skopeo's flags spell them.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// `--all`: copy every platform of an index and keep the index.
    pub all: bool,
    /// The platform to pick from an index when not `--all`.
    pub platform: Platform,
    /// `--image-parallel-copies`: layers moving at once.
    pub parallel: usize,
    /// `--preserve-digests`: refuse any conversion that would change a digest.
    pub preserve_digests: bool,
    /// `--format`: the manifest format to write, when the destination could hold either.
    pub format: Option<ManifestFormat>,
    /// `--dest-compress-format` and friends: how layers should be (re-)encoded; `None`
    /// keeps every layer's bytes.
    pub layer_encoding: Option<LayerEncoding>,
    /// `--tmpdir`: where re-encoded layers wait for the destination.
    pub scratch_dir: Option<PathBuf>,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            all: false,
            platform: Platform::host(),
            parallel: 6,
            preserve_digests: false,
            format: None,
            layer_encoding: None,
            scratch_dir: None,
        }
    }
}

/// What a finished copy did.
#[derive(Debug, Clone)]
pub struct CopyReport {
    /// Digest of the manifest (or index) the destination now names.
    pub manifest_digest: Digest,
    /// Layers transferred.
    pub layers_copied: usize,
    /// Layers the destination already had.
    pub layers_reused: usize,
    /// Bytes transferred.
    pub bytes_copied: u64,
}

/// Copies one image (or, with `--all`, an index and all its images) from `source` to
/// `destination`. On error the destination is dropped uncommitted, which removes anything
/// it wrote.
pub async fn copy_image(
    source: &dyn ImageSource,
    mut destination: Box<dyn ImageDestination>,
    options: &CopyOptions,
    reporter: Arc<dyn Reporter>,
) -> Result<CopyReport> {
    let policy = destination.manifest_policy().with_format(options.format)?;
    // The destination's default applies only where it changes no digest the user asked
    // to keep.
    let default_encoding = destination
        .default_layer_encoding()
        .filter(|_| !options.preserve_digests);
    let options = &CopyOptions {
        layer_encoding: options.layer_encoding.or(default_encoding),
        ..options.clone()
    };
    let plan = plan(source, policy, options).await?;
    let (plan, scratch) = match options.layer_encoding {
        Some(encoding) => reencode_plan(source, plan, encoding, options, reporter.clone()).await?,
        None => (plan, None),
    };
    let source = WithScratchBlobs {
        inner: source,
        scratch: scratch.as_ref(),
    };
    let source: &dyn ImageSource = &source;
    let present = destination.begin(&plan).await?;
    let to_move: Vec<usize> = (0..plan.layers.len())
        .filter(|&i| !present.get(i).copied().unwrap_or(false))
        .collect();
    reporter.report(Event::Planned {
        layers: to_move.len(),
        bytes: to_move.iter().map(|&i| plan.layers[i].size).sum(),
    });
    for (i, blob) in plan.layers.iter().enumerate() {
        if present.get(i).copied().unwrap_or(false) {
            reporter.report(Event::BlobSkipped {
                digest: blob.digest.clone(),
                size: blob.size,
            });
        }
    }
    let dest: &dyn ImageDestination = destination.as_ref();
    futures_util::stream::iter(to_move.iter().copied())
        .map(|i| {
            let reporter = reporter.clone();
            let blob = &plan.layers[i];
            async move {
                let sink = dest.layer_sink(i)?;
                copy_blob(source, blob, sink, reporter).await
            }
        })
        .buffer_unordered(options.parallel.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    reporter.report(Event::Committing);
    destination.commit().await?;
    Ok(CopyReport {
        manifest_digest: skiff_oci::descriptor_digest(&plan.top)?,
        layers_copied: to_move.len(),
        layers_reused: plan.layers.len() - to_move.len(),
        bytes_copied: to_move.iter().map(|&i| plan.layers[i].size).sum(),
    })
}

/// One image below the top: its manifest, the descriptor that pointed at it (from an
/// index, if any) and its verified config bytes.
struct Resolved {
    manifest: Manifest,
    from: Option<Descriptor>,
    config: Vec<u8>,
}

/// Resolves the image name to one image manifest: the top manifest itself, or the entry
/// for `platform` when the top is an index (fetched by digest and verified).
pub async fn resolve_single(source: &dyn ImageSource, platform: &Platform) -> Result<Manifest> {
    let top = source.top_manifest().await?;
    match top.kind() {
        ManifestKind::Image(_) => Ok(top),
        ManifestKind::Index(idx) => {
            let d = platform.choose(idx)?;
            let m = source
                .manifest_by_digest(&skiff_oci::descriptor_digest(d)?)
                .await?;
            if let ManifestKind::Index(_) = m.kind() {
                return Err(nested_index(d));
            }
            Ok(m)
        }
    }
}

fn nested_index(d: &Descriptor) -> TransportError {
    TransportError::Unsupported(format!(
        "{} is a nested index, which skiff does not copy",
        d.digest()
    ))
}

/// An image's verified configuration bytes.
pub async fn config_bytes(source: &dyn ImageSource, manifest: &Manifest) -> Result<Vec<u8>> {
    let info = BlobInfo::from_descriptor(manifest.as_image()?.config())?;
    source.small_blob(&info).await
}

/// Resolves the image(s) and builds the write plan (stages 1 and 2).
pub async fn plan(
    source: &dyn ImageSource,
    policy: ManifestPolicy,
    options: &CopyOptions,
) -> Result<WritePlan> {
    let (mut images, index) = if options.all {
        let top = source.top_manifest().await?;
        match top.kind() {
            ManifestKind::Image(_) => (vec![top], None),
            ManifestKind::Index(idx) => {
                let mut children = Vec::new();
                for d in idx.manifests() {
                    let m = source
                        .manifest_by_digest(&skiff_oci::descriptor_digest(d)?)
                        .await?;
                    if let ManifestKind::Index(_) = m.kind() {
                        return Err(nested_index(d));
                    }
                    children.push((m, d.clone()));
                }
                (Vec::new(), Some((top.clone(), children)))
            }
        }
    } else {
        (vec![resolve_single(source, &options.platform).await?], None)
    };
    let resolve = |manifest: Manifest, from: Option<Descriptor>| async move {
        let config = config_bytes(source, &manifest).await?;
        Ok::<_, TransportError>(Resolved {
            manifest,
            from,
            config,
        })
    };

    let mut documents = Vec::new();
    let mut layers: Vec<BlobInfo> = Vec::new();
    let mut add_layers = |m: &Manifest| -> Result<()> {
        for l in m.as_image()?.layers() {
            let info = BlobInfo::from_descriptor(l)?;
            if !layers.iter().any(|b| b.digest == info.digest) {
                layers.push(info);
            }
        }
        Ok(())
    };

    let top_descriptor = match index {
        None => {
            let image = images
                .pop()
                .ok_or_else(|| TransportError::Corrupt("no image resolved".into()))?;
            add_layers(&image)?;
            let r = resolve(image, None).await?;
            let (manifest_doc, config_doc, descriptor) = store_image(r, policy, options)?;
            documents.push(manifest_doc);
            documents.push(config_doc);
            descriptor
        }
        Some((index_manifest, children)) => {
            let mut descriptors = Vec::new();
            let mut configs = Vec::new();
            let mut converted_any = false;
            for (m, d) in children {
                add_layers(&m)?;
                let r = resolve(m, Some(d)).await?;
                converted_any |= policy.converts(r.manifest.media_type());
                let (mut manifest_doc, config_doc, descriptor) = store_image(r, policy, options)?;
                manifest_doc.kind = DocumentKind::Instance;
                documents.push(manifest_doc);
                configs.push(config_doc);
                descriptors.push(descriptor);
            }
            documents.extend(configs);
            let ManifestKind::Index(idx) = index_manifest.kind() else {
                return Err(TransportError::Corrupt("index changed kind".into()));
            };
            let (bytes, descriptor) =
                if converted_any || policy.converts(index_manifest.media_type()) {
                    refuse_conversion(options, &index_manifest, policy)?;
                    let c = if policy == ManifestPolicy::RequireDocker {
                        convert::index_to_docker(&descriptors)?
                    } else {
                        convert::index_to_oci(idx, descriptors)?
                    };
                    (c.bytes, c.descriptor)
                } else {
                    let d = convert::descriptor_for(
                        index_manifest.media_type(),
                        index_manifest.raw(),
                        None,
                    )?;
                    (index_manifest.raw().to_vec(), d)
                };
            documents.insert(
                0,
                Document {
                    digest: skiff_oci::descriptor_digest(&descriptor)?,
                    bytes,
                    kind: DocumentKind::Top,
                },
            );
            descriptor
        }
    };
    Ok(WritePlan {
        documents,
        layers,
        top: top_descriptor,
    })
}

fn refuse_conversion(options: &CopyOptions, m: &Manifest, policy: ManifestPolicy) -> Result<()> {
    if options.preserve_digests {
        let wanted = if policy == ManifestPolicy::RequireDocker {
            "Docker v2s2"
        } else {
            "OCI"
        };
        return Err(TransportError::Unsupported(format!(
            "--preserve-digests: the destination needs {wanted} media types, but {} is {}; converting would change its digest",
            m.digest(),
            m.media_type()
        )));
    }
    Ok(())
}

/// Decides the stored form of one image: verbatim, or converted to the format `policy`
/// requires.
fn store_image(
    r: Resolved,
    policy: ManifestPolicy,
    options: &CopyOptions,
) -> Result<(Document, Document, Descriptor)> {
    let image = r.manifest.as_image()?;
    let manifest_doc = |bytes, digest| Document {
        digest,
        bytes,
        kind: DocumentKind::Top,
    };
    let config_doc = |bytes, digest| Document {
        digest,
        bytes,
        kind: DocumentKind::Config,
    };
    let config_digest = skiff_oci::descriptor_digest(image.config())?;
    if !policy.converts(r.manifest.media_type()) {
        let media = if r.manifest.media_type().is_empty() {
            media_type::OCI_MANIFEST
        } else {
            r.manifest.media_type()
        };
        let descriptor = convert::descriptor_for(media, r.manifest.raw(), r.from.as_ref())?;
        return Ok((
            manifest_doc(r.manifest.raw().to_vec(), r.manifest.digest().clone()),
            config_doc(r.config, config_digest),
            descriptor,
        ));
    }
    refuse_conversion(options, &r.manifest, policy)?;
    let (manifest, config) = if policy == ManifestPolicy::RequireDocker {
        // Docker keeps the config blob as it is; only its media type changes.
        let mut image = image.clone();
        if let Some(encoding) = &options.layer_encoding {
            encoding.anticipate(&mut image);
        }
        let manifest = convert::manifest_to_docker(&image, r.from.as_ref())?;
        (manifest, config_doc(r.config, config_digest))
    } else {
        let config = convert::config_to_oci(&r.config)?;
        let manifest = convert::manifest_to_oci(image, &config.descriptor, r.from.as_ref())?;
        let digest = skiff_oci::descriptor_digest(&config.descriptor)?;
        (manifest, config_doc(config.bytes, digest))
    };
    Ok((
        manifest_doc(
            manifest.bytes,
            skiff_oci::descriptor_digest(&manifest.descriptor)?,
        ),
        config,
        manifest.descriptor,
    ))
}

/// Moves one blob from the source into a sink, verifying it (stage 3).
async fn copy_blob(
    source: &dyn ImageSource,
    blob: &BlobInfo,
    sink: Box<dyn BlobSink>,
    reporter: Arc<dyn Reporter>,
) -> Result<()> {
    let writer_blob = blob.clone();
    pump_blob(source, blob, reporter, move |rx| {
        write_verified(rx, sink, &writer_blob)
    })
    .await
}

/// Streams one blob from the source through a bounded channel to `worker`, which runs on
/// a blocking thread and consumes the chunks (hashing, writing, re-encoding). Reports
/// progress, stops at the first byte beyond the blob's size, and returns the worker's
/// result — or the stream's error, which is the cause when both fail.
pub(crate) async fn pump_blob<T, W>(
    source: &dyn ImageSource,
    blob: &BlobInfo,
    reporter: Arc<dyn Reporter>,
    worker: W,
) -> Result<T>
where
    T: Send + 'static,
    W: FnOnce(tokio::sync::mpsc::Receiver<Bytes>) -> Result<T> + Send + 'static,
{
    reporter.report(Event::BlobStarted {
        digest: blob.digest.clone(),
        size: blob.size,
    });
    let mut stream = source.blob(blob).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(CHANNEL_DEPTH);
    let worker = tokio::task::spawn_blocking(move || worker(rx));
    let mut received: u64 = 0;
    let mut stream_error = None;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                stream_error = Some(TransportError::io(
                    format!("downloading {}", blob.digest),
                    e,
                ));
                break;
            }
        };
        received += chunk.len() as u64;
        if received > blob.size {
            stream_error = Some(TransportError::SizeMismatch {
                what: blob.digest.to_string(),
                expected: blob.size,
                actual: received,
            });
            break;
        }
        let delta = chunk.len() as u64;
        if tx.send(chunk).await.is_err() {
            break; // the worker failed; its error is reported below
        }
        reporter.report(Event::BlobProgress {
            digest: blob.digest.clone(),
            delta,
        });
    }
    drop(tx);
    let outcome = worker
        .await
        .map_err(|e| TransportError::io("worker thread", std::io::Error::other(e)));
    if let Some(e) = stream_error {
        return Err(e);
    }
    let value = outcome??;
    reporter.report(Event::BlobDone {
        digest: blob.digest.clone(),
    });
    Ok(value)
}

/// The writer thread of one blob: hash, coalesce, write; verify; commit.
fn write_verified(
    mut rx: tokio::sync::mpsc::Receiver<Bytes>,
    mut sink: Box<dyn BlobSink>,
    blob: &BlobInfo,
) -> Result<()> {
    let mut hasher = blob.digest.hasher();
    let mut buffer: Vec<u8> = Vec::with_capacity(WRITE_BUFFER.min(blob.size as usize));
    let mut total: u64 = 0;
    let io = |e| TransportError::io(format!("writing {}", blob.digest), e);
    while let Some(chunk) = rx.blocking_recv() {
        hasher.update(&chunk);
        total += chunk.len() as u64;
        if buffer.len() + chunk.len() > WRITE_BUFFER && !buffer.is_empty() {
            sink.write_all(&buffer).map_err(io)?;
            buffer.clear();
        }
        if chunk.len() >= WRITE_BUFFER {
            sink.write_all(&chunk).map_err(io)?;
        } else {
            buffer.extend_from_slice(&chunk);
        }
    }
    if !buffer.is_empty() {
        sink.write_all(&buffer).map_err(io)?;
    }
    if total != blob.size {
        return Err(TransportError::SizeMismatch {
            what: blob.digest.to_string(),
            expected: blob.size,
            actual: total,
        });
    }
    let actual = hasher.finish();
    if actual != blob.digest {
        return Err(TransportError::DigestMismatch {
            what: blob.digest.to_string(),
            expected: blob.digest.to_string(),
            actual: actual.to_string(),
        });
    }
    sink.commit().map_err(io)
}

/// Checks a whole in-memory blob against its digest and size.
pub fn verify_bytes(what: &str, digest: &Digest, size: u64, bytes: &[u8]) -> Result<()> {
    if bytes.len() as u64 != size {
        return Err(TransportError::SizeMismatch {
            what: what.to_string(),
            expected: size,
            actual: bytes.len() as u64,
        });
    }
    let actual = digest.of_same_kind(bytes);
    if &actual != digest {
        return Err(TransportError::DigestMismatch {
            what: what.to_string(),
            expected: digest.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(())
}

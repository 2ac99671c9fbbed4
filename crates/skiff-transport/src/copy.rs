//! The copy pipeline: resolve, plan, stream verified layers in parallel, commit.
//!
//! It knows no transport. Its stages (1 and 2 in `plan`, re-encoding in `recompress`,
//! the channel plumbing of 3 in `pump`; this module runs them and writes verified blobs):
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

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use skiff_oci::Digest;

use crate::blob::BlobInfo;
use crate::destination::{BlobSink, ImageDestination};
use crate::error::{Result, TransportError};
pub use crate::options::CopyOptions;
use crate::plan::plan;
pub use crate::plan::{config_bytes, resolve_single};
use crate::progress::{BlobRetry, Event, Reporter};
use crate::pump::pump_blob;
use crate::recompress::{reencode_plan, WithScratchBlobs};
use crate::source::ImageSource;
use crate::verify::BlobCheck;

/// Writes to the destination are coalesced to this size.
const WRITE_BUFFER: usize = 256 << 10;

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
            async move { copy_blob_with_restarts(source, dest, i, blob, options, reporter).await }
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

/// Moves layer `index` into the destination; where the destination cannot resume a
/// broken transfer itself, a transient failure starts the layer again from the source,
/// up to `--retry-times` more attempts.
async fn copy_blob_with_restarts(
    source: &dyn ImageSource,
    dest: &dyn ImageDestination,
    index: usize,
    blob: &BlobInfo,
    options: &CopyOptions,
    reporter: Arc<dyn Reporter>,
) -> Result<()> {
    let restarts = if dest.restarts_failed_blobs() {
        options.retry_times
    } else {
        0
    };
    let mut failures = 0;
    loop {
        let sink = dest.layer_sink(index)?;
        let hash = !dest.verifies_digests();
        match copy_blob(source, blob, sink, hash, reporter.clone()).await {
            Err(e) if failures < restarts && e.is_transient() => {
                failures += 1;
                reporter.report(Event::BlobRetrying(BlobRetry {
                    digest: blob.digest.clone(),
                    attempt: failures + 1,
                    of: restarts + 1,
                    reason: e.to_string(),
                }));
                tokio::time::sleep(skiff_registry::backoff(failures, options.retry_delay)).await;
            }
            outcome => return outcome,
        }
    }
}

/// Moves one blob from the source into a sink, verifying it (stage 3): size and digest,
/// or only the size where the destination checks digests itself.
async fn copy_blob(
    source: &dyn ImageSource,
    blob: &BlobInfo,
    sink: Box<dyn BlobSink>,
    hash: bool,
    reporter: Arc<dyn Reporter>,
) -> Result<()> {
    let check = BlobCheck::new(blob, hash);
    let digest = blob.digest.clone();
    pump_blob(source, blob, reporter, move |rx| {
        write_verified(rx, sink, check, &digest)
    })
    .await?;
    // A destination that checks digests itself (a registry) vouches for them only to
    // itself: the source's copy of the blob is kept only where skiff hashed it.
    if hash {
        source.blob_verified(blob);
    }
    Ok(())
}

/// What the writer hands its sink: a chunk as it came (kept without a copy by sinks
/// that queue bytes), or the coalescing buffer's contents.
enum Written<'a> {
    Chunk(Bytes),
    Buffer(&'a [u8]),
}

/// The writer thread of one blob: check, coalesce small chunks, write; commit only what
/// passed. Chunks as large as the write buffer go to the sink as they are, without a
/// copy.
///
/// When the sink fails (a full disk, or a decoding sink refusing damaged data), the rest
/// of the blob is still read and checked: a blob that is not what its digest says is the
/// cause to report, before any error it caused downstream.
fn write_verified(
    mut rx: tokio::sync::mpsc::Receiver<Bytes>,
    mut sink: Box<dyn BlobSink>,
    mut check: BlobCheck,
    digest: &Digest,
) -> Result<()> {
    // One buffer for the whole blob, reused: no allocation per write.
    let mut buffer: Vec<u8> = Vec::new();
    let mut failed: Option<std::io::Error> = None;
    let mut write = |bytes: Written, failed: &mut Option<std::io::Error>| {
        if failed.is_none() {
            let outcome = match bytes {
                Written::Chunk(chunk) => sink.write_bytes(chunk),
                Written::Buffer(buffer) => sink.write_all(buffer),
            };
            if let Err(e) = outcome {
                *failed = Some(e);
            }
        }
    };
    while let Some(chunk) = rx.blocking_recv() {
        check.update(&chunk)?;
        if buffer.len() + chunk.len() > WRITE_BUFFER && !buffer.is_empty() {
            write(Written::Buffer(&buffer), &mut failed);
            buffer.clear();
        }
        if chunk.len() >= WRITE_BUFFER {
            write(Written::Chunk(chunk), &mut failed);
        } else {
            if buffer.capacity() == 0 {
                buffer.reserve_exact(WRITE_BUFFER);
            }
            buffer.extend_from_slice(&chunk);
        }
    }
    if !buffer.is_empty() {
        write(Written::Buffer(&buffer), &mut failed);
    }
    check.finish()?;
    let io = |e| TransportError::io(format!("writing {digest}"), e);
    if let Some(e) = failed {
        return Err(io(e));
    }
    sink.commit().map_err(io)
}

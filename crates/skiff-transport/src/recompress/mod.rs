//! `--dest-compress-format`, `--dest-compress`, `--dest-decompress`: layers re-encoded
//! before the plan is final.
//!
//! The pipeline is plan-first: a destination learns every blob's digest and size before
//! the first byte moves (an `oci-archive:` places each blob by offset). A re-encoded
//! layer's digest exists only once it has been encoded, so the layers that change are
//! re-encoded first — each streamed from the source and verified against its digest while
//! it is decoded (within `skiff-codec`'s decompression-bomb limits), encoded into a
//! scratch file (`--tmpdir`, else the system's), hashed on the way ([`transcode`]) — and
//! the plan's manifests are rewritten to name the new blobs ([`rewrite`]). The streaming
//! stage then reads those blobs from the scratch files through [`WithScratchBlobs`].
//!
//! Layers already in the wanted form keep their bytes (skopeo does the same), and the
//! config never changes: diff_ids name uncompressed content. What to re-encode is the
//! policy of [`crate::encoding::LayerEncoding`].

mod rewrite;
mod scratch;
mod transcode;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt};

use crate::blob::BlobInfo;
use crate::destination::WritePlan;
use crate::encoding::LayerEncoding;
use crate::error::{Result, TransportError};
use crate::options::CopyOptions;
use crate::progress::Reporter;
use crate::source::ImageSource;

pub(crate) use scratch::{ScratchBlobs, WithScratchBlobs};

/// Read and write size of the encoder loop and of scratch-file streams.
const CHUNK: usize = 256 << 10;

/// Re-encodes the layers of `plan` that `encoding` changes and rewrites the plan's
/// manifests (and index) to name them. Returns the plan unchanged and no scratch files
/// when nothing changes; refuses to change anything under `--preserve-digests`.
pub(crate) async fn reencode_plan(
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
                    let new =
                        transcode::reencode_blob(source, &blob, encoding, &path, reporter).await?;
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
    rewrite::rewrite_documents(&mut plan, &replaced)?;
    for layer in &mut plan.layers {
        if let Some(new) = replaced.get(&layer.digest) {
            *layer = new.clone();
        }
    }
    Ok((plan, Some(ScratchBlobs::new(dir, files))))
}

//! Re-encoded layers waiting in scratch files, and the source that serves them.

use std::collections::HashMap;
use std::path::PathBuf;

use async_trait::async_trait;
use skiff_oci::{Digest, Manifest};

use super::CHUNK;
use crate::blob::{BlobInfo, BlobStream};
use crate::error::{Result, TransportError};
use crate::source::ImageSource;

/// Scratch files holding re-encoded layers, removed when dropped.
pub(crate) struct ScratchBlobs {
    _dir: tempfile::TempDir,
    files: HashMap<Digest, PathBuf>,
}

impl ScratchBlobs {
    /// Takes ownership of `dir`, which holds `files` (new digest → path).
    pub(super) fn new(dir: tempfile::TempDir, files: HashMap<Digest, PathBuf>) -> Self {
        ScratchBlobs { _dir: dir, files }
    }
}

/// A source whose re-encoded layers come from scratch files; everything else from the
/// wrapped source. The streaming stage verifies scratch blobs like any other — hashing
/// them a second time, after the encoder did — so a scratch file damaged on disk is
/// caught before it reaches the destination.
pub(crate) struct WithScratchBlobs<'a> {
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

    fn blob_verified(&self, blob: &BlobInfo) {
        self.inner.blob_verified(blob);
    }
}

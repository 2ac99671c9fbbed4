//! What every image source offers the pipeline.

use async_trait::async_trait;
use skiff_oci::{Digest, Manifest};

pub use crate::blob::{BlobInfo, BlobStream};
use crate::error::Result;

/// A place images are read from.
#[async_trait]
pub trait ImageSource: Send + Sync {
    /// How to name this source in messages.
    fn describe(&self) -> String;

    /// The manifest (or index) the image name points at, exactly as stored.
    async fn top_manifest(&self) -> Result<Manifest>;

    /// A manifest referenced by digest from an index; implementations verify the bytes.
    async fn manifest_by_digest(&self, digest: &Digest) -> Result<Manifest>;

    /// A blob's body. The pipeline verifies size and digest while it streams.
    async fn blob(&self, blob: &BlobInfo) -> Result<BlobStream>;

    /// Told by the consumer of a [`blob`](Self::blob) stream that all of it arrived and
    /// matched its size and digest. A source that kept a copy on the way (the host's
    /// blob cache) keeps it for good now; wrappers pass it on; others have nothing to do.
    fn blob_verified(&self, _blob: &BlobInfo) {}

    /// A small blob (a config) read whole and verified.
    async fn small_blob(&self, blob: &BlobInfo) -> Result<Vec<u8>> {
        crate::verify::check_small(blob)?;
        let bytes = crate::verify::read_small(blob, self.blob(blob).await?).await?;
        self.blob_verified(blob);
        Ok(bytes)
    }
}

//! What every image source offers the pipeline.

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;
use skiff_oci::{Descriptor, Digest, Manifest};

use crate::error::Result;

/// A blob the pipeline will move: its digest, exact size and media type, as a manifest
/// names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    /// Content digest.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// Media type from the referring descriptor.
    pub media_type: String,
}

impl BlobInfo {
    /// Takes digest, size and media type from a descriptor, validating them.
    pub fn from_descriptor(d: &Descriptor) -> Result<BlobInfo> {
        Ok(BlobInfo {
            digest: skiff_oci::descriptor_digest(d)?,
            size: skiff_oci::descriptor_size(d)?,
            media_type: d.media_type().to_string(),
        })
    }
}

/// A blob body as a stream of chunks. Sources that can resume (registries, with Range)
/// do so inside the stream; the pipeline only sees bytes or a final error.
pub type BlobStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

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

    /// A small blob (a config) read whole and verified.
    async fn small_blob(&self, blob: &BlobInfo) -> Result<Vec<u8>> {
        use futures_util::StreamExt;
        const MAX_SMALL_BLOB: u64 = 64 << 20;
        if blob.size > MAX_SMALL_BLOB {
            return Err(crate::TransportError::Unsupported(format!(
                "{} is {} bytes, too large for a config blob",
                blob.digest, blob.size
            )));
        }
        let mut stream = self.blob(blob).await?;
        let mut out = Vec::with_capacity(blob.size as usize);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk
                .map_err(|e| crate::TransportError::io(format!("reading {}", blob.digest), e))?;
            if out.len() as u64 + chunk.len() as u64 > blob.size {
                return Err(crate::TransportError::SizeMismatch {
                    what: blob.digest.to_string(),
                    expected: blob.size,
                    actual: out.len() as u64 + chunk.len() as u64,
                });
            }
            out.extend_from_slice(&chunk);
        }
        crate::copy::verify_bytes(&blob.digest.to_string(), &blob.digest, blob.size, &out)?;
        Ok(out)
    }
}

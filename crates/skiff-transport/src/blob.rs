//! The unit the pipeline moves: a blob named by a descriptor, and its body as a stream.
//!
//! A leaf: the trait modules, verification and the pipeline all speak of blobs, so the
//! words live below all of them.

use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;
use skiff_oci::{Descriptor, Digest};

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

    /// A verifier expecting exactly this blob.
    pub(crate) fn verifier(&self) -> skiff_oci::Verifier {
        skiff_oci::Verifier::for_blob(&self.digest, self.size)
    }
}

/// A blob body as a stream of chunks. Sources that can resume (registries, with Range)
/// do so inside the stream; the pipeline only sees bytes or a final error.
pub type BlobStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

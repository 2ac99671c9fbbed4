//! Reading images from an OCI layout (`oci:` directory or `oci-archive:` tar).

use async_trait::async_trait;
use skiff_oci::{Digest, Manifest, Verifier};

use super::files::LayoutFiles;
use super::index;
use crate::error::{Result, TransportError};
use crate::source::{BlobInfo, BlobStream, ImageSource};

/// An image inside an OCI layout.
pub struct LayoutSource {
    files: LayoutFiles,
    reference: Option<String>,
    name: String,
}

impl LayoutSource {
    /// Opens the layout; `name` is the image name for messages.
    pub fn new(
        files: LayoutFiles,
        reference: Option<String>,
        name: String,
    ) -> Result<LayoutSource> {
        if !files.exists("index.json") {
            return Err(TransportError::local_not_found(format!(
                "{name}: {} is not an OCI image layout (no index.json)",
                files.describe()
            )));
        }
        Ok(LayoutSource {
            files,
            reference,
            name,
        })
    }

    fn read_verified(&self, digest: &Digest) -> Result<Vec<u8>> {
        let bytes = self.files.read_small(&digest.layout_path())?;
        Verifier::check(format!("{} in {}", digest, self.name), digest, None, &bytes)?;
        Ok(bytes)
    }
}

#[async_trait]
impl ImageSource for LayoutSource {
    fn describe(&self) -> String {
        self.name.clone()
    }

    async fn top_manifest(&self) -> Result<Manifest> {
        let idx = index::parse(&self.files.read_small("index.json")?, &self.name)?;
        let d = index::select(&idx, self.reference.as_deref(), &self.name)?;
        let digest = skiff_oci::descriptor_digest(d)?;
        let bytes = self.read_verified(&digest)?;
        Ok(Manifest::parse(bytes, Some(d.media_type().as_ref()))?)
    }

    async fn manifest_by_digest(&self, digest: &Digest) -> Result<Manifest> {
        Ok(Manifest::parse(self.read_verified(digest)?, None)?)
    }

    async fn blob(&self, blob: &BlobInfo) -> Result<BlobStream> {
        self.files.stream(&blob.digest.layout_path())
    }
}

//! Reading images from an OCI layout (`oci:` directory or `oci-archive:` tar), whose
//! blobs may live in a shared blob directory (`--src-shared-blob-dir`) instead.

use async_trait::async_trait;
use skiff_oci::{Digest, Manifest, Verifier};

use super::files::LayoutFiles;
use super::index;
use crate::error::{Result, TransportError};
use crate::source::{BlobInfo, BlobStream, ImageSource};

/// An image inside an OCI layout.
pub struct LayoutSource {
    files: LayoutFiles,
    /// `--src-shared-blob-dir`: blobs are read from `DIR/ALG/HEX` instead of `blobs/`.
    shared_blobs: Option<LayoutFiles>,
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
            shared_blobs: None,
            reference,
            name,
        })
    }

    /// Reads blobs (manifests, configs and layers alike, as skopeo does) from `dir`.
    pub fn shared_blob_dir(mut self, dir: Option<std::path::PathBuf>) -> Self {
        self.shared_blobs = dir.map(LayoutFiles::Dir);
        self
    }

    /// The files holding `digest`, and its name among them.
    fn blob(&self, digest: &Digest) -> (&LayoutFiles, String) {
        match &self.shared_blobs {
            Some(shared) => (
                shared,
                format!("{}/{}", digest.algorithm().name(), digest.hex()),
            ),
            None => (&self.files, digest.layout_path()),
        }
    }

    fn read_verified(&self, digest: &Digest) -> Result<Vec<u8>> {
        let (files, name) = self.blob(digest);
        let bytes = files.read_small(&name)?;
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
        let (files, name) = self.blob(&blob.digest);
        files.stream(&name)
    }
}

//! `docker://` — images in a registry, through skiff-registry's client.

use async_trait::async_trait;
use futures_util::StreamExt;
use skiff_oci::{Digest, Manifest, Reference};
use skiff_registry::RegistryClient;

use crate::error::Result;
use crate::source::{BlobInfo, BlobStream, ImageSource};

/// An image in a registry.
pub struct DockerSource {
    client: RegistryClient,
    reference: Reference,
}

impl DockerSource {
    /// Reads `reference` through `client` (which must be for the reference's registry).
    pub fn new(client: RegistryClient, reference: Reference) -> DockerSource {
        DockerSource { client, reference }
    }
}

#[async_trait]
impl ImageSource for DockerSource {
    fn describe(&self) -> String {
        format!("docker://{}", self.reference)
    }

    async fn top_manifest(&self) -> Result<Manifest> {
        let r = self
            .client
            .get_manifest(
                self.reference.repository(),
                &self.reference.manifest_reference(),
            )
            .await?;
        let m = Manifest::parse(r.bytes, r.content_type.as_deref())?;
        if let Some(d) = self.reference.digest() {
            m.verify(d)?;
        }
        Ok(m)
    }

    async fn manifest_by_digest(&self, digest: &Digest) -> Result<Manifest> {
        let r = self
            .client
            .get_manifest(self.reference.repository(), &digest.to_string())
            .await?;
        let m = Manifest::parse(r.bytes, r.content_type.as_deref())?;
        m.verify(digest)?;
        Ok(m)
    }

    async fn blob(&self, blob: &BlobInfo) -> Result<BlobStream> {
        let stream = self
            .client
            .get_blob(self.reference.repository(), &blob.digest, Some(blob.size))
            .await?;
        Ok(Box::pin(stream.map(|r| r.map_err(std::io::Error::other))))
    }
}

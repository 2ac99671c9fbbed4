//! An image source that serves nothing before the policy accepted its top manifest.

use std::sync::OnceLock;

use async_trait::async_trait;
use skiff_oci::{Digest, Manifest};
use skiff_transport::{BlobInfo, BlobStream, ImageSource, TransportError};

use super::SourceGate;

/// `inner`, with the policy checked on its top manifest. The accepted manifest is kept and
/// served again, so a tag moved in the registry between two reads cannot slip an unchecked
/// image past the gate; a blob or child manifest asked for before the check is a bug in the
/// pipeline and refused as one.
pub struct GatedSource {
    inner: Box<dyn ImageSource>,
    gate: SourceGate,
    admitted: OnceLock<Manifest>,
}

impl GatedSource {
    pub fn new(inner: Box<dyn ImageSource>, gate: SourceGate) -> GatedSource {
        GatedSource {
            inner,
            gate,
            admitted: OnceLock::new(),
        }
    }

    fn require_admitted(&self) -> Result<(), TransportError> {
        match self.admitted.get() {
            Some(_) => Ok(()),
            None => Err(TransportError::Internal(format!(
                "{} was read before its signature policy was checked",
                self.inner.describe()
            ))),
        }
    }
}

#[async_trait]
impl ImageSource for GatedSource {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn top_manifest(&self) -> Result<Manifest, TransportError> {
        if let Some(m) = self.admitted.get() {
            return Ok(m.clone());
        }
        let manifest = self.inner.top_manifest().await?;
        self.gate.admit(&manifest).await?;
        Ok(self.admitted.get_or_init(|| manifest).clone())
    }

    async fn manifest_by_digest(&self, digest: &Digest) -> Result<Manifest, TransportError> {
        self.require_admitted()?;
        self.inner.manifest_by_digest(digest).await
    }

    async fn blob(&self, blob: &BlobInfo) -> Result<BlobStream, TransportError> {
        self.require_admitted()?;
        self.inner.blob(blob).await
    }

    async fn small_blob(&self, blob: &BlobInfo) -> Result<Vec<u8>, TransportError> {
        self.require_admitted()?;
        self.inner.small_blob(blob).await
    }
}

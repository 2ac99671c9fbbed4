//! An image source that serves no image manifest the policy did not accept, and no blob
//! that no accepted manifest names.

use std::sync::{Mutex, OnceLock, PoisonError};

use async_trait::async_trait;
use skiff_oci::{Descriptor, Digest, Manifest, ManifestKind};
use skiff_transport::{BlobInfo, BlobStream, ImageSource, TransportError};

use super::{Signed, SourceGate};

/// `inner`, with the policy checked on each image manifest it hands out: the top manifest
/// when it is an image, else each per-platform manifest of the top index as it is asked
/// for (as containers/image evaluates the images of an index, not the index). The top
/// manifest is kept and served again, so a tag moved in the registry between two reads
/// cannot slip an unchecked image past the gate; a blob or manifest asked for before the
/// check is a bug in the pipeline and refused as one.
pub struct GatedSource {
    inner: Box<dyn ImageSource>,
    gate: SourceGate,
    top: OnceLock<Manifest>,
    /// Image manifests the policy accepted; only their configs and layers are served.
    admitted: Mutex<Vec<Manifest>>,
}

impl GatedSource {
    pub fn new(inner: Box<dyn ImageSource>, gate: SourceGate) -> GatedSource {
        GatedSource {
            inner,
            gate,
            top: OnceLock::new(),
            admitted: Mutex::new(Vec::new()),
        }
    }

    fn admitted(&self) -> std::sync::MutexGuard<'_, Vec<Manifest>> {
        self.admitted.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn unchecked(&self, what: String) -> TransportError {
        TransportError::Internal(format!(
            "{what} of {} was read before its signature policy was checked",
            self.inner.describe()
        ))
    }

    /// Whether an accepted image manifest names blob `digest` (its config or a layer).
    fn names_blob(&self, digest: &Digest) -> bool {
        self.admitted().iter().any(|m| {
            m.as_image().is_ok_and(|image| {
                std::iter::once(image.config())
                    .chain(image.layers())
                    .any(|d| is(d, digest))
            })
        })
    }

    fn require_named(&self, blob: &BlobInfo) -> Result<(), TransportError> {
        if self.names_blob(&blob.digest) {
            Ok(())
        } else {
            Err(self.unchecked(format!("blob {}", blob.digest)))
        }
    }
}

/// Whether descriptor `d` names `digest`.
fn is(d: &Descriptor, digest: &Digest) -> bool {
    skiff_oci::descriptor_digest(d).is_ok_and(|named| named == *digest)
}

#[async_trait]
impl ImageSource for GatedSource {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn top_manifest(&self) -> Result<Manifest, TransportError> {
        if let Some(m) = self.top.get() {
            return Ok(m.clone());
        }
        let manifest = self.inner.top_manifest().await?;
        if let ManifestKind::Image(_) = manifest.kind() {
            self.gate
                .admit(&manifest, Signed::Top(manifest.digest()))
                .await?;
            self.admitted().push(manifest.clone());
        }
        Ok(self.top.get_or_init(|| manifest).clone())
    }

    async fn manifest_by_digest(&self, digest: &Digest) -> Result<Manifest, TransportError> {
        let Some(top) = self.top.get() else {
            return Err(self.unchecked(format!("manifest {digest}")));
        };
        if top.digest() == digest {
            return Ok(top.clone());
        }
        if let Some(m) = self.admitted().iter().find(|m| m.digest() == digest) {
            return Ok(m.clone());
        }
        let listed = match top.kind() {
            ManifestKind::Index(index) => index.manifests().iter().any(|d| is(d, digest)),
            ManifestKind::Image(_) => false,
        };
        if !listed {
            return Err(
                self.unchecked(format!("manifest {digest}, which its index does not list,"))
            );
        }
        let manifest = self.inner.manifest_by_digest(digest).await?;
        manifest.verify(digest)?;
        // A nested index is handed out unchecked: nothing below it is served, and the
        // pipelines refuse it.
        if let ManifestKind::Image(_) = manifest.kind() {
            self.gate.admit(&manifest, Signed::Instance(digest)).await?;
            self.admitted().push(manifest.clone());
        }
        Ok(manifest)
    }

    async fn blob(&self, blob: &BlobInfo) -> Result<BlobStream, TransportError> {
        self.require_named(blob)?;
        self.inner.blob(blob).await
    }

    fn blob_verified(&self, blob: &BlobInfo) {
        self.inner.blob_verified(blob);
    }

    async fn small_blob(&self, blob: &BlobInfo) -> Result<Vec<u8>, TransportError> {
        self.require_named(blob)?;
        self.inner.small_blob(blob).await
    }
}

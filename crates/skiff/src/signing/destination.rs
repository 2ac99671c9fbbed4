//! A destination that also writes the image's signatures: those carried from the source
//! and those the `--sign-*` flags make, decided once the plan names the manifests. As
//! containers/image does, a copy with `--all` carries each per-platform image's signatures
//! along with the index's, and `--sign-by…` signs every per-platform image and the index.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use skiff_oci::Digest;
use skiff_transport::{
    registry_client, BlobSink, DocumentKind, ImageDestination, ImageName, LayerEncoding,
    ManifestPolicy, OpenOptions, TransportError, WritePlan,
};
use skiff_trust::registries_d::RegistriesD;
use skiff_trust::Signature;

use super::{attachments, lookaside, Carried, Signer};

/// Why a copy did not write the signatures it was to write (skopeo's words where it has
/// them). Travels as `TransportError::Refused`, so the report can pick the hint.
#[derive(Debug, thiserror::Error)]
pub enum SignatureCopyError {
    /// The destination keeps no signatures.
    #[error("Can not copy signatures to {destination}: {why}")]
    CannotStore {
        /// The destination image name.
        destination: String,
        /// Why not.
        why: String,
    },
    /// The copy changes the signed manifest (format conversion, re-compression).
    #[error("Copying this image would require changing layer representation, which we cannot do: \"Would invalidate signatures\"")]
    WouldInvalidate,
    /// Making a new signature failed (key, passphrase, identity).
    #[error("{0}")]
    Signing(String),
    /// The lookaside cannot be written.
    #[error("{0}")]
    Lookaside(String),
    /// The sigstore attachments cannot be written.
    #[error("{0}")]
    Attachments(String),
}

impl SignatureCopyError {
    /// What the user can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            SignatureCopyError::CannotStore { .. } => {
                "write to a destination that keeps signatures (dir:, or docker:// as registries.d sets up), or copy without the source's with --remove-signatures"
            }
            SignatureCopyError::WouldInvalidate => {
                "copy without the source's signatures with --remove-signatures, or without the conversion"
            }
            SignatureCopyError::Signing(_) => {
                "check the key (--sign-by, --sign-by-sigstore-private-key), its passphrase (--sign-passphrase-file) and --sign-identity"
            }
            SignatureCopyError::Lookaside(_) => {
                "check lookaside-staging in registries.d (--registries.d DIR)"
            }
            SignatureCopyError::Attachments(_) => {
                "the image is pushed; check the registry's access and push the signatures again"
            }
        }
    }
}

impl From<SignatureCopyError> for TransportError {
    fn from(e: SignatureCopyError) -> TransportError {
        TransportError::Refused(Box::new(e))
    }
}

/// Where a destination keeps signatures.
enum Store {
    /// Inside the image (`dir:` signature files), through `put_signatures`.
    InImage,
    /// Beside a registry image: simple signatures in the lookaside just before the
    /// manifest is pushed, sigstore attachments once it is.
    Lookaside,
}

/// Signatures to store: for the manifest the name points at (`None`) or for a
/// per-platform manifest, by its digest; and the manifest's digest.
type Batch = (Option<Digest>, Digest, Vec<Signature>);

/// `inner`, plus the signatures of the manifests it receives.
pub struct SignedDestination {
    inner: Box<dyn ImageDestination>,
    name: ImageName,
    /// The source's signatures, by the source manifest they sign.
    carried: Carried,
    signer: Option<Arc<Signer>>,
    registries_d: PathBuf,
    /// How the destination was opened (a registry destination's attachments are pushed
    /// with the same settings).
    open: OpenOptions,
    /// Signatures a registry destination gets with its manifests' push.
    after_commit: Vec<Batch>,
}

impl SignedDestination {
    /// Wraps `inner` (opened from `name`). `carried` are the source's signatures (empty
    /// with `--remove-signatures`).
    pub fn new(
        inner: Box<dyn ImageDestination>,
        name: ImageName,
        carried: Carried,
        signer: Option<Arc<Signer>>,
        registries_d: PathBuf,
        open: OpenOptions,
    ) -> SignedDestination {
        SignedDestination {
            inner,
            name,
            carried,
            signer,
            registries_d,
            open,
            after_commit: Vec::new(),
        }
    }

    /// Every signature the plan's manifests get: the carried ones, each of which must be
    /// for a manifest written exactly as it was signed, and new ones for the top manifest
    /// and each per-platform manifest. Only manifests with signatures are listed.
    fn signatures_for(&self, plan: &WritePlan) -> Result<Vec<Batch>, TransportError> {
        let top = skiff_oci::descriptor_digest(&plan.top)?;
        let instances: Vec<&Digest> = plan
            .documents
            .iter()
            .filter(|d| d.kind == DocumentKind::Instance)
            .map(|d| &d.digest)
            .collect();
        let carried_top = match &self.carried.top {
            Some((signed, found)) if !found.is_empty() => {
                if *signed != top {
                    return Err(SignatureCopyError::WouldInvalidate.into());
                }
                found.clone()
            }
            _ => Vec::new(),
        };
        if self
            .carried
            .instances
            .iter()
            .any(|(signed, _)| !instances.contains(&signed))
        {
            return Err(SignatureCopyError::WouldInvalidate.into());
        }
        let identity = match &self.signer {
            Some(signer) => Some(
                signer
                    .identity_for(&self.name)
                    .map_err(SignatureCopyError::Signing)?,
            ),
            None => None,
        };
        let sign = |digest: &Digest, mut found: Vec<Signature>| {
            if let (Some(signer), Some(identity)) = (&self.signer, &identity) {
                found.extend(
                    signer
                        .sign(digest, identity)
                        .map_err(SignatureCopyError::Signing)?,
                );
            }
            Ok::<_, SignatureCopyError>(found)
        };
        let mut batches = Vec::new();
        for digest in instances {
            let carried = self
                .carried
                .instances
                .iter()
                .find(|(signed, _)| signed == digest)
                .map(|(_, found)| found.clone())
                .unwrap_or_default();
            let signatures = sign(digest, carried)?;
            if !signatures.is_empty() {
                batches.push((Some(digest.clone()), digest.clone(), signatures));
            }
        }
        let signatures = sign(&top, carried_top)?;
        if !signatures.is_empty() {
            batches.push((None, top, signatures));
        }
        Ok(batches)
    }

    /// Where this destination keeps signatures, or skopeo's refusal.
    fn store(&self) -> Result<Store, TransportError> {
        match &self.name {
            ImageName::Dir { .. } => Ok(Store::InImage),
            ImageName::Docker { .. } => Ok(Store::Lookaside),
            ImageName::Oci { .. } | ImageName::OciArchive { .. } => {
                Err(self.cannot_store("Pushing signatures for OCI images is not supported"))
            }
            ImageName::DockerArchive { .. } => {
                Err(self.cannot_store("Storing signatures for docker tar files is not supported"))
            }
        }
    }

    fn config(&self) -> Result<RegistriesD, SignatureCopyError> {
        RegistriesD::load_dir(&self.registries_d)
            .map_err(|e| SignatureCopyError::Lookaside(e.to_string()))
    }

    fn cannot_store(&self, why: &str) -> TransportError {
        SignatureCopyError::CannotStore {
            destination: self.name.to_string(),
            why: why.to_string(),
        }
        .into()
    }
}

#[async_trait]
impl ImageDestination for SignedDestination {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn manifest_policy(&self) -> ManifestPolicy {
        self.inner.manifest_policy()
    }

    fn default_layer_encoding(&self) -> Option<LayerEncoding> {
        self.inner.default_layer_encoding()
    }

    async fn begin(&mut self, plan: &WritePlan) -> Result<Vec<bool>, TransportError> {
        if self.carried.is_empty() && self.signer.is_none() {
            return self.inner.begin(plan).await;
        }
        // Where signatures can go is decided first, as skopeo does.
        let store = self.store()?;
        let batches = self.signatures_for(plan)?;
        match store {
            Store::InImage => {
                let present = self.inner.begin(plan).await?;
                for (instance, _, signatures) in &batches {
                    let blobs: Vec<Vec<u8>> = signatures.iter().map(Signature::to_blob).collect();
                    self.inner.put_signatures(instance.as_ref(), &blobs)?;
                }
                Ok(present)
            }
            Store::Lookaside => {
                if let ImageName::Docker { reference, .. } = &self.name {
                    let sigstore = batches
                        .iter()
                        .flat_map(|(_, _, s)| s)
                        .any(|s| matches!(s, Signature::Sigstore(_)));
                    if sigstore && !self.config()?.use_sigstore_attachments(reference) {
                        return Err(self.cannot_store(
                            "writing sigstore attachments is disabled by configuration (use-sigstore-attachments in registries.d)",
                        ));
                    }
                }
                self.after_commit = batches;
                self.inner.begin(plan).await
            }
        }
    }

    fn restarts_failed_blobs(&self) -> bool {
        self.inner.restarts_failed_blobs()
    }

    fn verifies_digests(&self) -> bool {
        self.inner.verifies_digests()
    }

    fn layer_sink(&self, index: usize) -> Result<Box<dyn BlobSink>, TransportError> {
        self.inner.layer_sink(index)
    }

    async fn commit(self: Box<Self>) -> Result<(), TransportError> {
        let config = match self.after_commit.is_empty() {
            false => Some(self.config()?),
            true => None,
        };
        let SignedDestination {
            inner,
            name,
            open,
            after_commit,
            ..
        } = *self;
        let (Some(config), ImageName::Docker { reference, .. }) = (config, &name) else {
            return inner.commit().await;
        };
        // Simple signatures are written before the manifest push, not after it as skopeo
        // does: a push interrupted once the registry has stored the manifest (before its
        // answer arrives) would otherwise leave the new image at its tag without its
        // signature. This way the tag never points at an unsigned manifest; a failed push
        // leaves a valid signature of a manifest the tag does not name, which nothing
        // reads and the next push rewrites. Sigstore attachments name the manifest in the
        // registry, so they follow it.
        let mut attached = Vec::new();
        for (_, digest, signatures) in after_commit {
            let (simple, sigstore): (Vec<_>, Vec<_>) = signatures
                .into_iter()
                .partition(|s| matches!(s, Signature::SimpleSigning(_)));
            store_lookaside(&config, reference, &digest, &simple)?;
            attached.push((digest, sigstore));
        }
        inner.commit().await?;
        for (digest, sigstore) in attached {
            store_attachments(reference, &open, &digest, sigstore).await?;
        }
        Ok(())
    }
}

/// Writes the simple signatures of manifest `digest` of the registry image `reference`
/// to the lookaside (registries.d's `lookaside-staging`).
fn store_lookaside(
    config: &RegistriesD,
    reference: &skiff_oci::Reference,
    digest: &Digest,
    simple: &[Signature],
) -> Result<(), TransportError> {
    if simple.is_empty() {
        return Ok(());
    }
    let refuse = SignatureCopyError::Lookaside;
    let base = lookaside::staging_base(config, reference).map_err(refuse)?;
    let blobs: Vec<Vec<u8>> = simple.iter().map(Signature::to_blob).collect();
    lookaside::write(&base, reference, digest, &blobs).map_err(refuse)?;
    Ok(())
}

/// Pushes the sigstore signatures among `signatures` as attachments of `digest`.
async fn store_attachments(
    reference: &skiff_oci::Reference,
    open: &OpenOptions,
    digest: &Digest,
    signatures: Vec<Signature>,
) -> Result<(), TransportError> {
    let sigstore: Vec<_> = signatures
        .into_iter()
        .filter_map(|s| match s {
            Signature::Sigstore(s) => Some(s),
            Signature::SimpleSigning(_) => None,
        })
        .collect();
    if !sigstore.is_empty() {
        let client = registry_client(&reference.name(), reference.registry(), open)?;
        attachments::write(&client, reference, digest, &sigstore)
            .await
            .map_err(SignatureCopyError::Attachments)?;
    }
    Ok(())
}

//! A destination that also writes the image's signatures: those carried from the source
//! and those the `--sign-*` flags make, decided once the plan names the manifest.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use skiff_oci::{Digest, ManifestKind, Platform};
use skiff_transport::{
    registry_client, resolve_single, BlobSink, ImageDestination, ImageName, ImageSource,
    LayerEncoding, ManifestPolicy, OpenOptions, TransportError, WritePlan,
};
use skiff_trust::registries_d::RegistriesD;
use skiff_trust::Signature;

use super::{attachments, lookaside, Signer};

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

/// The signatures the source holds for the manifest a copy will write (the top manifest
/// with `--all`, else the one chosen for the platform), and that manifest's digest.
pub async fn carried_signatures(
    source: &dyn ImageSource,
    name: &ImageName,
    all: bool,
    platform: &Platform,
    registries_d: &std::path::Path,
    open: &OpenOptions,
) -> Result<(Digest, Vec<Signature>), TransportError> {
    let top = source.top_manifest().await?;
    if all || matches!(top.kind(), ManifestKind::Image(_)) {
        let found = crate::policy::source_signatures(name, &top, registries_d, open).await?;
        return Ok((top.digest().clone(), found));
    }
    let instance = resolve_single(source, platform).await?;
    // Local transports keep signatures of the top manifest only.
    let found = match name {
        ImageName::Docker { .. } => {
            crate::policy::source_signatures(name, &instance, registries_d, open).await?
        }
        _ => Vec::new(),
    };
    Ok((instance.digest().clone(), found))
}

/// Where a destination keeps signatures.
enum Store {
    /// Inside the image (`dir:` signature files), through `put_signatures`.
    InImage,
    /// Beside a registry image, in the lookaside, once the manifest is pushed.
    Lookaside,
}

/// `inner`, plus the signatures of the manifest it receives.
pub struct SignedDestination {
    inner: Box<dyn ImageDestination>,
    name: ImageName,
    /// The source manifest digest the carried signatures are for, and the signatures.
    carried: (Option<Digest>, Vec<Signature>),
    signer: Option<Arc<Signer>>,
    registries_d: PathBuf,
    /// How the destination was opened (a registry destination's attachments are pushed
    /// with the same settings).
    open: OpenOptions,
    /// Signatures a registry destination gets after its manifest is pushed.
    after_commit: Option<(Digest, Vec<Signature>)>,
}

impl SignedDestination {
    /// Wraps `inner` (opened from `name`). `carried` are the source's signatures of
    /// manifest `digest` (empty with `--remove-signatures`).
    pub fn new(
        inner: Box<dyn ImageDestination>,
        name: ImageName,
        carried: (Option<Digest>, Vec<Signature>),
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
            after_commit: None,
        }
    }

    /// Every signature the written manifest `top` gets: the carried ones, which must be
    /// for exactly this manifest, and new ones.
    fn signatures_for(&self, top: &Digest) -> Result<Vec<Signature>, TransportError> {
        let (signed, carried) = &self.carried;
        if !carried.is_empty() && signed.as_ref() != Some(top) {
            return Err(SignatureCopyError::WouldInvalidate.into());
        }
        let mut all = carried.clone();
        if let Some(signer) = &self.signer {
            let identity = signer
                .identity_for(&self.name)
                .map_err(SignatureCopyError::Signing)?;
            all.extend(
                signer
                    .sign(top, &identity)
                    .map_err(SignatureCopyError::Signing)?,
            );
        }
        Ok(all)
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
        if self.carried.1.is_empty() && self.signer.is_none() {
            return self.inner.begin(plan).await;
        }
        // Where signatures can go is decided first, as skopeo does.
        let store = self.store()?;
        let top = skiff_oci::descriptor_digest(&plan.top)?;
        let signatures = self.signatures_for(&top)?;
        match store {
            Store::InImage => {
                let present = self.inner.begin(plan).await?;
                let blobs: Vec<Vec<u8>> = signatures.iter().map(Signature::to_blob).collect();
                self.inner.put_signatures(&blobs)?;
                Ok(present)
            }
            Store::Lookaside => {
                if let ImageName::Docker { reference, .. } = &self.name {
                    let sigstore = signatures
                        .iter()
                        .any(|s| matches!(s, Signature::Sigstore(_)));
                    if sigstore && !self.config()?.use_sigstore_attachments(reference) {
                        return Err(self.cannot_store(
                            "writing sigstore attachments is disabled by configuration (use-sigstore-attachments in registries.d)",
                        ));
                    }
                }
                self.after_commit = Some((top, signatures));
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
        let config = match &self.after_commit {
            Some(_) => Some(self.config()?),
            None => None,
        };
        let SignedDestination {
            inner,
            name,
            open,
            after_commit,
            ..
        } = *self;
        inner.commit().await?;
        let (Some((digest, signatures)), Some(config), ImageName::Docker { reference, .. }) =
            (after_commit, config, &name)
        else {
            return Ok(());
        };
        let refuse = SignatureCopyError::Lookaside;
        let (simple, sigstore): (Vec<_>, Vec<_>) = signatures
            .into_iter()
            .partition(|s| matches!(s, Signature::SimpleSigning(_)));
        if !simple.is_empty() {
            let base = lookaside::staging_base(&config, reference).map_err(refuse)?;
            let blobs: Vec<Vec<u8>> = simple.iter().map(Signature::to_blob).collect();
            lookaside::write(&base, reference, &digest, &blobs).map_err(refuse)?;
        }
        let sigstore: Vec<_> = sigstore
            .into_iter()
            .filter_map(|s| match s {
                Signature::Sigstore(s) => Some(s),
                Signature::SimpleSigning(_) => None,
            })
            .collect();
        if !sigstore.is_empty() {
            let client = registry_client(&reference.name(), reference.registry(), &open)?;
            attachments::write(&client, reference, &digest, &sigstore)
                .await
                .map_err(SignatureCopyError::Attachments)?;
        }
        Ok(())
    }
}

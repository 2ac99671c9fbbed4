//! A destination that also writes the image's signatures: those carried from the source
//! and those the `--sign-*` flags make, decided once the plan names the manifest.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use skiff_oci::{Digest, ManifestKind, Platform};
use skiff_transport::{
    resolve_single, BlobSink, ImageDestination, ImageName, ImageSource, LayerEncoding,
    ManifestPolicy, TransportError, WritePlan,
};
use skiff_trust::registries_d::RegistriesD;
use skiff_trust::Signature;

use super::{lookaside, Signer};

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
}

impl SignatureCopyError {
    /// What the user can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            SignatureCopyError::CannotStore { .. } | SignatureCopyError::WouldInvalidate => {
                "copy without the source's signatures with --remove-signatures"
            }
            SignatureCopyError::Signing(_) => {
                "check the key (--sign-by, --sign-by-sigstore-private-key), its passphrase (--sign-passphrase-file) and --sign-identity"
            }
            SignatureCopyError::Lookaside(_) => {
                "check lookaside-staging in registries.d (--registries.d DIR)"
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
) -> Result<(Digest, Vec<Signature>), TransportError> {
    let top = source.top_manifest().await?;
    if all || matches!(top.kind(), ManifestKind::Image(_)) {
        let found = crate::policy::source_signatures(name, &top, registries_d).await?;
        return Ok((top.digest().clone(), found));
    }
    let instance = resolve_single(source, platform).await?;
    // Local transports keep signatures of the top manifest only.
    let found = match name {
        ImageName::Docker { .. } => {
            crate::policy::source_signatures(name, &instance, registries_d).await?
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
    ) -> SignedDestination {
        SignedDestination {
            inner,
            name,
            carried,
            signer,
            registries_d,
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
                if signatures
                    .iter()
                    .any(|s| matches!(s, Signature::Sigstore(_)))
                {
                    return Err(self.cannot_store(
                        "storing sigstore signatures as registry attachments is not supported by skiff yet",
                    ));
                }
                self.after_commit = Some((top, signatures));
                self.inner.begin(plan).await
            }
        }
    }

    fn restarts_failed_blobs(&self) -> bool {
        self.inner.restarts_failed_blobs()
    }

    fn layer_sink(&self, index: usize) -> Result<Box<dyn BlobSink>, TransportError> {
        self.inner.layer_sink(index)
    }

    async fn commit(self: Box<Self>) -> Result<(), TransportError> {
        let SignedDestination {
            inner,
            name,
            registries_d,
            after_commit,
            ..
        } = *self;
        inner.commit().await?;
        let (Some((digest, signatures)), ImageName::Docker { reference, .. }) =
            (after_commit, &name)
        else {
            return Ok(());
        };
        let refuse = SignatureCopyError::Lookaside;
        let config = RegistriesD::load_dir(&registries_d).map_err(|e| refuse(e.to_string()))?;
        let base = lookaside::staging_base(&config, reference).map_err(refuse)?;
        let blobs: Vec<Vec<u8>> = signatures.iter().map(Signature::to_blob).collect();
        lookaside::write(&base, reference, &digest, &blobs).map_err(refuse)?;
        Ok(())
    }
}

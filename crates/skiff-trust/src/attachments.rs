//! Sigstore attachments (`use-sigstore-attachments`): reading signatures stored in a registry.
//!
//! Next to an image with manifest digest `sha256:HEX` the registry holds an OCI manifest
//! tagged `sha256-HEX.sig` (see [`crate::registries_d::sigstore_attachment_tag`]); each of
//! its layers is one signature: the layer blob is the payload, the layer's media type and
//! annotations complete it. The caller fetches the manifest and the blobs; this module says
//! which blobs to fetch and turns them into [`SigstoreSignature`]s after checking each blob
//! against its descriptor with the one [`Verifier`].

use std::collections::BTreeMap;

use skiff_oci::{descriptor_digest, Digest, ImageManifest, Verifier, VerifyError};

use crate::signature::SigstoreSignature;

/// Signature payloads are small; a larger layer is refused before it is fetched.
pub const MAX_SIGNATURE_LAYER: u64 = 4 << 20;

/// One signature layer of an attachment manifest, before its payload is fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentLayer {
    /// The payload blob's digest.
    pub digest: Digest,
    /// The payload blob's size.
    pub size: u64,
    media_type: String,
    annotations: BTreeMap<String, String>,
}

/// An attachment manifest or payload that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttachmentError {
    /// Not an OCI image manifest.
    #[error("sigstore attachment manifest is not valid: {0}")]
    Manifest(String),
    /// A layer larger than [`MAX_SIGNATURE_LAYER`].
    #[error("sigstore signature layer {digest} is {size} bytes, more than the {MAX_SIGNATURE_LAYER} allowed")]
    TooLarge {
        /// The layer.
        digest: String,
        /// Its declared size.
        size: u64,
    },
    /// The fetched payload is not the promised blob.
    #[error(transparent)]
    Verify(#[from] VerifyError),
}

/// The signature layers listed by an attachment manifest.
pub fn attachment_layers(manifest: &[u8]) -> Result<Vec<AttachmentLayer>, AttachmentError> {
    let bad = |e: &dyn std::fmt::Display| AttachmentError::Manifest(e.to_string());
    let m: ImageManifest = serde_json::from_slice(manifest).map_err(|e| bad(&e))?;
    m.layers()
        .iter()
        .map(|d| {
            let digest = descriptor_digest(d).map_err(|e| bad(&e))?;
            let size = d.size();
            if size > MAX_SIGNATURE_LAYER {
                return Err(AttachmentError::TooLarge {
                    digest: digest.to_string(),
                    size,
                });
            }
            let annotations = d
                .annotations()
                .as_ref()
                .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default();
            Ok(AttachmentLayer {
                digest,
                size,
                media_type: d.media_type().to_string(),
                annotations,
            })
        })
        .collect()
}

impl AttachmentLayer {
    /// Checks the fetched `payload` against the layer descriptor and makes the signature.
    pub fn into_signature(self, payload: Vec<u8>) -> Result<SigstoreSignature, AttachmentError> {
        Verifier::check(
            self.digest.to_string(),
            &self.digest,
            Some(self.size),
            &payload,
        )?;
        Ok(SigstoreSignature {
            mime_type: self.media_type,
            payload,
            annotations: self.annotations,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(payload: &[u8], size: u64) -> Vec<u8> {
        let digest = Digest::sha256(payload);
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},
            "layers":[{{"mediaType":"{}","digest":"{digest}","size":{size},
                        "annotations":{{"{}":"MEUCIQ=="}}}}]}}"#,
            Digest::sha256(b"{}"),
            SigstoreSignature::PAYLOAD_MEDIA_TYPE,
            SigstoreSignature::SIGNATURE_ANNOTATION,
        )
        .into_bytes()
    }

    #[test]
    fn layers_become_signatures_after_verification() {
        let payload = b"{\"critical\":{}}".to_vec();
        let layers = attachment_layers(&manifest(&payload, payload.len() as u64)).unwrap();
        assert_eq!(layers.len(), 1);
        let sig = layers[0].clone().into_signature(payload.clone()).unwrap();
        assert_eq!(sig.mime_type, SigstoreSignature::PAYLOAD_MEDIA_TYPE);
        assert_eq!(
            sig.annotations[SigstoreSignature::SIGNATURE_ANNOTATION],
            "MEUCIQ=="
        );
        assert!(matches!(
            layers[0].clone().into_signature(b"other".to_vec()),
            Err(AttachmentError::Verify(_))
        ));
    }

    #[test]
    fn refuses_bad_manifests_and_huge_layers() {
        assert!(matches!(
            attachment_layers(b"[]"),
            Err(AttachmentError::Manifest(_))
        ));
        assert!(matches!(
            attachment_layers(&manifest(b"x", MAX_SIGNATURE_LAYER + 1)),
            Err(AttachmentError::TooLarge { .. })
        ));
    }
}

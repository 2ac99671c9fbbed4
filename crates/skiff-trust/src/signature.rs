//! Signatures as they travel: the two formats and their on-disk blob encoding.
//!
//! `dir:` and `oci:`-style stores keep each signature as one blob (`signature-N`). A simple
//! signing signature is stored as its raw OpenPGP bytes (what old `dir:` images contain; the
//! first byte of an OpenPGP message is never 0) or prefixed `\0simple-signing\n`; a sigstore
//! signature is `\0sigstore-json\n` followed by JSON `{"mimeType", "payload" (base64),
//! "annotations"}` — the encoding containers/image uses, so skopeo reads what we write.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

const SIMPLE_PREFIX: &[u8] = b"\0simple-signing\n";
const SIGSTORE_PREFIX: &[u8] = b"\0sigstore-json\n";

/// One signature of an image, of either format. Untrusted until verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signature {
    /// An OpenPGP signed message whose literal data is a simple-signing payload.
    SimpleSigning(Vec<u8>),
    /// A sigstore (cosign) signature: payload plus the annotations carrying the signature.
    Sigstore(SigstoreSignature),
}

/// A sigstore signature as stored in an OCI attachment layer: the layer content is the
/// payload, the layer annotations carry the base64 signature (and optionally certificates
/// and a rekor bundle).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigstoreSignature {
    /// The layer media type (normally [`SigstoreSignature::PAYLOAD_MEDIA_TYPE`]).
    #[serde(rename = "mimeType")]
    pub mime_type: String,
    /// The signed payload bytes.
    #[serde(with = "base64_bytes")]
    pub payload: Vec<u8>,
    /// Layer annotations, among them [`SigstoreSignature::SIGNATURE_ANNOTATION`].
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl SigstoreSignature {
    /// The annotation holding the base64 ASN.1 ECDSA signature over the payload.
    pub const SIGNATURE_ANNOTATION: &'static str = "dev.cosignproject.cosign/signature";
    /// The annotation holding a Fulcio certificate (keyless signing).
    pub const CERTIFICATE_ANNOTATION: &'static str = "dev.sigstore.cosign/certificate";
    /// The annotation holding a rekor bundle (transparency log proof).
    pub const BUNDLE_ANNOTATION: &'static str = "dev.sigstore.cosign/bundle";
    /// The media type of the payload layer.
    pub const PAYLOAD_MEDIA_TYPE: &'static str = "application/vnd.dev.cosign.simplesigning.v1+json";
}

/// A signature blob that is neither format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    /// Zero bytes.
    #[error("signature blob is empty")]
    Empty,
    /// A `\0` prefix naming a format we do not know.
    #[error("signature blob has an unknown format")]
    UnknownFormat,
    /// A sigstore blob whose JSON does not parse.
    #[error("sigstore signature blob is malformed: {0}")]
    Malformed(String),
}

impl Signature {
    /// Decodes a stored signature blob.
    pub fn from_blob(blob: &[u8]) -> Result<Signature, BlobError> {
        match blob.first() {
            None => Err(BlobError::Empty),
            Some(0) => {
                if let Some(rest) = blob.strip_prefix(SIMPLE_PREFIX) {
                    Ok(Signature::SimpleSigning(rest.to_vec()))
                } else if let Some(rest) = blob.strip_prefix(SIGSTORE_PREFIX) {
                    serde_json::from_slice(rest)
                        .map(Signature::Sigstore)
                        .map_err(|e| BlobError::Malformed(e.to_string()))
                } else {
                    Err(BlobError::UnknownFormat)
                }
            }
            Some(_) => Ok(Signature::SimpleSigning(blob.to_vec())),
        }
    }

    /// Encodes the signature as a stored blob (simple signing stays raw for old readers).
    pub fn to_blob(&self) -> Vec<u8> {
        match self {
            Signature::SimpleSigning(raw) => raw.clone(),
            Signature::Sigstore(s) => {
                let mut out = SIGSTORE_PREFIX.to_vec();
                // Serialising a struct of strings and bytes into a Vec cannot fail.
                if let Ok(json) = serde_json::to_vec(s) {
                    out.extend_from_slice(&json);
                }
                out
            }
        }
    }
}

/// Go's `[]byte` JSON encoding: standard base64 with padding.
mod base64_bytes {
    use super::*;

    pub fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_round_trip() {
        let simple = Signature::SimpleSigning(vec![0xa3, 1, 2]);
        assert_eq!(Signature::from_blob(&simple.to_blob()).unwrap(), simple);
        let mut prefixed = SIMPLE_PREFIX.to_vec();
        prefixed.extend_from_slice(&[0xa3, 1, 2]);
        assert_eq!(Signature::from_blob(&prefixed).unwrap(), simple);

        let sig = Signature::Sigstore(SigstoreSignature {
            mime_type: SigstoreSignature::PAYLOAD_MEDIA_TYPE.into(),
            payload: b"payload".to_vec(),
            annotations: [("a".to_string(), "b".to_string())].into(),
        });
        let blob = sig.to_blob();
        assert!(blob.starts_with(b"\0sigstore-json\n{"));
        assert_eq!(Signature::from_blob(&blob).unwrap(), sig);
    }

    #[test]
    fn refuses_unknown_blobs() {
        assert_eq!(Signature::from_blob(b""), Err(BlobError::Empty));
        assert_eq!(
            Signature::from_blob(b"\0other\n"),
            Err(BlobError::UnknownFormat)
        );
        assert!(matches!(
            Signature::from_blob(b"\0sigstore-json\n{"),
            Err(BlobError::Malformed(_))
        ));
    }
}

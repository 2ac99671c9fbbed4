//! Sigstore (cosign) signatures verified with a public key.
//!
//! The signature is an ASN.1 DER ECDSA signature over the SHA-256 of the payload bytes,
//! base64-encoded in the `dev.cosignproject.cosign/signature` annotation. Keys are what
//! `cosign generate-key-pair` and `skopeo generate-sigstore-key` write: a PEM
//! `PUBLIC KEY` (SubjectPublicKeyInfo) for ECDSA P-256. Rekor entries are checked in
//! [`crate::rekor`]; keyless signing (Fulcio certificates) is refused by the policy layer
//! rather than half-checked here.

use base64::Engine as _;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature as EcdsaSignature, VerifyingKey};
use p256::pkcs8::DecodePublicKey as _;

use crate::payload::{Payload, PayloadError, PayloadKind};
use crate::signature::SigstoreSignature;

/// A trusted sigstore public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigstorePublicKey(VerifyingKey);

/// Why a sigstore signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigstoreError {
    /// The key file is not an ECDSA P-256 public key in PEM.
    #[error("not a sigstore ECDSA P-256 public key (PEM \"PUBLIC KEY\"): {0}")]
    Key(String),
    /// The signature annotation is missing.
    #[error(
        "sigstore signature has no {} annotation",
        SigstoreSignature::SIGNATURE_ANNOTATION
    )]
    NoSignature,
    /// The annotation is not base64 DER ECDSA.
    #[error("sigstore signature is malformed: {0}")]
    Malformed(String),
    /// No trusted key verifies the signature.
    #[error("sigstore signature is not made by a trusted key")]
    UntrustedKey,
    /// Verified, but the payload is unusable.
    #[error(transparent)]
    Payload(#[from] PayloadError),
}

impl SigstorePublicKey {
    /// Parses a PEM `PUBLIC KEY`.
    pub fn from_pem(pem: &[u8]) -> Result<SigstorePublicKey, SigstoreError> {
        let text = std::str::from_utf8(pem).map_err(|e| SigstoreError::Key(e.to_string()))?;
        VerifyingKey::from_public_key_pem(text.trim())
            .map(SigstorePublicKey)
            .map_err(|e| SigstoreError::Key(e.to_string()))
    }

    /// The ECDSA key.
    pub(crate) fn verifying_key(&self) -> &VerifyingKey {
        &self.0
    }

    /// Wraps an existing key (tests and signing code derive it from the private key).
    pub fn from_verifying_key(key: VerifyingKey) -> SigstorePublicKey {
        SigstorePublicKey(key)
    }
}

/// Verifies `signature` with any of `keys` and returns its payload.
pub fn verify_sigstore(
    signature: &SigstoreSignature,
    keys: &[SigstorePublicKey],
) -> Result<Payload, SigstoreError> {
    let encoded = signature
        .annotations
        .get(SigstoreSignature::SIGNATURE_ANNOTATION)
        .ok_or(SigstoreError::NoSignature)?;
    let der = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|e| SigstoreError::Malformed(e.to_string()))?;
    let ecdsa =
        EcdsaSignature::from_der(&der).map_err(|e| SigstoreError::Malformed(e.to_string()))?;
    if !keys
        .iter()
        .any(|k| k.0.verify(&signature.payload, &ecdsa).is_ok())
    {
        return Err(SigstoreError::UntrustedKey);
    }
    Ok(Payload::parse_untrusted(
        &signature.payload,
        PayloadKind::Sigstore,
    )?)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer as _;
    use p256::ecdsa::SigningKey;

    /// A deterministic test key; `seed` picks one of several.
    pub(crate) fn signing_key(seed: u8) -> SigningKey {
        SigningKey::from_slice(&[seed; 32]).unwrap()
    }

    /// Signs `payload` like cosign does.
    pub(crate) fn sign(key: &SigningKey, payload: &[u8]) -> SigstoreSignature {
        let sig: EcdsaSignature = key.sign(payload);
        SigstoreSignature {
            mime_type: SigstoreSignature::PAYLOAD_MEDIA_TYPE.into(),
            payload: payload.to_vec(),
            annotations: [(
                SigstoreSignature::SIGNATURE_ANNOTATION.to_string(),
                base64::engine::general_purpose::STANDARD.encode(sig.to_der().as_bytes()),
            )]
            .into(),
        }
    }

    pub(crate) fn public(key: &SigningKey) -> SigstorePublicKey {
        SigstorePublicKey::from_verifying_key(*key.verifying_key())
    }

    const PAYLOAD: &str = r#"{"critical":{"identity":{"docker-reference":"example.com/app"},"image":{"docker-manifest-digest":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},"type":"cosign container image signature"},"optional":null}"#;

    #[test]
    fn verifies_with_the_right_key_only() {
        let key = signing_key(7);
        let sig = sign(&key, PAYLOAD.as_bytes());
        let payload = verify_sigstore(&sig, &[public(&key)]).unwrap();
        assert_eq!(payload.docker_reference, "example.com/app");
        assert_eq!(
            verify_sigstore(&sig, &[public(&signing_key(8))]),
            Err(SigstoreError::UntrustedKey)
        );
        assert!(verify_sigstore(&sig, &[public(&signing_key(8)), public(&key)]).is_ok());
    }

    #[test]
    fn tampered_payload_and_bad_annotations_are_refused() {
        let key = signing_key(7);
        let mut sig = sign(&key, PAYLOAD.as_bytes());
        sig.payload = PAYLOAD
            .replace("example.com/app", "example.com/evil")
            .into_bytes();
        assert_eq!(
            verify_sigstore(&sig, &[public(&key)]),
            Err(SigstoreError::UntrustedKey)
        );
        sig.annotations.clear();
        assert_eq!(
            verify_sigstore(&sig, &[public(&key)]),
            Err(SigstoreError::NoSignature)
        );
        sig.annotations
            .insert(SigstoreSignature::SIGNATURE_ANNOTATION.into(), "!!".into());
        assert!(matches!(
            verify_sigstore(&sig, &[public(&key)]),
            Err(SigstoreError::Malformed(_))
        ));
    }

    #[test]
    fn reads_pem_public_keys() {
        use p256::pkcs8::{EncodePublicKey as _, LineEnding};
        let key = signing_key(9);
        let pem = key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        assert_eq!(
            SigstorePublicKey::from_pem(pem.as_bytes()).unwrap(),
            public(&key)
        );
        assert!(SigstorePublicKey::from_pem(
            b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
        )
        .is_err());
    }
}

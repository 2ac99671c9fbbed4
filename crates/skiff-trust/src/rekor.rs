//! Rekor transparency-log entries of sigstore signatures, verified offline as
//! containers/image does for `sigstoreSigned` requirements with `rekorPublicKey*`.
//!
//! cosign stores the log's answer in the signature's `dev.sigstore.cosign/bundle`
//! annotation: a SET (signed entry timestamp, an ECDSA P-256 signature by the log's key over
//! the canonical JSON of the entry's body, integration time, index and log ID) and the
//! entry itself, a `hashedrekord` 0.0.1 naming the signature bytes, the signer's public key
//! and the SHA-256 of the signed payload. The SET proves the log accepted that entry; the
//! entry must then describe exactly this signature, made by a key the policy trusts, over
//! exactly this payload. Nothing here needs the network.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::Signature as EcdsaSignature;
use p256::pkcs8::EncodePublicKey as _;
use serde::{Deserialize, Serialize};

use crate::signature::SigstoreSignature;
use crate::sigstore::SigstorePublicKey;

/// The annotation holding cosign's rekor bundle.
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";

/// Why a signature's rekor entry was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RekorError {
    /// The signature carries no bundle, so nothing shows it was logged.
    #[error("the signature has no rekor bundle ({BUNDLE_ANNOTATION} annotation)")]
    NoBundle,
    /// The bundle or the entry cannot be read.
    #[error("the rekor bundle is malformed: {0}")]
    Malformed(String),
    /// No trusted rekor key has the bundle's log ID.
    #[error("the rekor entry is from log {0}, whose key is not trusted")]
    UnknownLog(String),
    /// The log's signature over the entry does not verify.
    #[error("the rekor signed entry timestamp does not verify")]
    BadTimestamp,
    /// The entry describes another signature, key or payload.
    #[error("the rekor entry does not match this signature: {0}")]
    Mismatch(&'static str),
}

/// A trusted rekor log key and its log ID (hex SHA-256 of the key's DER SubjectPublicKeyInfo).
#[derive(Debug, Clone)]
pub struct RekorKey {
    key: SigstorePublicKey,
    log_id: String,
}

impl RekorKey {
    /// A rekor public key (PEM `PUBLIC KEY`, ECDSA P-256).
    pub fn new(key: SigstorePublicKey) -> Result<RekorKey, RekorError> {
        let der = key
            .verifying_key()
            .to_public_key_der()
            .map_err(|e| RekorError::Malformed(format!("rekor public key: {e}")))?;
        Ok(RekorKey {
            log_id: skiff_oci::Digest::sha256(der.as_bytes()).hex().to_string(),
            key,
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Bundle {
    signed_entry_timestamp: String,
    payload: BundlePayload,
}

/// The logged entry; field order is the canonical (sorted) JSON the SET signs.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct BundlePayload {
    body: String,
    #[serde(rename = "integratedTime")]
    integrated_time: i64,
    #[serde(rename = "logID")]
    log_id: String,
    #[serde(rename = "logIndex")]
    log_index: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    api_version: String,
    kind: String,
    spec: EntrySpec,
}

#[derive(Deserialize)]
struct EntrySpec {
    data: EntryData,
    signature: EntrySignature,
}

#[derive(Deserialize)]
struct EntryData {
    hash: EntryHash,
}

#[derive(Deserialize)]
struct EntryHash {
    algorithm: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntrySignature {
    content: String,
    public_key: EntryKey,
}

#[derive(Deserialize)]
struct EntryKey {
    content: String,
}

fn malformed(what: &str) -> impl Fn(String) -> RekorError + '_ {
    move |e| RekorError::Malformed(format!("{what}: {e}"))
}

/// Checks that `signature` was logged by a rekor whose key is in `logs`, and that the log
/// entry names exactly this signature, a key of `trusted`, and this payload. Returns the
/// time the log integrated it (Unix seconds).
pub fn verify_logged(
    signature: &SigstoreSignature,
    trusted: &[SigstorePublicKey],
    logs: &[RekorKey],
) -> Result<i64, RekorError> {
    let bundle = signature
        .annotations
        .get(BUNDLE_ANNOTATION)
        .ok_or(RekorError::NoBundle)?;
    let bundle: Bundle =
        serde_json::from_str(bundle).map_err(|e| malformed("bundle")(e.to_string()))?;
    let log = logs
        .iter()
        .find(|l| l.log_id == bundle.payload.log_id)
        .ok_or_else(|| RekorError::UnknownLog(bundle.payload.log_id.clone()))?;
    let set = B64
        .decode(bundle.signed_entry_timestamp.trim())
        .map_err(|e| malformed("SignedEntryTimestamp")(e.to_string()))?;
    let set = EcdsaSignature::from_der(&set)
        .map_err(|e| malformed("SignedEntryTimestamp")(e.to_string()))?;
    let canonical = serde_json::to_vec(&bundle.payload)
        .map_err(|e| malformed("bundle payload")(e.to_string()))?;
    log.key
        .verifying_key()
        .verify(&canonical, &set)
        .map_err(|_| RekorError::BadTimestamp)?;

    let body = B64
        .decode(bundle.payload.body.trim())
        .map_err(|e| malformed("entry body")(e.to_string()))?;
    let entry: Entry =
        serde_json::from_slice(&body).map_err(|e| malformed("entry body")(e.to_string()))?;
    if entry.kind != "hashedrekord" || entry.api_version != "0.0.1" {
        return Err(RekorError::Malformed(format!(
            "entry is {} {}, not hashedrekord 0.0.1",
            entry.kind, entry.api_version
        )));
    }
    let hash = &entry.spec.data.hash;
    let payload_hash = skiff_oci::Digest::sha256(&signature.payload);
    if hash.algorithm != "sha256" || !hash.value.eq_ignore_ascii_case(payload_hash.hex()) {
        return Err(RekorError::Mismatch("it logs another payload"));
    }
    let logged_signature = B64
        .decode(entry.spec.signature.content.trim())
        .map_err(|e| malformed("entry signature")(e.to_string()))?;
    let own_signature = signature
        .annotations
        .get(SigstoreSignature::SIGNATURE_ANNOTATION)
        .and_then(|s| B64.decode(s.trim()).ok())
        .ok_or(RekorError::Mismatch("the signature itself is unreadable"))?;
    if logged_signature != own_signature {
        return Err(RekorError::Mismatch("it logs another signature"));
    }
    let logged_key = B64
        .decode(entry.spec.signature.public_key.content.trim())
        .map_err(|e| malformed("entry public key")(e.to_string()))?;
    let logged_key = SigstorePublicKey::from_pem(&logged_key)
        .map_err(|e| malformed("entry public key")(e.to_string()))?;
    if !trusted.contains(&logged_key) {
        return Err(RekorError::Mismatch(
            "it logs a key the policy does not trust",
        ));
    }
    let ecdsa = EcdsaSignature::from_der(&own_signature)
        .map_err(|_| RekorError::Mismatch("the signature itself is unreadable"))?;
    logged_key
        .verifying_key()
        .verify(&signature.payload, &ecdsa)
        .map_err(|_| RekorError::Mismatch("the logged key did not make this signature"))?;
    Ok(bundle.payload.integrated_time)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sigstore::tests::{public, sign, signing_key};
    use p256::ecdsa::signature::Signer as _;
    use p256::ecdsa::SigningKey;
    use p256::pkcs8::LineEnding;

    const PAYLOAD: &[u8] = br#"{"critical":{"identity":{"docker-reference":"example.com/app"},"image":{"docker-manifest-digest":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},"type":"cosign container image signature"},"optional":null}"#;

    /// What rekor `log` answers for `signature` made by `signer`, as cosign stores it.
    pub(crate) fn log_entry(
        log: &SigningKey,
        signer: &SigningKey,
        signature: &mut SigstoreSignature,
    ) {
        let pem = signer
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        let body = serde_json::json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256",
                    "value": skiff_oci::Digest::sha256(&signature.payload).hex()}},
                "signature": {
                    "content": signature.annotations[SigstoreSignature::SIGNATURE_ANNOTATION],
                    "publicKey": {"content": B64.encode(pem)}
                }
            }
        });
        let log_key = RekorKey::new(public(log)).unwrap();
        let payload = BundlePayload {
            body: B64.encode(serde_json::to_vec(&body).unwrap()),
            integrated_time: 1_700_000_000,
            log_id: log_key.log_id,
            log_index: 42,
        };
        let set: EcdsaSignature = log.sign(&serde_json::to_vec(&payload).unwrap());
        let bundle = serde_json::json!({
            "SignedEntryTimestamp": B64.encode(set.to_der().as_bytes()),
            "Payload": payload,
        });
        signature
            .annotations
            .insert(BUNDLE_ANNOTATION.into(), bundle.to_string());
    }

    fn logs(seed: u8) -> Vec<RekorKey> {
        vec![RekorKey::new(public(&signing_key(seed))).unwrap()]
    }

    #[test]
    fn a_logged_signature_verifies_against_the_log_key() {
        let (signer, log) = (signing_key(7), signing_key(20));
        let mut sig = sign(&signer, PAYLOAD);
        assert_eq!(
            verify_logged(&sig, &[public(&signer)], &logs(20)),
            Err(RekorError::NoBundle)
        );
        log_entry(&log, &signer, &mut sig);
        assert_eq!(
            verify_logged(&sig, &[public(&signer)], &logs(20)),
            Ok(1_700_000_000)
        );
        // Another log, or a key the policy does not trust.
        assert!(matches!(
            verify_logged(&sig, &[public(&signer)], &logs(21)),
            Err(RekorError::UnknownLog(_))
        ));
        assert!(matches!(
            verify_logged(&sig, &[public(&signing_key(8))], &logs(20)),
            Err(RekorError::Mismatch(_))
        ));
    }

    #[test]
    fn an_entry_for_anything_else_is_refused() {
        let (signer, log) = (signing_key(7), signing_key(20));
        let trusted = [public(&signer)];
        // The payload changed after logging.
        let mut sig = sign(&signer, PAYLOAD);
        log_entry(&log, &signer, &mut sig);
        let mut other = sig.clone();
        other.payload = PAYLOAD.to_vec();
        other.payload[20] ^= 1;
        assert!(matches!(
            verify_logged(&other, &trusted, &logs(20)),
            Err(RekorError::Mismatch(_))
        ));
        // The signature was swapped for another one over the same payload.
        let mut swapped = sign(&signing_key(9), PAYLOAD);
        swapped.annotations.insert(
            BUNDLE_ANNOTATION.into(),
            sig.annotations[BUNDLE_ANNOTATION].clone(),
        );
        assert!(matches!(
            verify_logged(&swapped, &[public(&signing_key(9))], &logs(20)),
            Err(RekorError::Mismatch(_))
        ));
        // The entry was edited after the log signed it.
        let mut bundle: serde_json::Value =
            serde_json::from_str(&sig.annotations[BUNDLE_ANNOTATION]).unwrap();
        bundle["Payload"]["logIndex"] = 43.into();
        let mut edited = sig.clone();
        edited
            .annotations
            .insert(BUNDLE_ANNOTATION.into(), bundle.to_string());
        assert_eq!(
            verify_logged(&edited, &trusted, &logs(20)),
            Err(RekorError::BadTimestamp)
        );
        let mut junk = sig;
        junk.annotations
            .insert(BUNDLE_ANNOTATION.into(), "{\"Payload\": 1}".into());
        assert!(matches!(
            verify_logged(&junk, &trusted, &logs(20)),
            Err(RekorError::Malformed(_))
        ));
    }
}

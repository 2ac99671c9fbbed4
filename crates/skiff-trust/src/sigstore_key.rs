//! Sigstore key pairs as cosign and skopeo write and read them, and signing with them.
//!
//! The public key is a PEM `PUBLIC KEY` (ECDSA P-256 SubjectPublicKeyInfo). The private key
//! is a PEM `ENCRYPTED SIGSTORE PRIVATE KEY` (cosign's older `ENCRYPTED COSIGN PRIVATE KEY`
//! is read too) whose body is the JSON of go-securesystemslib's `encrypted` package:
//! `{"kdf": {"name": "scrypt", "params": {"N", "r", "p"}, "salt"}, "cipher": {"name":
//! "nacl/secretbox", "nonce"}, "ciphertext"}` — the PKCS#8 DER private key sealed with
//! XSalsa20-Poly1305 under a key scrypt derives from the passphrase. Byte fields are base64,
//! as Go encodes `[]byte`.

use base64::Engine as _;
use crypto_secretbox::aead::{Aead as _, KeyInit as _};
use crypto_secretbox::XSalsa20Poly1305;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature as EcdsaSignature, SigningKey};
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use rand_core::{OsRng, RngCore as _};
use serde::{Deserialize, Serialize};

use crate::signature::SigstoreSignature;

/// The PEM label skopeo and current cosign write.
const PEM_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
/// The label older cosign releases write; still read.
const COSIGN_PEM_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";

/// go-securesystemslib's defaults (N = 2^15, r = 8, p = 1): what cosign and skopeo use.
const LOG_N: u8 = 15;
const R: u32 = 8;
const P: u32 = 1;
/// Reading a key whose parameters ask for more than this (N = 2^20, 1 GiB of memory at
/// r = 8) is refused: a hostile file must not make us allocate without bound.
const MAX_LOG_N: u8 = 20;
const MAX_R_TIMES_P: u64 = 64;

/// A sigstore private key that cannot be made or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigstoreKeyError {
    /// Not PEM of a known label, or not the JSON inside.
    #[error("not an encrypted sigstore private key: {0}")]
    Format(String),
    /// A key derivation or cipher this implementation does not know.
    #[error("unsupported private key encryption: {0}")]
    Unsupported(String),
    /// Decryption failed: the passphrase is wrong (or the file damaged).
    #[error("wrong password: could not decrypt private key")]
    WrongPassphrase,
    /// Decrypted, but not an ECDSA P-256 PKCS#8 key.
    #[error("the decrypted private key is not an ECDSA P-256 key: {0}")]
    Key(String),
}

/// A freshly generated key pair, both halves PEM-encoded.
#[derive(Debug, Clone)]
pub struct GeneratedKeyPair {
    /// The encrypted private key (`P.private`).
    pub private_pem: String,
    /// The public key (`P.pub`).
    pub public_pem: String,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    kdf: Kdf,
    cipher: Cipher,
    #[serde(with = "b64")]
    ciphertext: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: KdfParams,
    #[serde(with = "b64")]
    salt: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct KdfParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    #[serde(with = "b64")]
    nonce: Vec<u8>,
}

/// Generates an ECDSA P-256 key pair and encrypts the private half with `passphrase`.
pub fn generate_key_pair(passphrase: &[u8]) -> Result<GeneratedKeyPair, SigstoreKeyError> {
    let key = SigningKey::random(&mut OsRng);
    let der = key
        .to_pkcs8_der()
        .map_err(|e| SigstoreKeyError::Key(e.to_string()))?;
    let mut salt = [0u8; 32];
    OsRng.fill_bytes(&mut salt);
    let mut nonce = [0u8; 24];
    OsRng.fill_bytes(&mut nonce);
    let cipher = XSalsa20Poly1305::new(&derive(passphrase, &salt, LOG_N, R, P)?.into());
    let ciphertext = cipher
        .encrypt(&nonce.into(), der.as_bytes())
        .map_err(|e| SigstoreKeyError::Key(e.to_string()))?;
    let envelope = Envelope {
        kdf: Kdf {
            name: "scrypt".into(),
            params: KdfParams {
                n: 1 << LOG_N,
                r: R,
                p: P,
            },
            salt: salt.to_vec(),
        },
        cipher: Cipher {
            name: "nacl/secretbox".into(),
            nonce: nonce.to_vec(),
        },
        ciphertext,
    };
    let json = serde_json::to_vec(&envelope).map_err(|e| SigstoreKeyError::Key(e.to_string()))?;
    let public_pem = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| SigstoreKeyError::Key(e.to_string()))?;
    Ok(GeneratedKeyPair {
        private_pem: pem_encode(PEM_LABEL, &json),
        public_pem,
    })
}

/// A decrypted private key, ready to sign.
pub struct SigstorePrivateKey(SigningKey);

impl std::fmt::Debug for SigstorePrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigstorePrivateKey(…)")
    }
}

impl SigstorePrivateKey {
    /// Reads and decrypts a private key file's content.
    pub fn decrypt(pem: &[u8], passphrase: &[u8]) -> Result<SigstorePrivateKey, SigstoreKeyError> {
        let json = pem_decode(pem)?;
        let envelope: Envelope = serde_json::from_slice(&json)
            .map_err(|e| SigstoreKeyError::Format(format!("the key's JSON: {e}")))?;
        if envelope.kdf.name != "scrypt" {
            return Err(SigstoreKeyError::Unsupported(format!(
                "key derivation {:?} (scrypt is supported)",
                envelope.kdf.name
            )));
        }
        if envelope.cipher.name != "nacl/secretbox" {
            return Err(SigstoreKeyError::Unsupported(format!(
                "cipher {:?} (nacl/secretbox is supported)",
                envelope.cipher.name
            )));
        }
        let KdfParams { n, r, p } = envelope.kdf.params;
        let log_n = match n.checked_ilog2() {
            Some(l) if n.is_power_of_two() && l >= 1 && l <= u32::from(MAX_LOG_N) => l as u8,
            _ => {
                return Err(SigstoreKeyError::Unsupported(format!(
                    "scrypt N = {n} (a power of two up to 2^{MAX_LOG_N} is supported)"
                )))
            }
        };
        if r == 0 || p == 0 || u64::from(r) * u64::from(p) > MAX_R_TIMES_P {
            return Err(SigstoreKeyError::Unsupported(format!(
                "scrypt r = {r}, p = {p}"
            )));
        }
        let nonce: [u8; 24] = envelope.cipher.nonce.as_slice().try_into().map_err(|_| {
            SigstoreKeyError::Format(format!(
                "the nonce is {} bytes, not 24",
                envelope.cipher.nonce.len()
            ))
        })?;
        let cipher =
            XSalsa20Poly1305::new(&derive(passphrase, &envelope.kdf.salt, log_n, r, p)?.into());
        let der = cipher
            .decrypt(&nonce.into(), envelope.ciphertext.as_slice())
            .map_err(|_| SigstoreKeyError::WrongPassphrase)?;
        SigningKey::from_pkcs8_der(&der)
            .map(SigstorePrivateKey)
            .map_err(|e| SigstoreKeyError::Key(e.to_string()))
    }

    /// Signs `payload` as cosign does: ECDSA P-256 over its SHA-256, ASN.1 DER, base64 in
    /// the signature annotation of a `simplesigning` layer.
    pub fn sign(&self, payload: Vec<u8>) -> SigstoreSignature {
        let sig: EcdsaSignature = self.0.sign(&payload);
        SigstoreSignature {
            mime_type: SigstoreSignature::PAYLOAD_MEDIA_TYPE.into(),
            payload,
            annotations: [(
                SigstoreSignature::SIGNATURE_ANNOTATION.to_string(),
                base64::engine::general_purpose::STANDARD.encode(sig.to_der().as_bytes()),
            )]
            .into(),
        }
    }

    /// The matching public key, for checking what was signed.
    pub fn public_key(&self) -> crate::sigstore::SigstorePublicKey {
        crate::sigstore::SigstorePublicKey::from_verifying_key(*self.0.verifying_key())
    }
}

fn derive(
    passphrase: &[u8],
    salt: &[u8],
    log_n: u8,
    r: u32,
    p: u32,
) -> Result<[u8; 32], SigstoreKeyError> {
    let params = scrypt::Params::new(log_n, r, p, 32)
        .map_err(|e| SigstoreKeyError::Unsupported(format!("scrypt parameters: {e}")))?;
    let mut key = [0u8; 32];
    scrypt::scrypt(passphrase, salt, &params, &mut key)
        .map_err(|e| SigstoreKeyError::Unsupported(format!("scrypt: {e}")))?;
    Ok(key)
}

fn pem_encode(label: &str, body: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(body);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The body of the first PEM block, which must carry one of the two private key labels.
fn pem_decode(pem: &[u8]) -> Result<Vec<u8>, SigstoreKeyError> {
    let bad = |why: &str| SigstoreKeyError::Format(why.to_string());
    let text = std::str::from_utf8(pem).map_err(|_| bad("the file is not text"))?;
    let (label, rest) = text
        .split_once("-----BEGIN ")
        .and_then(|(_, after)| after.split_once("-----"))
        .ok_or_else(|| bad("no PEM block"))?;
    if label != PEM_LABEL && label != COSIGN_PEM_LABEL {
        return Err(SigstoreKeyError::Format(format!(
            "PEM block {label:?}, expected {PEM_LABEL:?}"
        )));
    }
    let end = format!("-----END {label}-----");
    let (body, _) = rest
        .split_once(&end)
        .ok_or_else(|| bad("unterminated PEM block"))?;
    let b64: String = body.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| SigstoreKeyError::Format(format!("PEM body: {e}")))
}

/// Go's `[]byte` JSON encoding: standard base64 with padding.
mod b64 {
    use base64::Engine as _;
    use serde::Deserialize as _;

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
    use crate::sigstore::{verify_sigstore, SigstorePublicKey};

    #[test]
    fn generated_keys_sign_what_their_public_half_verifies() {
        let pair = generate_key_pair(b"secret").unwrap();
        assert!(pair
            .private_pem
            .starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
        let key = SigstorePrivateKey::decrypt(pair.private_pem.as_bytes(), b"secret").unwrap();
        let public = SigstorePublicKey::from_pem(pair.public_pem.as_bytes()).unwrap();
        assert_eq!(key.public_key(), public);
        let payload = crate::signing_payload(
            crate::PayloadKind::Sigstore,
            "example.com/app:1",
            &skiff_oci::Digest::sha256(b"m"),
            "skiff",
            1,
        );
        let sig = key.sign(payload);
        assert!(verify_sigstore(&sig, &[public]).is_ok());
    }

    #[test]
    fn wrong_passphrase_and_damaged_files_are_refused() {
        let pair = generate_key_pair(b"secret").unwrap();
        assert_eq!(
            SigstorePrivateKey::decrypt(pair.private_pem.as_bytes(), b"other").unwrap_err(),
            SigstoreKeyError::WrongPassphrase
        );
        assert!(matches!(
            SigstorePrivateKey::decrypt(pair.public_pem.as_bytes(), b"secret"),
            Err(SigstoreKeyError::Format(_))
        ));
        assert!(SigstorePrivateKey::decrypt(b"\xff\xfe", b"").is_err());
        // A hostile work factor is refused before any memory is spent on it.
        let json = format!(
            r#"{{"kdf":{{"name":"scrypt","params":{{"N":{},"r":8,"p":1}},"salt":""}},"cipher":{{"name":"nacl/secretbox","nonce":""}},"ciphertext":""}}"#,
            1u64 << 40
        );
        let hostile = pem_encode(PEM_LABEL, json.as_bytes());
        assert!(matches!(
            SigstorePrivateKey::decrypt(hostile.as_bytes(), b""),
            Err(SigstoreKeyError::Unsupported(_))
        ));
    }
}

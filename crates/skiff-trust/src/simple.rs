//! Simple signing: OpenPGP signatures over a JSON payload, verified in-process with rPGP.
//!
//! A signature is a complete OpenPGP message (as `gpg --sign` writes it: usually compressed,
//! one-pass signed, the payload as literal data). Verification reads the literal data, checks
//! the signature against every trusted key and subkey, and only then parses the payload, so
//! nothing from an unverified message reaches a decision. GnuPG is not involved: the trusted
//! keys are exactly those in the keyring files the policy names, never the user's keyring.

use std::io::Read as _;

use pgp::composed::{Deserializable as _, Message, SignedPublicKey};
use pgp::types::PublicKeyTrait;

use crate::payload::{Payload, PayloadError, PayloadKind};

/// Payloads are a few hundred bytes; a limit keeps a compression bomb from exhausting memory.
const MAX_PAYLOAD: u64 = 4 << 20;

/// A set of trusted OpenPGP public keys (a "GPG keyring" in policy.json terms).
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
}

/// A keyring that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    /// The data is not OpenPGP key material.
    #[error("not an OpenPGP public keyring: {0}")]
    Parse(String),
    /// Parsed, but holds no public key.
    #[error("the keyring contains no public key")]
    Empty,
    /// A key whose self-signatures do not verify; trusting it would trust forged user ids.
    #[error("key {fingerprint} has invalid self-signatures: {reason}")]
    InvalidKey {
        /// The key's fingerprint.
        fingerprint: String,
        /// What rPGP reported.
        reason: String,
    },
}

/// Why a simple signing signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimpleSigningError {
    /// Not a readable OpenPGP message.
    #[error("not a valid OpenPGP signature: {0}")]
    Malformed(String),
    /// The payload exceeds [`MAX_PAYLOAD`].
    #[error("signature payload is larger than {MAX_PAYLOAD} bytes")]
    TooLarge,
    /// No trusted key verifies the message.
    #[error("signature is not made by a trusted key (signed by key id {key_ids})")]
    UntrustedKey {
        /// The issuer key ids the signature names (hex), for the user to look up.
        key_ids: String,
    },
    /// Made by a trusted key that has since been revoked or has expired; GnuPG (and so
    /// skopeo) refuses those signatures too.
    #[error("signature is made by key {fingerprint}, which {why}")]
    KeyNotValid {
        /// The primary key's fingerprint.
        fingerprint: String,
        /// "has been revoked" / "expired on …".
        why: String,
    },
    /// Verified, but the payload is unusable.
    #[error(transparent)]
    Payload(#[from] PayloadError),
}

/// A signature whose OpenPGP signature verified with a trusted key. The claims of the payload
/// (digest, identity) still have to be checked against the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSimpleSigning {
    /// The verified payload.
    pub payload: Payload,
    /// Fingerprint (uppercase hex) of the primary key the signing key belongs to.
    pub primary_fingerprint: String,
    /// Fingerprint (uppercase hex) of the key or subkey that made the signature.
    pub signing_fingerprint: String,
}

/// The content of a signature read WITHOUT verification (for `untrusted-signature-dump`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UntrustedSimpleSigning {
    /// The parsed payload, not verified.
    pub payload: Payload,
    /// The issuer key ids the signature names (lowercase hex).
    pub key_ids: Vec<String>,
}

impl Keyring {
    /// Parses one or more public keys, ASCII-armored or binary (what `gpg --export` writes).
    pub fn from_bytes(data: &[u8]) -> Result<Keyring, KeyringError> {
        let mut ring = Keyring::default();
        ring.add(data)?;
        Ok(ring)
    }

    /// Adds the keys in `data` to this keyring.
    pub fn add(&mut self, data: &[u8]) -> Result<(), KeyringError> {
        let (keys, _headers) = SignedPublicKey::from_reader_many(data)
            .map_err(|e| KeyringError::Parse(e.to_string()))?;
        let before = self.keys.len();
        for key in keys {
            let key = key.map_err(|e| KeyringError::Parse(e.to_string()))?;
            key.verify().map_err(|e| KeyringError::InvalidKey {
                fingerprint: fingerprint_hex(&key),
                reason: e.to_string(),
            })?;
            self.keys.push(key);
        }
        if self.keys.len() == before {
            return Err(KeyringError::Empty);
        }
        Ok(())
    }

    /// The primary key fingerprints (uppercase hex), in keyring order.
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys.iter().map(fingerprint_hex).collect()
    }

    /// Keeps only the key whose primary or subkey fingerprint is `fingerprint` (case
    /// insensitive); `standalone-verify` trusts one named key out of a keyring.
    pub fn only(&self, fingerprint: &str) -> Keyring {
        let wanted = fingerprint.to_ascii_uppercase();
        let keys = self
            .keys
            .iter()
            .filter(|k| {
                fingerprint_hex(*k) == wanted
                    || k.public_subkeys
                        .iter()
                        .any(|s| fingerprint_hex(s) == wanted)
            })
            .cloned()
            .collect();
        Keyring { keys }
    }

    /// Whether the keyring holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn fingerprint_hex(key: &impl pgp::types::KeyDetails) -> String {
    format!("{:X}", key.fingerprint())
}

/// Reads the message's literal data (bounded) and returns the message, read to its end so its
/// signature can be checked.
fn read_message(signature: &[u8]) -> Result<(Message<'_>, Vec<u8>), SimpleSigningError> {
    let malformed = |e: &dyn std::fmt::Display| SimpleSigningError::Malformed(e.to_string());
    let message = Message::from_bytes(signature).map_err(|e| malformed(&e))?;
    let mut message = message.decompress().map_err(|e| malformed(&e))?;
    let mut content = Vec::new();
    (&mut message)
        .take(MAX_PAYLOAD + 1)
        .read_to_end(&mut content)
        .map_err(|e| malformed(&e))?;
    if content.len() as u64 > MAX_PAYLOAD {
        return Err(SimpleSigningError::TooLarge);
    }
    Ok((message, content))
}

fn issuer_ids(message: &Message<'_>) -> Vec<String> {
    let sig = match message {
        Message::Signed { reader, .. } => Some(reader.signature()),
        Message::SignedOnePass { reader, .. } => reader.signature(),
        _ => None,
    };
    sig.map(|s| s.issuer().iter().map(|id| id.to_string()).collect())
        .unwrap_or_default()
}

/// Verifies `signature` with the keys of `keyring` and returns its payload.
pub fn verify_simple_signing(
    signature: &[u8],
    keyring: &Keyring,
) -> Result<VerifiedSimpleSigning, SimpleSigningError> {
    let (message, content) = read_message(signature)?;
    for key in &keyring.keys {
        let candidates = std::iter::once(&key.primary_key as &dyn PublicKeyTrait)
            .chain(key.public_subkeys.iter().map(|s| s as &dyn PublicKeyTrait));
        for candidate in candidates {
            if message.verify(candidate).is_ok() {
                still_valid(key)?;
                let payload = Payload::parse_untrusted(&content, PayloadKind::SimpleSigning)?;
                return Ok(VerifiedSimpleSigning {
                    payload,
                    primary_fingerprint: fingerprint_hex(key),
                    signing_fingerprint: format!("{:X}", candidate.fingerprint()),
                });
            }
        }
    }
    let ids = issuer_ids(&message);
    Err(SimpleSigningError::UntrustedKey {
        key_ids: if ids.is_empty() {
            "none named".into()
        } else {
            ids.join(", ")
        },
    })
}

/// Refuses keys that carry a revocation or whose expiry time has passed.
fn still_valid(key: &SignedPublicKey) -> Result<(), SimpleSigningError> {
    let invalid = |why: String| SimpleSigningError::KeyNotValid {
        fingerprint: fingerprint_hex(key),
        why,
    };
    if !key.details.revocation_signatures.is_empty() {
        return Err(invalid("has been revoked".into()));
    }
    if let Some(expiry) = key.expires_at() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(i64::MAX, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        if expiry.timestamp() <= now {
            return Err(invalid(format!("expired on {}", expiry.to_rfc3339())));
        }
    }
    Ok(())
}

/// Parses `signature` WITHOUT verifying it: for showing what a signature claims.
pub fn untrusted_simple_signing(
    signature: &[u8],
) -> Result<UntrustedSimpleSigning, SimpleSigningError> {
    let (message, content) = read_message(signature)?;
    Ok(UntrustedSimpleSigning {
        payload: Payload::parse_untrusted(&content, PayloadKind::SimpleSigning)?,
        key_ids: issuer_ids(&message),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_refused_not_accepted() {
        assert!(matches!(
            Keyring::from_bytes(b"nonsense"),
            Err(KeyringError::Parse(_) | KeyringError::Empty)
        ));
        let ring = Keyring::default();
        assert!(verify_simple_signing(b"\xa3\x01garbage", &ring).is_err());
        assert!(verify_simple_signing(b"", &ring).is_err());
        assert!(untrusted_simple_signing(b"\x00\x01").is_err());
    }
}

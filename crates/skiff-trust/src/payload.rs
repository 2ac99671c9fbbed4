//! The JSON payload both signature formats sign: which manifest digest is claimed to be which
//! docker reference.
//!
//! Simple signing ("atomic container signature") and sigstore ("cosign container image
//! signature") share the shape
//! `{"critical": {"identity": {"docker-reference": R}, "image": {"docker-manifest-digest": D},
//! "type": T}, "optional": {…}}` and differ only in `T`, so one parser serves both. The
//! `critical` part is parsed strictly (unknown fields refused): a field we do not understand
//! there might restrict what the signer meant to approve, and ignoring it would widen trust.

use serde::Deserialize;
use skiff_oci::{Digest, Reference};

/// Which of the two formats a payload belongs to; fixes the expected `critical.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadKind {
    /// OpenPGP "simple signing" (`atomic container signature`).
    SimpleSigning,
    /// Sigstore / cosign (`cosign container image signature`).
    Sigstore,
}

impl PayloadKind {
    /// The `critical.type` value this kind requires.
    pub fn type_name(self) -> &'static str {
        match self {
            PayloadKind::SimpleSigning => "atomic container signature",
            PayloadKind::Sigstore => "cosign container image signature",
        }
    }
}

/// Why a payload could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// Not JSON of the required shape (includes unknown fields in `critical`).
    #[error("signature payload is not valid: {0}")]
    Malformed(String),
    /// `critical.type` names another format.
    #[error("signature payload has type {found:?}, expected {expected:?}")]
    WrongType {
        /// What the payload says.
        found: String,
        /// What this format requires.
        expected: &'static str,
    },
    /// The claimed docker reference does not parse.
    #[error("signature claims an invalid docker reference {0:?}: {1}")]
    BadReference(String, String),
    /// The claimed manifest digest does not parse.
    #[error("signature claims an invalid manifest digest {0:?}")]
    BadDigest(String),
}

/// A parsed payload. "Untrusted" until the caller has checked the cryptographic signature over
/// the bytes it was parsed from; the verification functions of this crate only hand it out
/// after that check, except [`Payload::parse_untrusted`] which exists for dump commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// `critical.identity.docker-reference` as written (cosign writes a bare repository).
    pub docker_reference: String,
    /// The same, parsed and normalised; no default tag is added (name-only stays name-only).
    pub reference: Reference,
    /// `critical.image.docker-manifest-digest`.
    pub manifest_digest: Digest,
    /// `optional.creator`, if present (simple signing writes the signing tool's name).
    pub creator: Option<String>,
    /// `optional.timestamp` (seconds since the epoch), if present.
    pub timestamp: Option<i64>,
}

/// The JSON a signer signs, in the shape [`Payload::parse_untrusted`] reads: `reference` as
/// the identity (exactly as given: a full reference, or a bare repository as cosign writes),
/// `manifest_digest`, and `creator` / `timestamp` (seconds since the epoch) as optional data.
pub fn signing_payload(
    kind: PayloadKind,
    reference: &str,
    manifest_digest: &Digest,
    creator: &str,
    timestamp: i64,
) -> Vec<u8> {
    let value = serde_json::json!({
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": manifest_digest.to_string()},
            "type": kind.type_name(),
        },
        "optional": {"creator": creator, "timestamp": timestamp},
    });
    value.to_string().into_bytes()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    critical: Critical,
    #[serde(default)]
    optional: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Critical {
    #[serde(rename = "type")]
    kind: String,
    image: Image,
    identity: Identity,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    digest: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Identity {
    #[serde(rename = "docker-reference")]
    reference: String,
}

impl Payload {
    /// Parses payload bytes of the given kind WITHOUT any cryptographic check.
    pub fn parse_untrusted(bytes: &[u8], kind: PayloadKind) -> Result<Payload, PayloadError> {
        let raw: Raw =
            serde_json::from_slice(bytes).map_err(|e| PayloadError::Malformed(e.to_string()))?;
        if raw.critical.kind != kind.type_name() {
            return Err(PayloadError::WrongType {
                found: raw.critical.kind,
                expected: kind.type_name(),
            });
        }
        let docker_reference = raw.critical.identity.reference;
        let reference = Reference::parse_unnormalised_tag(&docker_reference)
            .map_err(|e| PayloadError::BadReference(docker_reference.clone(), e.to_string()))?;
        let manifest_digest = raw
            .critical
            .image
            .digest
            .parse::<Digest>()
            .map_err(|_| PayloadError::BadDigest(raw.critical.image.digest.clone()))?;
        let optional = raw.optional.unwrap_or_default();
        Ok(Payload {
            docker_reference,
            reference,
            manifest_digest,
            creator: optional
                .get("creator")
                .and_then(|v| v.as_str())
                .map(str::to_string),
            timestamp: optional.get("timestamp").and_then(|v| v.as_i64()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn payload(kind: &str, extra_critical: &str) -> Vec<u8> {
        format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"example.com/ns/app:1"}},"image":{{"docker-manifest-digest":"{D}"}},"type":"{kind}"{extra_critical}}},"optional":{{"creator":"tool","timestamp":1700000000}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn parses_simple_signing_payload() {
        let p = Payload::parse_untrusted(
            &payload("atomic container signature", ""),
            PayloadKind::SimpleSigning,
        )
        .unwrap();
        assert_eq!(p.docker_reference, "example.com/ns/app:1");
        assert_eq!(p.reference.tag(), Some("1"));
        assert_eq!(p.manifest_digest.to_string(), D);
        assert_eq!(p.creator.as_deref(), Some("tool"));
        assert_eq!(p.timestamp, Some(1_700_000_000));
    }

    #[test]
    fn signing_payload_round_trips() {
        let digest: Digest = D.parse().unwrap();
        let json = signing_payload(
            PayloadKind::Sigstore,
            "example.com/app",
            &digest,
            "skiff",
            7,
        );
        let p = Payload::parse_untrusted(&json, PayloadKind::Sigstore).unwrap();
        assert_eq!(p.docker_reference, "example.com/app");
        assert_eq!(p.manifest_digest, digest);
        assert_eq!(
            (p.creator.as_deref(), p.timestamp),
            (Some("skiff"), Some(7))
        );
    }

    #[test]
    fn refuses_the_other_format_and_unknown_critical_fields() {
        let err = Payload::parse_untrusted(
            &payload("atomic container signature", ""),
            PayloadKind::Sigstore,
        )
        .unwrap_err();
        assert!(matches!(err, PayloadError::WrongType { .. }));
        let err = Payload::parse_untrusted(
            &payload("atomic container signature", r#","extra":1"#),
            PayloadKind::SimpleSigning,
        )
        .unwrap_err();
        assert!(matches!(err, PayloadError::Malformed(_)), "{err}");
        assert!(Payload::parse_untrusted(b"not json", PayloadKind::Sigstore).is_err());
    }
}

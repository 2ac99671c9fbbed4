//! Deciding whether an image may be used: all requirements of its scope must hold.
//!
//! A signature requirement holds when at least one signature of its kind verifies with one
//! of its keys AND claims this manifest's digest AND an identity its `signedIdentity`
//! accepts. Every failure is a [`Rejection`] naming the policy file, the scope and the
//! reason; there is no path from an error to acceptance.

use std::fmt;

use skiff_oci::{Digest, Reference};

use crate::identity::{IdentityError, SignedIdentity};
use crate::keys::{load_keyring, load_sigstore_keys};
use crate::payload::Payload;
use crate::policy::{MatchedScope, Requirement, Requirements, SignedBy, SigstoreSigned};
use crate::rekor::{verify_logged, RekorError, RekorKey};
use crate::signature::{Signature, SigstoreSignature};
use crate::sigstore::{verify_sigstore, SigstoreError};
use crate::simple::{verify_simple_signing, Keyring, SimpleSigningError, VerifiedSimpleSigning};

/// The image being decided on.
#[derive(Debug, Clone, Copy)]
pub struct ImageUnderTest<'a> {
    /// The docker reference the image is used under (`None` for `oci:`, `dir:`, … images).
    /// For a digest reference, the caller must already have checked the manifest against it.
    pub docker_reference: Option<&'a Reference>,
    /// The exact manifest bytes (of the single-platform image or of the index, whichever the
    /// signatures were made for).
    pub manifest: &'a [u8],
    /// All signatures found for the image, of both formats.
    pub signatures: &'a [Signature],
}

/// The image may be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Where the requirements came from.
    pub matched: MatchedScope,
    /// One line per satisfied signature requirement (which key accepted what), for logs.
    pub verified: Vec<String>,
}

/// The image must not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("image rejected by {matched}: {reason}")]
pub struct Rejection {
    /// Where the rejecting requirement came from.
    pub matched: MatchedScope,
    /// Why.
    pub reason: RejectReason,
}

/// Why a requirement was not satisfied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    /// A `reject` requirement.
    #[error("the policy rejects every image here (\"reject\")")]
    Reject,
    /// The requirement needs signatures of a kind the image has none of.
    #[error("a {0} signature is required, but the image has none")]
    NoSignature(&'static str),
    /// The trusted keys cannot be loaded.
    #[error("cannot load trusted keys: {0}")]
    Keys(String),
    /// A requirement skiff cannot check (see [`SigstoreSigned::unverifiable`]).
    #[error("cannot verify this requirement: {0}")]
    Unverifiable(&'static str),
    /// Signatures exist, none acceptable.
    #[error("{}", describe(.0))]
    NoneAccepted(Vec<SignatureRejection>),
}

/// Why one signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureRejection {
    /// Simple signing verification failed.
    #[error(transparent)]
    Simple(#[from] SimpleSigningError),
    /// Sigstore verification failed.
    #[error(transparent)]
    Sigstore(#[from] SigstoreError),
    /// The rekor log entry the policy requires is missing or does not match.
    #[error(transparent)]
    Rekor(#[from] RekorError),
    /// Validly signed, but for another manifest.
    #[error("signature is for manifest {signed}, not for this manifest ({actual})")]
    ManifestDigest {
        /// The digest in the signature.
        signed: String,
        /// The digest of the manifest at hand.
        actual: String,
    },
    /// Docker schema 1 manifests digest differently (their own signatures stripped).
    #[error("signatures of Docker schema 1 manifests are not supported")]
    Schema1,
    /// Validly signed for this manifest, but under another name.
    #[error(transparent)]
    Identity(#[from] IdentityError),
}

fn describe(list: &[SignatureRejection]) -> String {
    match list {
        [one] => one.to_string(),
        many => {
            let each: Vec<String> = many
                .iter()
                .enumerate()
                .map(|(i, r)| format!("{}) {r}", i + 1))
                .collect();
            format!(
                "none of the {} signatures was accepted: {}",
                many.len(),
                each.join("; ")
            )
        }
    }
}

impl fmt::Display for Accepted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "accepted by {}", self.matched)
    }
}

/// Evaluates all requirements of `requirements` for `image`.
pub fn evaluate(
    requirements: &Requirements<'_>,
    image: &ImageUnderTest<'_>,
) -> Result<Accepted, Rejection> {
    let reject = |reason| Rejection {
        matched: requirements.matched.clone(),
        reason,
    };
    let mut verified = Vec::new();
    for requirement in requirements.list {
        match requirement {
            Requirement::InsecureAcceptAnything => {}
            Requirement::Reject => return Err(reject(RejectReason::Reject)),
            Requirement::SignedBy(r) => verified.push(signed_by(r, image).map_err(reject)?),
            Requirement::SigstoreSigned(r) => {
                verified.push(sigstore_signed(r, image).map_err(reject)?)
            }
        }
    }
    Ok(Accepted {
        matched: requirements.matched.clone(),
        verified,
    })
}

fn signed_by(req: &SignedBy, image: &ImageUnderTest<'_>) -> Result<String, RejectReason> {
    let keyring = load_keyring(&req.keys).map_err(RejectReason::Keys)?;
    first_accepted(image, "simple signing", &req.identity, |sig| match sig {
        Signature::SimpleSigning(raw) => Some(
            verify_simple_signing(raw, &keyring)
                .map(|v| (v.payload, format!("key {}", v.primary_fingerprint)))
                .map_err(SignatureRejection::from),
        ),
        Signature::Sigstore(_) => None,
    })
}

fn sigstore_signed(
    req: &SigstoreSigned,
    image: &ImageUnderTest<'_>,
) -> Result<String, RejectReason> {
    if let Some(why) = req.unverifiable {
        return Err(RejectReason::Unverifiable(why));
    }
    let Some(source) = &req.keys else {
        return Err(RejectReason::Unverifiable("no sigstore public key given"));
    };
    let keys = load_sigstore_keys(source).map_err(RejectReason::Keys)?;
    let logs = match &req.rekor {
        Some(source) => Some(
            load_sigstore_keys(source)
                .and_then(|keys| {
                    keys.into_iter()
                        .map(|k| RekorKey::new(k).map_err(|e| e.to_string()))
                        .collect::<Result<Vec<_>, _>>()
                })
                .map_err(|e| RejectReason::Keys(format!("rekor: {e}")))?,
        ),
        None => None,
    };
    let verify = |s: &SigstoreSignature| -> Verified {
        let payload = verify_sigstore(s, &keys)?;
        match &logs {
            Some(logs) => {
                verify_logged(s, &keys, logs)?;
                Ok((payload, "a trusted sigstore key, logged in rekor".into()))
            }
            None => Ok((payload, "a trusted sigstore key".into())),
        }
    };
    // Attachments of other media types (attestations, SBOMs) are not signatures; skopeo
    // skips them the same way.
    first_accepted(image, "sigstore", &req.identity, |sig| match sig {
        Signature::Sigstore(s) if s.mime_type == SigstoreSignature::PAYLOAD_MEDIA_TYPE => {
            Some(verify(s))
        }
        Signature::Sigstore(_) | Signature::SimpleSigning(_) => None,
    })
}

type Verified = Result<(Payload, String), SignatureRejection>;

/// Runs `verify` over the signatures of one kind (it returns `None` for the other kind) and
/// returns a description of the first one whose claims also match the image.
fn first_accepted(
    image: &ImageUnderTest<'_>,
    kind: &'static str,
    identity: &SignedIdentity,
    verify: impl Fn(&Signature) -> Option<Verified>,
) -> Result<String, RejectReason> {
    let mut rejections = Vec::new();
    for sig in image.signatures {
        let Some(result) = verify(sig) else { continue };
        match result.and_then(|(payload, by)| {
            check_claims(&payload, identity, image)?;
            Ok(format!("{} signed by {by}", payload.docker_reference))
        }) {
            Ok(line) => return Ok(line),
            Err(e) => rejections.push(e),
        }
    }
    if rejections.is_empty() {
        Err(RejectReason::NoSignature(kind))
    } else {
        Err(RejectReason::NoneAccepted(rejections))
    }
}

/// The claims of a verified payload against the image: manifest digest, then identity.
fn check_claims(
    payload: &Payload,
    identity: &SignedIdentity,
    image: &ImageUnderTest<'_>,
) -> Result<(), SignatureRejection> {
    manifest_matches(image.manifest, &payload.manifest_digest)?;
    identity.check(image.docker_reference, &payload.reference)?;
    Ok(())
}

/// Whether `manifest` is a Docker schema 1 manifest, whose digest excludes its embedded
/// signatures: signing or checking it by the digest of its bytes would be wrong.
pub fn is_docker_schema1(manifest: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "schemaVersion")]
        schema_version: Option<u64>,
    }
    matches!(
        serde_json::from_slice(manifest),
        Ok(Probe {
            schema_version: Some(1)
        })
    )
}

/// `standalone-verify` without a policy: `signature` must verify with `keyring` (restrict it
/// with [`Keyring::only`] to the fingerprint the user named), be for `manifest`, and claim
/// exactly `expected` (compared normalised, as skopeo does).
pub fn verify_standalone(
    signature: &[u8],
    keyring: &Keyring,
    manifest: &[u8],
    expected: &Reference,
) -> Result<VerifiedSimpleSigning, SignatureRejection> {
    let verified = verify_simple_signing(signature, keyring)?;
    manifest_matches(manifest, &verified.payload.manifest_digest)?;
    if verified.payload.reference != *expected {
        return Err(SignatureRejection::Identity(IdentityError::Mismatch {
            signed: verified.payload.reference.to_string(),
            intended: expected.to_string(),
            matcher: "standalone-verify",
        }));
    }
    Ok(verified)
}

/// The manifest digest rule: the digest of the exact bytes, with the signed digest's
/// algorithm. Schema 1 manifests would need their JWS signatures stripped first; they are
/// refused with a clear reason instead of being compared wrongly.
pub fn manifest_matches(manifest: &[u8], signed: &Digest) -> Result<(), SignatureRejection> {
    let actual = signed.of_same_kind(manifest);
    if actual == *signed {
        return Ok(());
    }
    if is_docker_schema1(manifest) {
        return Err(SignatureRejection::Schema1);
    }
    Err(SignatureRejection::ManifestDigest {
        signed: signed.to_string(),
        actual: actual.to_string(),
    })
}

#[cfg(test)]
mod tests;

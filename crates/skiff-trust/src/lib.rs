//! # skiff-trust: whether an image may be used, and by whose signature
//!
//! The library half of skopeo's signature support, with no CLI and no transport I/O: callers
//! (copy, sync, unpack, lxc, pve, apply) fetch the manifest and signatures and ask here.
//!
//! * [`policy`] — containers-policy.json(5): strict loading ([`Policy::load`],
//!   [`Policy::default_path`]) and scope lookup ([`Policy::requirements_for`] with a
//!   [`PolicyScope`] per transport).
//! * [`evaluate()`] — all requirements of the scope against an [`ImageUnderTest`]:
//!   `Ok(Accepted)` or a [`Rejection`] that names the policy file, scope and reason.
//! * [`simple`] — OpenPGP simple signing verified in-process with rPGP (no GnuPG, no C
//!   libraries), plus the untrusted payload for dump commands.
//! * [`sigstore`] — cosign signatures verified offline with ECDSA P-256 public keys, and
//!   [`rekor`] their transparency-log entries (signed entry timestamps) against trusted
//!   rekor keys. Fulcio (keyless) and PKI requirements are parsed and refused: skiff does
//!   not verify their certificate chains, and a half-check would be worse than a clear no.
//! * [`registries_d`] — containers-registries.d(5): lookaside URLs and sigstore attachments;
//!   [`attachments`] turns an attachment manifest and its blobs into signatures.
//! * [`Signature`] — the two formats and the blob encoding `dir:`-style stores use.
//! * Signing: [`gpg_sign::Gpg`] makes simple signatures with the user's GnuPG (and checks
//!   them in-process); [`sigstore_key`] generates, decrypts and signs with sigstore keys in
//!   the encrypted format cosign and skopeo share. Both sign a [`signing_payload`].
//!
//! How a command uses it, once it has the manifest and the signatures of an image:
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use skiff_trust::{evaluate, ImageUnderTest, Policy, PolicyScope, Signature};
//!
//! let policy = Policy::load(&Policy::default_path())?; // or --policy; --insecure-policy:
//!                                                      // Policy::insecure_accept_anything()
//! let reference = skiff_oci::Reference::parse("quay.io/app/web:1.2")?;
//! let requirements = policy.requirements_for(&PolicyScope::docker(&reference));
//! let manifest: Vec<u8> = Vec::new(); // the exact manifest bytes
//! let signatures: Vec<Signature> = Vec::new(); // from lookaside / attachments / dir:
//! let image = ImageUnderTest {
//!     docker_reference: Some(&reference),
//!     manifest: &manifest,
//!     signatures: &signatures,
//! };
//! match evaluate(&requirements, &image) {
//!     Ok(accepted) => eprintln!("{accepted}"),
//!     Err(rejection) => return Err(rejection.into()), // exit 1, before any byte is written
//! }
//! # Ok(()) }
//! ```
//!
//! Nothing here falls back to "accept": malformed policies are errors, and every failure to
//! verify is a rejection.

pub mod attachments;
mod config_path;
mod evaluate;
pub mod gpg_sign;
mod identity;
mod keys;
mod payload;
pub mod policy;
pub mod registries_d;
pub mod rekor;
mod signature;
pub mod sigstore;
pub mod sigstore_key;
pub mod simple;

pub use evaluate::{
    evaluate, is_docker_schema1, manifest_matches, verify_standalone, Accepted, ImageUnderTest,
    RejectReason, Rejection, SignatureRejection,
};
pub use identity::{IdentityError, SignedIdentity};
pub use payload::{signing_payload, Payload, PayloadError, PayloadKind};
pub use policy::{MatchedScope, Policy, PolicyError, PolicyScope, Requirement, Requirements};
pub use signature::{BlobError, Signature, SigstoreSignature};

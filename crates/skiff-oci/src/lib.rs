//! # skiff-oci: the vocabulary of images, with no I/O
//!
//! Everything the rest of skiff says about an image is spelt with the types of this crate:
//!
//! * [`Digest`] — content addresses (`sha256:…`, `sha512:…`) and a streaming [`DigestHasher`]
//!   so that callers verify blobs while they move instead of re-reading them.
//! * [`Reference`] — a registry image reference normalised exactly as skopeo and the Docker
//!   CLI do (`alpine` → `docker.io/library/alpine:latest`).
//! * [`media_type`] — the OCI and Docker media type strings and their classification.
//! * [`Manifest`] — a parsed manifest or index that keeps the exact bytes it was parsed from
//!   (principle "exact bytes": the digest of an image is the digest of what the registry
//!   sent, never of a re-serialisation).
//! * [`Verifier`] — the one size-and-digest check every received blob and manifest passes.
//! * [`Platform`] — choosing one manifest out of an index the way skopeo does.
//! * [`nesting`] — the depth bound checked before untrusted YAML reaches its parser.
//! * [`convert`] — Docker v2 schema 2 ⇄ OCI conversion, the only place where a manifest or
//!   config is re-serialised (and where the new digest becomes the truth).
//!
//! The crate deliberately performs no I/O, so it can be tested exhaustively and reused by
//! every transport.

pub mod convert;
mod digest;
mod error;
pub mod local_file;
mod manifest;
pub mod media_type;
pub mod nesting;
mod platform;
mod reference;
mod verify;

pub use digest::{Algorithm, Digest, DigestHasher};
pub use error::Error;
pub use manifest::{descriptor_digest, descriptor_size, Manifest, ManifestKind};
pub use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};
pub use platform::Platform;
pub use reference::{Reference, DEFAULT_REGISTRY};
pub use verify::{Verifier, VerifyError};

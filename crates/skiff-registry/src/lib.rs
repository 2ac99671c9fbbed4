//! # skiff-registry: the OCI Distribution API over HTTP
//!
//! Everything skiff needs from a registry — manifests, blobs, uploads, tags, deletes —
//! with the parts that make real registries work:
//!
//! * **Authentication** learned from `WWW-Authenticate` challenges: Basic, and Bearer
//!   tokens from the registry's token server (anonymous or with credentials), cached per
//!   scope and renewed when they expire mid-transfer ([`challenge`], [`credentials`] for
//!   auth.json files and credential helpers).
//! * **Redirects followed by hand.** Docker Hub answers blob requests with a redirect to
//!   S3-compatible storage, which rejects any request carrying an `Authorization` header
//!   (`400 Missing x-amz-content-sha256`). The client follows redirects itself and sends
//!   registry credentials only to the registry's own origin — the bug that started skiff.
//! * **Retries and resume**: connection failures, 429 and 5xx are retried with backoff,
//!   honouring `Retry-After`; a blob body that breaks resumes with an HTTP `Range` request.
//! * **TLS** with system roots plus per-registry CAs and client certificates
//!   (`/etc/containers/certs.d`), and skopeo's `--tls-verify=false` (unverified TLS, then
//!   plain HTTP).
//! * **registries.conf** resolution of short names, mirrors and blocked registries
//!   ([`registries_conf`]).
//!
//! It knows nothing of files (beyond its configuration), tar, or the command line.

pub mod challenge;
mod client;
pub mod credentials;
mod error;
pub mod registries_conf;
mod retry;
mod tls;

pub use client::{
    same_origin, BlobStream, ClientOptions, ManifestHead, ManifestResponse, RegistryClient,
};
pub use credentials::Credentials;
pub use error::{ConnectKind, RegistryError};

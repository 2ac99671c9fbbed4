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
//! * **Retries and resume**: connection failures that may pass, 429 and 5xx are retried
//!   with backoff, honouring `Retry-After` (up to [`MAX_RETRY_AFTER`]), and announced
//!   through [`ClientOptions::on_retry`]; failures that cannot pass (DNS, certificates,
//!   plain HTTP) are not retried. A blob body that breaks resumes with a `Range` request;
//!   uploads are retried as a whole when their body can be sent again ([`UploadBody`]).
//! * **TLS** with system roots plus per-registry CAs and client certificates
//!   (`/etc/containers/certs.d`), and skopeo's `--tls-verify=false` (unverified TLS, then
//!   plain HTTP).
//! * **registries.conf** for fully qualified names: location rewrites, mirrors, blocked
//!   and insecure registries ([`registries_conf`]); short names are Docker Hub's.
//! * **`--debug`**: every exchange told to [`ClientOptions::on_exchange`], secrets
//!   removed (debug.rs).
//!
//! It knows nothing of files (beyond its configuration), tar, or the command line.

//!
//! Modules, from the endpoints down: [`RegistryClient`] (client.rs) holds the API calls;
//! send.rs sends one request (credentials, redirects, the https → http fallback) and
//! repeats it under the one retry loop of retry.rs, which token fetches (auth.rs) and
//! blob uploads (upload.rs) use too; blob_stream.rs resumes broken downloads; connect.rs names a
//! failed connection ([`ConnectKind`]); response.rs reads answers and error bodies.

mod auth;
mod blob_stream;
pub mod challenge;
mod client;
mod connect;
pub mod credentials;
mod debug;
mod error;
mod exact_trust;
mod no_verify;
mod options;
pub mod registries_conf;
mod response;
mod retry;
mod send;
mod tls;
mod upload;

pub use blob_stream::BlobStream;
pub use client::{ManifestHead, ManifestResponse, RegistryClient, MAX_MANIFEST};
pub use credentials::Credentials;
pub use debug::{send as send_observed, ExchangeHook, ExchangeNotice};
pub use error::{ConnectKind, RegistryError};
pub use exact_trust::{fingerprint_text, FingerprintMismatch};
pub use options::ClientOptions;
pub use retry::{backoff, RetryHook, RetryNotice, MAX_RETRY_AFTER};
pub use send::{same_origin, UploadBody};
pub use tls::{parse_fingerprint, pinned_client_builder};

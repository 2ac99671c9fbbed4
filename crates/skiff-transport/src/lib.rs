//! # skiff-transport: where images live, and the one pipeline that moves them
//!
//! A *transport* is a way of naming and storing images: `docker://` (a registry), `oci:`
//! (an OCI image layout directory), `oci-archive:` (the same, as one tar file — what
//! Proxmox VE's `pct create` consumes), `dir:` (skopeo's directory format). Each transport
//! implements [`ImageSource`] and/or [`ImageDestination`]; [`copy::copy_image`] moves an
//! image from any source to any destination without knowing which transports are involved
//! (the split containers/image makes between transports and its `copy` package).
//!
//! The pipeline's promises, which every destination helps keep:
//! * **Exact bytes** — manifests are stored as received unless a format conversion is
//!   required (Docker → OCI for OCI destinations), and then the new digest is the truth.
//! * **Verify before visible** — every blob is hashed while it streams and checked for size
//!   and digest before it becomes part of the destination.
//! * **Plan first** — all manifests and configs are fetched and verified before any layer
//!   moves, so a destination knows every blob and its size up front. The `oci-archive:`
//!   destination uses that to compute each blob's place in the tar and write layers in
//!   parallel straight into their final offsets: one pass over the data, no temporary
//!   layout that is tarred afterwards. The one exception is re-encoding layers
//!   (`--dest-compress-format`, `--dest-decompress`): a new blob's digest exists only
//!   after encoding, so those layers are encoded into scratch files first and the plan is
//!   rewritten to name them (the `recompress` module).
//! * **Atomic output** — destinations write beside their target and rename on commit;
//!   dropping an uncommitted destination removes what it wrote.
//! * **Streaming** — blobs move in bounded chunks; memory stays flat with image size.
//! * **Bounded decoding** — wherever a layer is decompressed (re-encoding, writing a
//!   `docker-archive:`), `skiff-codec`'s decoder refuses a decompression bomb.
//!
//! Module layering, bottom up (no module imports one above it): the words (`blob`,
//! `error`, `encoding`, `progress`); the file-system primitives (`atomic`: write beside,
//! rename on commit; `lock`: writers of one destination take turns); verification
//! (`verify`, through `skiff_oci::Verifier`); the traits (`source`, `destination`); the
//! choices of a copy (`options`) and the state every destination keeps between `begin`
//! and `commit` (`plan_state`); then the pipeline (`plan`, `pump`, `recompress`, `copy`)
//! and the transports, which know only the traits and the layers below them. `docker://` reads
//! blobs through the host's blob cache (`cached`, over `skiff-cache`) unless told not to.

pub mod atomic;
mod blob;
mod cached;
mod client_pool;
pub mod copy;
mod destination;
mod dir;
mod docker;
pub mod docker_archive;
mod docker_dest;
mod encoding;
mod error;
mod layout;
pub mod lock;
mod name;
mod open;
mod options;
mod plan;
mod plan_state;
pub mod progress;
mod pump;
mod recompress;
mod source;
mod verify;

pub use client_pool::{client_for, ClientPool};
pub use copy::{config_bytes, copy_image, resolve_single, CopyOptions, CopyReport};
pub use destination::{
    BlobSink, Document, DocumentKind, ImageDestination, ManifestFormat, ManifestPolicy, WritePlan,
};
pub use encoding::LayerEncoding;
pub use error::{Place, TransportError};
pub use name::ImageName;
pub use open::{open_destination, open_source, registry_client, OpenOptions};
pub use source::{BlobInfo, BlobStream, ImageSource};

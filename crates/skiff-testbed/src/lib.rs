//! Test support for skiff: real peers to test against, and test images.
//!
//! skiff talks to registries it does not control (Docker Hub, ghcr.io, Quay),
//! so its tests run against the real CNCF distribution registry (Debian's
//! `docker-registry`), set up the ways those registries behave:
//!
//! * [`registry`]: starts `docker-registry` processes, open, with htpasswd
//!   Basic auth, or Docker-Hub-like with a token server and blobs redirected
//!   to an S3-like [`registry::BlobHost`] that rejects `Authorization` headers
//!   exactly as Docker Hub's storage does.
//! * [`fault`]: a proxy in front of a registry that corrupts or cuts blobs and
//!   answers 429 / 503, to test verification, resume and retries.
//! * [`image`]: builds layers and images with exact, deterministic bytes
//!   (including whiteouts, devices, xattrs, hostile entries) and OCI layouts.
//! * [`push`]: uploads those images to a registry over plain HTTP.
//! * [`pve`]: a stand-in for Proxmox VE's `pct`, with the container-config model
//!   (option checks, VMID.conf) that the REST API stand-in shares.
//! * [`pve_api`]: a TLS stand-in of the Proxmox VE REST API (tokens, tasks, template
//!   upload, container create) for skiff's cluster mode.
//! * [`chaos`]: the reliability matrix — every command under every fault, interrupt
//!   and resource limit, judged by skiff's promises.
//!
//! Everything is synchronous (std threads), binds to 127.0.0.1 with port 0
//! and cleans up on drop, so any test can use it in parallel with others.
//! This crate is dev-only: production code never depends on it.

pub mod chaos;
pub mod fault;
pub mod gpg;
pub mod image;
pub mod push;
pub mod pve;
pub mod pve_api;
pub mod registry;
pub mod tree;

mod httpwire;
mod spawn;
mod tinyserve;

pub use fault::{Fault, FaultProxy, RecordedRequest};
pub use image::{
    busybox_image, large_image, multi_arch, write_oci_layout, Blob, Compression, Format, Image,
    ImageBuilder, LayerBuilder, MultiArch,
};
pub use push::{push_blob_raw, push_image, push_multi_arch, put_manifest_raw, Pusher};
pub use registry::{BlobHost, Options, RegistryServer, Setup, Tls, TlsFiles};

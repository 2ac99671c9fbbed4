//! # skiff-rootfs: an image from any Source into a verified root filesystem
//!
//! The unpack end of the pipeline (architecture: `Source ──► unpack ──► rootfs ──► lxc /
//! pct config`), shared by `skiff unpack` and `skiff lxc create`:
//!
//! * [`unpack_image`] resolves the image like a copy does (platform choice, verified
//!   manifest and config), then streams the layers from the [`ImageSource`] straight
//!   into skiff-unpack — no temporary layout, no temporary layer files. Each layer's
//!   compressed bytes are checked by `skiff_oci::Verifier` as they pass; skiff-unpack
//!   checks the uncompressed bytes against the config's diff_ids. The tree is built in a
//!   staging directory beside the target and renamed into place only when every layer
//!   applied and verified (principles 2 and 4).
//! * Dropping the future (Ctrl-C, `--command-timeout`) stops the fetches and the
//!   unpacking threads *first*, then removes the staging tree, and reports a removal
//!   that failed ([`Event::StagingLeft`]) instead of hiding it.
//! * Progress is an event stream ([`Event`], [`Reporter`]); the binary renders it.
//! * [`container`] turns the unpacked image into an LXC container or Proxmox's config
//!   lines (through skiff-lxc).
//!
//! [`ImageSource`]: skiff_transport::ImageSource

pub mod container;
mod error;
mod fetch;
mod progress;
mod staging;
mod unpack;

pub use error::RootfsError;
pub use progress::{Event, Reporter};
pub use unpack::{unpack_image, Unpacked};

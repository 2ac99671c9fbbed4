//! Progress as an event stream: the pipeline reports, the binary renders.
//!
//! Keeping rendering out of the pipeline lets the same copy drive terminal bars, plain
//! log lines, JSON, or nothing, and keeps the library free of terminal concerns.

use skiff_oci::Digest;

/// One thing that happened during a copy.
#[derive(Debug, Clone)]
pub enum Event {
    /// The image to copy has been resolved: how many layers and bytes will move.
    Planned {
        /// Layers that will be transferred.
        layers: usize,
        /// Their total size.
        bytes: u64,
    },
    /// A layer starts moving.
    BlobStarted {
        /// Its digest.
        digest: Digest,
        /// Its size.
        size: u64,
    },
    /// More bytes of a layer arrived.
    BlobProgress {
        /// Its digest.
        digest: Digest,
        /// Bytes added since the previous event for this blob.
        delta: u64,
    },
    /// A layer was already present at the destination.
    BlobSkipped {
        /// Its digest.
        digest: Digest,
        /// Its size.
        size: u64,
    },
    /// A layer's transfer broke off and starts again from its first byte.
    BlobRetrying {
        /// Its digest.
        digest: Digest,
        /// The attempt about to start (2 for the first retry).
        attempt: u32,
        /// How many attempts there are at most.
        of: u32,
        /// Why the previous attempt failed.
        reason: String,
    },
    /// A layer is complete and verified.
    BlobDone {
        /// Its digest.
        digest: Digest,
    },
    /// Manifests are being written and the destination committed.
    Committing,
}

/// Where the pipeline sends its events. Implementations must be cheap: they are called
/// for every chunk.
pub trait Reporter: Send + Sync {
    /// Receives one event.
    fn report(&self, event: Event);
}

/// A reporter that discards everything (`--quiet`).
pub struct Silent;

impl Reporter for Silent {
    fn report(&self, _event: Event) {}
}

//! Progress of an unpack as an event stream (principle 8): the library reports, the
//! binary renders (bars on a terminal, plain lines otherwise, nothing with --quiet).

use std::path::PathBuf;

use skiff_oci::Digest;
use skiff_unpack::UnpackEvent;

/// Something that happened while turning an image into a root filesystem.
#[derive(Debug, Clone)]
pub enum Event {
    /// The image is resolved: how many layers, and their compressed size.
    Resolved {
        /// Layers to fetch and apply.
        layers: usize,
        /// Their total compressed size.
        bytes: u64,
    },
    /// Layer `index` starts arriving from the source.
    FetchStarted {
        /// Position of the layer (0-based).
        index: usize,
        /// Its digest.
        digest: Digest,
        /// Its compressed size.
        size: u64,
    },
    /// More compressed bytes of layer `index` arrived (and were hashed).
    Fetched {
        /// Position of the layer.
        index: usize,
        /// Bytes since the previous event for this layer.
        delta: u64,
    },
    /// The unpacker's own events: layer started, entries and bytes applied, layer done.
    Unpack(UnpackEvent),
    /// The unpack was abandoned and its staging directory could not be removed: the
    /// user must remove it (never hidden: it may hold gigabytes).
    StagingLeft {
        /// The directory left behind.
        path: PathBuf,
        /// Why removing it failed.
        error: String,
    },
}

/// Where the pipeline sends its events; called from several threads, keep it cheap.
pub trait Reporter: Send + Sync {
    /// Receives one event.
    fn report(&self, event: Event);
}

//! The one error type of the crate.
//!
//! Every variant that can be caused by image content names the layer (its digest or
//! whatever name the caller gave it) and, where there is one, the entry path as written in
//! the archive, so that a person can find the offending bytes without a debugger.

use std::io;

use skiff_oci::Digest;

/// Why unpacking failed.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The entry path climbs above the root with `..`; no legitimate layer does that.
    #[error("layer {layer}: entry {entry:?} climbs out of the root with '..'; refused")]
    Traversal { layer: String, entry: String },

    /// Resolving a path met a symlink that cannot be resolved inside the root (a loop,
    /// a magic link) — a hostile or broken layer.
    #[error("layer {layer}: entry {entry:?}: a symlink on its path cannot be resolved inside the root ({reason})")]
    SymlinkEscape {
        layer: String,
        entry: String,
        reason: String,
    },

    /// A hard link whose target is outside the root, is missing, or is not linkable.
    #[error("layer {layer}: hard link {entry:?} -> {target:?} points outside the root or to nothing linkable: {reason}")]
    HardlinkOutside {
        layer: String,
        entry: String,
        target: String,
        reason: String,
    },

    /// A whiteout that names `.`, `..`, nothing, or hides inside a whiteout-named directory.
    #[error("layer {layer}: bad whiteout {entry:?}: {reason}")]
    BadWhiteout {
        layer: String,
        entry: String,
        reason: &'static str,
    },

    /// The layer decompresses to far more than it weighs: a decompression bomb.
    #[error("layer {layer}: decompressed/compressed ratio exceeded {limit} after {decompressed} bytes (a decompression bomb?); if you trust the image, raise the limit with --max-ratio")]
    RatioExceeded {
        layer: String,
        limit: u64,
        decompressed: u64,
    },

    /// The uncompressed layer is larger than `Limits::max_layer_bytes`.
    #[error("layer {layer}: uncompressed size exceeds the limit of {limit} bytes; if you trust the image, raise it with --max-layer-bytes")]
    LayerTooLarge { layer: String, limit: u64 },

    /// The layer has more entries than `Limits::max_entries`.
    #[error("layer {layer}: more than {limit} entries")]
    TooManyEntries { layer: String, limit: u64 },

    /// An entry path or link target longer than `Limits::max_path_len`.
    #[error("layer {layer}: entry {entry:?}: path longer than {limit} bytes")]
    PathTooLong {
        layer: String,
        entry: String,
        limit: usize,
    },

    /// The uncompressed content does not hash to the diff_id the image config promises.
    #[error(
        "layer {layer}: uncompressed content is {actual}, but the image config says {expected}"
    )]
    DiffIdMismatch {
        layer: String,
        expected: Digest,
        actual: Digest,
    },

    /// An owner outside the id map.
    #[error("layer {layer}: entry {entry:?}: {kind} {id} is outside the id map; map it with --uidmap/--gidmap, or use --unprivileged (container ids 0-65535)")]
    IdNotMapped {
        layer: String,
        entry: String,
        kind: &'static str,
        id: u64,
    },

    /// An entry of a kind we cannot represent (or a malformed one).
    #[error("layer {layer}: entry {entry:?}: {what}")]
    Invalid {
        layer: String,
        entry: String,
        what: String,
    },

    /// The tar stream or its compression is corrupt or truncated.
    #[error("layer {layer}: reading the layer failed near entry {entry:?}: {source}")]
    Read {
        layer: String,
        entry: String,
        #[source]
        source: io::Error,
    },

    /// A filesystem operation failed.
    #[error("layer {layer}: entry {entry:?}: {op} failed: {source}")]
    Io {
        layer: String,
        entry: String,
        op: &'static str,
        #[source]
        source: io::Error,
    },

    /// The root directory cannot be opened.
    #[error("cannot open the root filesystem directory {path:?}: {source}")]
    Root {
        path: std::path::PathBuf,
        #[source]
        source: io::Error,
    },

    /// A `--uidmap` / `--gidmap` argument is malformed.
    #[error("invalid id map {spec:?}: {reason}")]
    IdMap { spec: String, reason: &'static str },

    /// The caller cancelled the unpack ([`Cancel`](crate::Cancel)); the writers have
    /// stopped, and the rootfs is partly written.
    #[error("unpacking was cancelled")]
    Cancelled,

    /// A worker thread died; this is a bug.
    #[error("internal error: {0}")]
    Internal(String),
}

impl UnpackError {
    /// The layer name this error is about, when it is about one.
    pub fn layer(&self) -> Option<&str> {
        use UnpackError::*;
        match self {
            Traversal { layer, .. }
            | SymlinkEscape { layer, .. }
            | HardlinkOutside { layer, .. }
            | BadWhiteout { layer, .. }
            | RatioExceeded { layer, .. }
            | LayerTooLarge { layer, .. }
            | TooManyEntries { layer, .. }
            | PathTooLong { layer, .. }
            | DiffIdMismatch { layer, .. }
            | IdNotMapped { layer, .. }
            | Invalid { layer, .. }
            | Read { layer, .. }
            | Io { layer, .. } => Some(layer),
            Root { .. } | IdMap { .. } | Cancelled | Internal(_) => None,
        }
    }
}

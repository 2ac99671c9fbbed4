//! Errors of the transports and the copy pipeline.

use skiff_registry::RegistryError;

/// Why a source could not be read, a destination not written, or a copy not completed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The registry said no (its own message is kept).
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A manifest, config or reference was malformed.
    #[error(transparent)]
    Oci(#[from] skiff_oci::Error),
    /// A file system operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the path.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Content arrived whose digest is not the one it was asked for.
    #[error("digest mismatch for {what}: expected {expected}, got {actual} (the source served wrong content; nothing was kept)")]
    DigestMismatch {
        /// Which blob or manifest.
        what: String,
        /// The digest named by the manifest.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// Content arrived whose size is not the one the manifest names.
    #[error(
        "size mismatch for {what}: expected {expected} bytes, got {actual} (nothing was kept)"
    )]
    SizeMismatch {
        /// Which blob.
        what: String,
        /// The size named by the manifest.
        expected: u64,
        /// What arrived.
        actual: u64,
    },
    /// The image (or the named reference inside a local layout) does not exist.
    #[error("{0}")]
    NotFound(String),
    /// An image name that does not follow TRANSPORT:DETAILS syntax.
    #[error("invalid image name {0:?}: {1}")]
    InvalidName(String, String),
    /// A combination skiff does not (yet) support, said plainly.
    #[error("{0}")]
    Unsupported(String),
    /// A local image whose layout is damaged or not what its format promises.
    #[error("{0}")]
    Corrupt(String),
    /// An invariant of skiff itself broke: a bug to report, not a problem of the image.
    #[error("internal error (a bug in skiff, please report it): {0}")]
    Internal(String),
}

impl TransportError {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        TransportError::Io {
            context: context.into(),
            source,
        }
    }

    /// Whether the image was not found (skopeo's exit status 2).
    pub fn is_not_found(&self) -> bool {
        match self {
            TransportError::NotFound(_) => true,
            TransportError::Registry(e) => e.is_not_found(),
            _ => false,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = TransportError> = std::result::Result<T, E>;

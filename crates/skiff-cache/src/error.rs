//! What can go wrong with the cache.

use std::path::PathBuf;

/// A cache operation that failed. Callers treat these as "no cache" for the blob at hand
/// (a pull never fails because the cache cannot be used), but `skiff cache` reports them.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// A file or directory of the cache could not be read or written.
    #[error("blob cache: {context} {}: {source}", path.display())]
    Io {
        /// What was being done (`creating`, `reading`, …).
        context: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// A blob written to the cache is not what its digest promised.
    #[error("blob cache: {0}")]
    Verify(#[from] skiff_oci::VerifyError),
    /// A size limit that cannot be read (`SKIFF_CACHE_MAX_SIZE`, `--max-size`).
    #[error("invalid cache size {value:?}: {reason} (e.g. 10G, 500M, 2048K or bytes)")]
    InvalidSize {
        /// The value given.
        value: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// No directory could be chosen for the cache.
    #[error("no directory for the blob cache: set SKIFF_CACHE_DIR, XDG_CACHE_HOME or HOME")]
    NoDirectory,
}

impl CacheError {
    pub(crate) fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> CacheError {
        let path = path.into();
        move |source| CacheError::Io {
            context,
            path,
            source,
        }
    }
}

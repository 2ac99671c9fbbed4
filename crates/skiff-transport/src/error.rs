//! Errors of the transports and the copy pipeline.

use skiff_codec::LimitExceeded;
use skiff_oci::VerifyError;
use skiff_registry::RegistryError;

/// Where a missing image was looked for (see [`TransportError::NotFound`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A path on this machine: a layout directory, an archive or a file inside one.
    Local,
    /// A registry.
    Registry,
}

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
    /// Content arrived that is not what its descriptor promised: longer, shorter or with
    /// another digest (checked by [`skiff_oci::Verifier`]).
    #[error("{0} (the source served wrong content; nothing was kept)")]
    Verify(#[from] VerifyError),
    /// Decoding a layer stopped at a decompression-bomb limit ([`skiff_codec::Limits`]).
    #[error("{what}: {limit}; nothing was kept")]
    DecodeLimit {
        /// Which layer, and what was being done with it.
        what: String,
        /// The limit that was exceeded.
        #[source]
        limit: LimitExceeded,
    },
    /// The image (or the named reference inside a local layout) does not exist.
    #[error("{message}")]
    NotFound {
        /// What is missing, said for people.
        message: String,
        /// Where it was looked for: a local path (`oci:`, `oci-archive:`, `dir:`,
        /// `docker-archive:`) or a registry. A missing local file wants another hint
        /// than a missing tag (`list-tags` helps only with the latter).
        place: Place,
    },
    /// An image name that does not follow TRANSPORT:DETAILS syntax.
    #[error("invalid image name {0:?}: {1}")]
    InvalidName(String, String),
    /// A combination skiff does not (yet) support, said plainly.
    #[error("{0}")]
    Unsupported(String),
    /// A local image whose layout is damaged or not what its format promises.
    #[error("{0}")]
    Corrupt(String),
    /// A check the caller put in front of a source (the binary's signature policy) refused
    /// the image, or could not decide, which refuses it too. The pipeline does not know
    /// about trust; it only carries the reason, typed, to the caller's report.
    #[error(transparent)]
    Refused(Box<dyn std::error::Error + Send + Sync>),
    /// An invariant of skiff itself broke: a bug to report, not a problem of the image.
    #[error("internal error (a bug in skiff, please report it): {0}")]
    Internal(String),
}

impl TransportError {
    /// Wraps an I/O error with what was being done. A decoder's limit or a registry's
    /// error carried by it (both travel through readers and sinks as an `io::Error`)
    /// becomes [`TransportError::DecodeLimit`] or [`TransportError::Registry`], so that it
    /// is reported — and retried or not — as what it is.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        let source = match registry_error_inside(source) {
            Ok(e) => return TransportError::Registry(e),
            Err(source) => source,
        };
        match skiff_codec::limit_exceeded(&source) {
            Some(limit) => TransportError::DecodeLimit {
                what: context.into(),
                limit,
            },
            None => TransportError::Io {
                context: context.into(),
                source,
            },
        }
    }

    /// A missing local image, layout file or archive member.
    pub fn local_not_found(message: impl Into<String>) -> Self {
        TransportError::NotFound {
            message: message.into(),
            place: Place::Local,
        }
    }

    /// Whether the image was not found (skopeo's exit status 2).
    pub fn is_not_found(&self) -> bool {
        match self {
            TransportError::NotFound { .. } => true,
            TransportError::Registry(e) => e.is_not_found(),
            _ => false,
        }
    }

    /// Whether the operation may succeed if tried again (see
    /// [`RegistryError::is_transient`]); local failures are not retried.
    pub fn is_transient(&self) -> bool {
        matches!(self, TransportError::Registry(e) if e.is_transient())
    }

    /// Whether what was not found was looked for on this machine (a path of `oci:`,
    /// `oci-archive:`, `dir:` or `docker-archive:`), not in a registry: a hint to list a
    /// registry's tags fits only the latter.
    pub fn is_local_not_found(&self) -> bool {
        matches!(
            self,
            TransportError::NotFound {
                place: Place::Local,
                ..
            }
        )
    }

    /// A broken invariant of skiff (a bug), with what broke.
    pub(crate) fn internal(what: impl Into<String>) -> Self {
        TransportError::Internal(what.into())
    }
}

/// The registry error an `io::Error` carries (a push sink reports its upload's failure
/// that way), or the `io::Error` unchanged.
fn registry_error_inside(source: std::io::Error) -> Result<RegistryError, std::io::Error> {
    if !source.get_ref().is_some_and(|e| e.is::<RegistryError>()) {
        return Err(source);
    }
    let kind = source.kind();
    match source.into_inner().map(|e| e.downcast::<RegistryError>()) {
        Some(Ok(e)) => Ok(*e),
        Some(Err(other)) => Err(std::io::Error::new(kind, other)),
        None => Err(std::io::Error::from(kind)),
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = TransportError> = std::result::Result<T, E>;

//! What can stop a sync before or while it runs.

use std::path::PathBuf;

use skiff_transport::TransportError;

/// A sync error. Failures of single images are not errors of the sync: they are
/// counted in the summary (see [`crate::ImageOutcome`]).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Listing tags, opening a name, or another transport-level failure.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The SOURCE or DESTINATION argument does not fit its `--src` / `--dest` kind.
    #[error("{0}")]
    InvalidArgument(String),
    /// The YAML source could not be read or does not follow skopeo's format.
    #[error("{path}: {message}")]
    Yaml {
        /// The YAML file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A directory source or destination could not be walked or created.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl SyncError {
    /// Whether the failure means "no such image or repository" (skopeo's exit code 2).
    pub fn is_not_found(&self) -> bool {
        matches!(self, SyncError::Transport(e) if e.is_not_found())
    }
}

impl From<skiff_registry::RegistryError> for SyncError {
    fn from(e: skiff_registry::RegistryError) -> Self {
        SyncError::Transport(e.into())
    }
}

impl From<skiff_oci::Error> for SyncError {
    fn from(e: skiff_oci::Error) -> Self {
        SyncError::Transport(e.into())
    }
}

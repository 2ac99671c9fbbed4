//! Why an image could not become a root filesystem or a container.

use std::path::PathBuf;

use skiff_lxc::LxcError;
use skiff_transport::TransportError;
use skiff_unpack::UnpackError;

/// A failed unpack or container creation. The binary adds hints to these.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// Reading the image failed (manifest, config, a layer blob).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The manifest or config is malformed.
    #[error(transparent)]
    Oci(#[from] skiff_oci::Error),
    /// Applying a layer failed (or was cancelled).
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    /// The container config could not be derived or written.
    #[error(transparent)]
    Lxc(#[from] LxcError),
    /// The config's diff_ids do not match the manifest's layers.
    #[error(
        "the image config lists {diff_ids} diff_ids for {layers} layers; the image is corrupt"
    )]
    DiffIdCount {
        /// How many diff_ids the config lists.
        diff_ids: usize,
        /// How many layers the manifest lists.
        layers: usize,
    },
    /// The target exists and has content: an image is never mixed into an existing tree.
    #[error("{} exists and is not empty", .0.display())]
    TargetNotEmpty(PathBuf),
    /// The target exists and is not a directory.
    #[error("{} exists and is not a directory", .0.display())]
    TargetNotDirectory(PathBuf),
    /// The directory the target should be created in does not exist.
    #[error("{} does not exist", .0.display())]
    NoParent(PathBuf),
    /// A container of that name exists already.
    #[error("container {name} already exists in {}", .lxcpath.display())]
    ContainerExists {
        /// The name.
        name: String,
        /// Where containers live.
        lxcpath: PathBuf,
    },
    /// A `--set KEY=VALUE` that is not an `lxc.*` key with a one-line value.
    #[error("--set {0:?}: use KEY=VALUE with an lxc.* key and a one-line value, e.g. lxc.net.0.type=none")]
    BadSetting(String),
    /// A filesystem operation on the target, its staging directory or the config failed.
    #[error("{what} {}: {source}", .path.display())]
    Io {
        /// What was being done ("creating", "renaming into", …).
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// An invariant of skiff broke (a thread vanished): a bug, not bad input.
    #[error("internal error (a bug in skiff): {0}")]
    Internal(String),
}

impl RootfsError {
    /// Wraps a failed filesystem call: `what` was being done on `path`.
    pub(crate) fn io(
        what: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| RootfsError::Io { what, path, source }
    }
}

//! Why a file could not be read, planned or applied.

use std::path::PathBuf;

/// A failed parse, plan or apply. The binary adds hints to these.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The file is not valid: wrong key, wrong type, bad size, duplicate name, … — with
    /// the place it was found, so the user can go straight there.
    #[error("{}:{line}:{column}: {message}", .file.display())]
    File {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong there.
        message: String,
    },
    /// The file could not be read at all.
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The backend cannot honour a key the file sets (never accepted and ignored).
    #[error("container {container}: the {backend} backend cannot honour `{key}`: {why}")]
    Unsupported {
        /// The container.
        container: String,
        /// The backend.
        backend: &'static str,
        /// The key.
        key: &'static str,
        /// Why not, and what would.
        why: String,
    },
    /// A container of that name exists but skiff did not create it: it is never touched.
    #[error("container {0} exists but is not managed by skiff (no `# skiff: managed` marker in its config); it is left alone")]
    Unmanaged(String),
    /// Resolving or unpacking an image failed (the binary's own error, as text).
    #[error("image {image}: {message}")]
    Image {
        /// The image reference.
        image: String,
        /// What went wrong.
        message: String,
    },
    /// An LXC tool failed or could not be run.
    #[error("{command}: {message}")]
    Tool {
        /// The command line, for the user to re-run.
        command: String,
        /// Its stderr or the reason it could not start.
        message: String,
    },
    /// A health command never succeeded.
    #[error("container {container}: health command {command:?} did not succeed within {seconds}s{}", last_output(.output))]
    Unhealthy {
        /// The container.
        container: String,
        /// The command.
        command: String,
        /// How long it was retried.
        seconds: u64,
        /// What its last run printed.
        output: String,
    },
    /// The container config or rootfs could not be derived or written.
    #[error(transparent)]
    Lxc(#[from] skiff_lxc::LxcError),
    /// Proxmox VE (storage.cfg, templates, pct) refused or failed.
    #[error(transparent)]
    Pve(#[from] skiff_pve::PveError),
    /// The Proxmox VE API refused or failed (cluster mode).
    #[error(transparent)]
    Api(#[from] skiff_pve::api::ApiError),
    /// A filesystem operation failed.
    #[error("{what} {}: {source}", .path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

fn last_output(output: &str) -> String {
    let o = output.trim();
    if o.is_empty() {
        String::new()
    } else {
        format!("; last output: {o}")
    }
}

impl ApplyError {
    /// Wraps a failed filesystem call: `what` was being done on `path`.
    pub(crate) fn io(
        what: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| ApplyError::Io { what, path, source }
    }
}

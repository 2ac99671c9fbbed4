//! What a create or replace writes before its commit (a rename): removed when the
//! change fails or its future is dropped by SIGINT/SIGTERM/`--command-timeout`, so an
//! interrupted apply leaves each container as it was, not beside a half-built one.

use std::path::PathBuf;

/// Paths removed on drop unless [`Uncommitted::commit`] was called.
pub(crate) struct Uncommitted {
    paths: Vec<PathBuf>,
}

impl Uncommitted {
    pub(crate) fn new(paths: Vec<PathBuf>) -> Self {
        Uncommitted { paths }
    }

    /// The change is in place: keep everything.
    pub(crate) fn commit(mut self) {
        self.paths.clear();
    }
}

impl Drop for Uncommitted {
    fn drop(&mut self) {
        // Best effort: what cannot be removed now is a leftover the next apply removes.
        for path in &self.paths {
            let _ = match std::fs::symlink_metadata(path) {
                Ok(md) if md.is_dir() => std::fs::remove_dir_all(path),
                Ok(_) => std::fs::remove_file(path),
                Err(_) => Ok(()),
            };
        }
    }
}

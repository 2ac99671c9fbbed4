//! The paths a layer has created so far ("upper" paths, in umoci's words).
//!
//! layer.md: a whiteout hides lower layers' content only — what the same layer creates
//! survives, wherever the whiteout sits in the archive — and a lower directory's mtime is
//! restored only when the layer did not create that directory itself.

use std::collections::HashSet;

use crate::path::CleanPath;

/// Paths this layer created, and their ancestors.
#[derive(Default)]
pub(crate) struct Upper(HashSet<Vec<u8>>);

impl Upper {
    /// Records `path` and its ancestors (stopping at the first already known).
    pub(crate) fn mark(&mut self, path: &CleanPath) {
        let mut p = Some(path.clone());
        while let Some(cur) = p {
            if !self.0.insert(cur.as_bytes().to_vec()) {
                break;
            }
            p = cur.parent();
        }
    }

    /// Whether the layer created `path` (or something below it).
    pub(crate) fn contains(&self, path: &[u8]) -> bool {
        self.0.contains(path)
    }
}

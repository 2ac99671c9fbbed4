//! Directory modes and mtimes, applied when a layer ends.
//!
//! Creating or removing anything in a directory bumps its mtime, and a read-only
//! directory mode would stop its own contents from being written (rootless). So a
//! directory entry's mode and mtime are recorded here and applied after the layer's
//! last entry, when the writers are done. A lower-layer directory that the layer only
//! passed through (it created or removed something inside) gets its original mtime back,
//! as umoci does: the layer did not ask for a new one.

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use rustix::fs::{self as rfs, FileType, Mode};

use crate::metadata::{self, timestamps};
use crate::path::CleanPath;
use crate::root::{self, Dirs};

/// A failure at the end of a layer: the directory, the operation, and why.
pub(crate) type DirTimeError = (String, &'static str, io::Error);

/// What the layer end will do to directories.
#[derive(Default)]
pub(crate) struct DirTimes {
    /// Directory entries of this layer: mode and mtime.
    entries: HashMap<Vec<u8>, (u32, (i64, u32))>,
    /// Lower-layer directories whose contents changed, with their mtime before.
    restore: HashMap<Vec<u8>, (i64, u32)>,
}

impl DirTimes {
    /// A directory entry of the layer (the root directory is the empty path).
    pub(crate) fn entry(&mut self, path: &[u8], mode: u32, mtime: (i64, u32)) {
        self.entries.insert(path.to_vec(), (mode, mtime));
    }

    /// A lower-layer directory (open at `fd`) whose contents the layer is about to
    /// change: its mtime now is what the layer end restores. Only the first note counts.
    pub(crate) fn note_lower(&mut self, dir: &CleanPath, fd: BorrowedFd<'_>) {
        if self.restore.contains_key(dir.as_bytes()) {
            return;
        }
        if let Ok(st) = rfs::fstat(fd) {
            self.restore.insert(
                dir.as_bytes().to_vec(),
                (st.st_mtime, st.st_mtime_nsec as u32),
            );
        }
    }

    /// Applies the recorded modes and mtimes; call once the layer's contents are written.
    /// A path that is no longer a directory (replaced later in the layer) is skipped.
    pub(crate) fn apply(self, dirs: &mut Dirs<'_>) -> Result<(), DirTimeError> {
        dirs.invalidate();
        let entries: HashSet<&[u8]> = self.entries.keys().map(Vec::as_slice).collect();
        let restores = self
            .restore
            .iter()
            .filter(|(p, _)| !entries.contains(p.as_slice()))
            .map(|(p, t)| (p.as_slice(), None, *t));
        let todo = self
            .entries
            .iter()
            .map(|(p, (mode, t))| (p.as_slice(), Some(*mode), *t))
            .chain(restores);
        for (path, mode, mtime) in todo {
            let fail = |(op, e): metadata::OpError| (display(path), op, e);
            let path = CleanPath::new(path).unwrap_or_default();
            if path.is_root() {
                let root = dirs.root_fd();
                if let Some(mode) = mode {
                    rfs::fchmod(root, Mode::from_raw_mode(mode))
                        .map_err(|e| fail(("chmod", e.into())))?;
                }
                rfs::futimens(root, &timestamps(mtime))
                    .map_err(|e| fail(("set mtime", e.into())))?;
                continue;
            }
            let parent = path.parent().unwrap_or_default();
            let Some((fd, _)) = dirs
                .open_existing(&parent)
                .map_err(|e| fail(("open directory", e)))?
            else {
                continue;
            };
            let (fd, name) = (fd.as_fd(), path.split().1);
            if root::lstat_type(fd, name).map_err(|e| fail(("stat", e)))?
                != Some(FileType::Directory)
            {
                continue;
            }
            if let Some(mode) = mode {
                metadata::chmod_at(fd, name, mode).map_err(fail)?;
            }
            metadata::set_mtime_at(fd, name, mtime).map_err(fail)?;
        }
        Ok(())
    }
}

fn display(path: &[u8]) -> String {
    if path.is_empty() {
        "/".into()
    } else {
        String::from_utf8_lossy(path).into_owned()
    }
}

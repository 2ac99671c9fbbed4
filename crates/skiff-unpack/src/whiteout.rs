//! Whiteouts: `.wh.NAME` removes NAME, `.wh..wh..opq` empties its directory — of
//! lower-layer content only. Whatever this layer already put there stays ([`Upper`]);
//! whatever it puts there later is created afterwards. Every removal goes through
//! [`root`](crate::root)'s no-follow calls.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use rustix::fs::FileType;

use crate::dir_times::DirTimes;
use crate::path::CleanPath;
use crate::root::{self, Dirs};
use crate::upper::Upper;

/// Why a whiteout could not be applied.
pub(crate) enum WhiteoutError {
    /// The parent directory did not resolve inside the root.
    Resolve(io::Error),
    /// A filesystem operation failed.
    Io(&'static str, io::Error),
}

fn op(name: &'static str) -> impl Fn(io::Error) -> WhiteoutError {
    move |e| WhiteoutError::Io(name, e)
}

/// Applies the whiteout at `path` (for `.wh.NAME` the path of NAME, for an opaque
/// whiteout the directory's). The directory it changes, if it is a lower one, is noted
/// in `times` so that its mtime is restored at the layer end.
pub(crate) fn apply(
    dirs: &mut Dirs<'_>,
    upper: &Upper,
    times: &mut DirTimes,
    path: &CleanPath,
    opaque: bool,
) -> Result<(), WhiteoutError> {
    // The directory holding the whited-out name (for an opaque whiteout: holding the
    // directory to empty); if it does not exist there is nothing to hide.
    let parent = path.parent().unwrap_or_default();
    let Some((pfd, miss)) = dirs
        .open_existing(&parent)
        .map_err(WhiteoutError::Resolve)?
    else {
        return Ok(());
    };
    if miss && !upper.contains(parent.as_bytes()) {
        times.note_lower(&parent, pfd.as_fd());
    }
    dirs.invalidate();
    if opaque && path.is_root() {
        return empty_lower(upper, dirs.root_fd(), b"", path);
    }
    let pfd = pfd.as_fd();
    let name = path.split().1;
    let Some(ty) = root::lstat_type(pfd, name).map_err(op("stat"))? else {
        return Ok(());
    };
    if opaque {
        if ty == FileType::Directory {
            empty_lower(upper, pfd, name, path)?;
        }
        return Ok(());
    }
    if !upper.contains(path.as_bytes()) {
        return root::remove_any(pfd, name).map_err(op("remove (whiteout)"));
    }
    if ty == FileType::Directory {
        empty_lower(upper, pfd, name, path)?;
    }
    Ok(())
}

/// Removes the lower-layer children of `dir/name` (whose path is `path`), recursing
/// into children this layer created.
fn empty_lower(
    upper: &Upper,
    dir: BorrowedFd<'_>,
    name: &[u8],
    path: &CleanPath,
) -> Result<(), WhiteoutError> {
    let fd = root::open_dir_nofollow(dir, name).map_err(op("open directory (whiteout)"))?;
    for (child, ty) in root::list_dir(fd.as_fd()).map_err(op("read directory (whiteout)"))? {
        let cpath = path.join(&child);
        if !upper.contains(cpath.as_bytes()) {
            root::remove_any(fd.as_fd(), &child).map_err(op("remove (whiteout)"))?;
        } else if ty == FileType::Directory {
            empty_lower(upper, fd.as_fd(), &child, &cpath)?;
        }
    }
    Ok(())
}

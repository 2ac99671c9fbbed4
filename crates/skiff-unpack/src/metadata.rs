//! Owner, mode, xattrs and times of what the applier creates — the order of these calls
//! matters, and it is written down once here.
//!
//! * owner before mode: `chown` clears setuid/setgid (and file capabilities), so the
//!   mode is set after it;
//! * a regular file's metadata after its content: writing can clear setuid/setgid too;
//! * a directory's mode and mtime at the end of the layer (see [`dir_times`]): creating
//!   its contents would bump the mtime, and a read-only mode would stop them being written.
//!
//! [`dir_times`]: crate::dir_times

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use rustix::fs::{self as rfs, AtFlags, Mode, Timespec, Timestamps, XattrFlags};
use rustix::io::Errno;

use crate::root;
use crate::warnings::Warnings;

/// Extended attributes as (name, value) pairs, already shifted by the id map.
pub(crate) type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// A failed metadata call: which operation, and why.
pub(crate) type OpError = (&'static str, io::Error);

/// Metadata to put on a regular file after its content.
pub(crate) struct FileMeta {
    pub(crate) owner: Option<(u32, u32)>,
    pub(crate) mode: u32,
    pub(crate) xattrs: Xattrs,
    pub(crate) mtime: (i64, u32),
}

/// Access and modification time both set to `mtime` (as umoci and tar do).
pub(crate) fn timestamps((sec, nsec): (i64, u32)) -> Timestamps {
    let t = Timespec {
        tv_sec: sec,
        tv_nsec: nsec as _,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// Sets a written file's owner, mode, xattrs and mtime through its fd. Runs on the
/// writer that wrote the file's last piece.
pub(crate) fn finish_file(
    file: &File,
    meta: &FileMeta,
    warnings: &Warnings,
) -> Result<(), OpError> {
    if let Some(owner) = meta.owner {
        fchown(file.as_fd(), owner)?;
    }
    rfs::fchmod(file, Mode::from_raw_mode(meta.mode)).map_err(|e| ("chmod", e.into()))?;
    set_xattrs_fd(file.as_fd(), &meta.xattrs, warnings)?;
    rfs::futimens(file, &timestamps(meta.mtime)).map_err(|e| ("set mtime", e.into()))
}

/// Changes the owner of an open file or directory.
pub(crate) fn fchown(fd: BorrowedFd<'_>, (u, g): (u32, u32)) -> Result<(), OpError> {
    rfs::fchown(fd, Some(rfs::Uid::from_raw(u)), Some(rfs::Gid::from_raw(g)))
        .map_err(|e| ("chown", e.into()))
}

/// Sets xattrs through an fd we opened (a file we wrote, the root directory).
pub(crate) fn set_xattrs_fd(
    fd: BorrowedFd<'_>,
    xattrs: &Xattrs,
    warnings: &Warnings,
) -> Result<(), OpError> {
    for (k, v) in xattrs {
        if let Err(e) = rfs::fsetxattr(fd, k.as_slice(), v, XattrFlags::empty()) {
            xattr_failed(k, e, warnings).map_err(|e| ("setxattr", e))?;
        }
    }
    Ok(())
}

/// Sets xattrs on `dir/name` without following it (symlinks, FIFOs and devices cannot
/// be opened to use an fd).
pub(crate) fn set_xattrs_at(
    dir: BorrowedFd<'_>,
    name: &[u8],
    xattrs: &Xattrs,
    warnings: &Warnings,
) -> Result<(), OpError> {
    if xattrs.is_empty() {
        return Ok(());
    }
    let p = root::proc_path(dir, name).map_err(|e| ("setxattr", e))?;
    for (k, v) in xattrs {
        if let Err(e) = rfs::lsetxattr(p.as_c_str(), k.as_slice(), v, XattrFlags::empty()) {
            xattr_failed(k, e, warnings).map_err(|e| ("setxattr", e))?;
        }
    }
    Ok(())
}

/// Removes every xattr of `dir/name`: a directory entry over an existing directory
/// replaces its metadata, xattrs included (umoci clears them too).
pub(crate) fn clear_xattrs_at(dir: BorrowedFd<'_>, name: &[u8]) -> Result<(), OpError> {
    let p = root::proc_path(dir, name).map_err(|e| ("listxattr", e))?;
    let mut buf = vec![0u8; 64 << 10];
    let n = match rfs::llistxattr(p.as_c_str(), &mut buf) {
        Ok(n) => n,
        Err(Errno::OPNOTSUPP) => return Ok(()),
        Err(e) => return Err(("listxattr", e.into())),
    };
    for key in buf[..n].split(|&b| b == 0).filter(|k| !k.is_empty()) {
        match rfs::lremovexattr(p.as_c_str(), key) {
            Ok(()) | Err(Errno::NODATA) | Err(Errno::OPNOTSUPP) | Err(Errno::PERM) => {}
            Err(e) => return Err(("removexattr", e.into())),
        }
    }
    Ok(())
}

/// Sets the mtime of `dir/name` without following it.
pub(crate) fn set_mtime_at(
    dir: BorrowedFd<'_>,
    name: &[u8],
    mtime: (i64, u32),
) -> Result<(), OpError> {
    rfs::utimensat(dir, name, &timestamps(mtime), AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| ("set mtime", e.into()))
}

/// Sets the mode of `dir/name` (never a symlink: chmod has no no-follow variant).
pub(crate) fn chmod_at(dir: BorrowedFd<'_>, name: &[u8], mode: u32) -> Result<(), OpError> {
    rfs::chmodat(dir, name, Mode::from_raw_mode(mode), AtFlags::empty())
        .map_err(|e| ("chmod", e.into()))
}

/// Xattrs the filesystem cannot hold are a warning (once per name), not a failure:
/// tmpfs refuses `user.*`, some filesystems have no `security.*` support.
fn xattr_failed(name: &[u8], e: Errno, warnings: &Warnings) -> io::Result<()> {
    if matches!(e, Errno::OPNOTSUPP | Errno::PERM | Errno::ACCESS) {
        warnings.once_dynamic(
            format!("xattr:{}", String::from_utf8_lossy(name)),
            format!(
                "extended attribute {:?} could not be set here ({e}); skipped",
                String::from_utf8_lossy(name)
            ),
        );
        Ok(())
    } else {
        Err(e.into())
    }
}

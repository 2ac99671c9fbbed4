//! The root filesystem handle and every path operation on it.
//!
//! Principle 6 of the architecture: never follow an image's symlink while writing. The
//! scheme here:
//!
//! * the *parent directory* of an entry is opened with `openat2(root, parent,
//!   RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`. The kernel then resolves every symlink on
//!   the way as if `root` were `/` — `etc -> /` followed by `etc/passwd` lands in
//!   `ROOT/passwd`, `x -> ../../..` stays at `ROOT` — and refuses `/proc` magic links;
//! * the *final component* is only ever touched through `*at` calls on that parent fd
//!   that do not follow it (`O_NOFOLLOW`, `AT_SYMLINK_NOFOLLOW`, `linkat` without
//!   `AT_SYMLINK_FOLLOW`, `unlinkat`, `mknodat`, `symlinkat`), or through an fd we opened
//!   ourselves on a file we just created.
//!
//! We use rustix's `openat2` directly rather than `pathrs`: pathrs resolves a whole path
//! per call and offers no hook to give implicitly created parents the mapped root owner,
//! nor a way to keep parent fds between entries, and its `*at`-style final-component
//! operations do not cover chown/utimens/xattrs. The resolution itself is the same kernel
//! primitive pathrs uses on any kernel ≥ 5.6 (Proxmox VE 9 ships 6.x).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::path::CleanPath;
use crate::UnpackError;

/// An open root filesystem directory. All writes of the crate go through it.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

impl Root {
    /// Opens an existing directory as the root to unpack into.
    pub fn open(path: &Path) -> Result<Root, UnpackError> {
        let fd = rfs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| UnpackError::Root {
            path: path.to_path_buf(),
            source: e.into(),
        })?;
        Ok(Root {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The path the root was opened with (for messages only; never used to write).
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

const RESOLVE: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);
const DIR_PATH: OFlags = OFlags::PATH.union(OFlags::DIRECTORY).union(OFlags::CLOEXEC);
/// Symlink hops allowed while creating parents through dangling symlinks (Linux's own limit).
const MAX_HOPS: u32 = 40;
const CACHE: usize = 16;

/// Opens directory `path` (relative, cleaned) in the root, following symlinks inside the
/// root only.
fn open_in_root(root: BorrowedFd<'_>, path: &[u8]) -> io::Result<OwnedFd> {
    open_in_root_with(root, path, DIR_PATH)
}

/// Opens `path` (relative, cleaned) in the root with `flags`, following symlinks inside
/// the root only.
pub(crate) fn open_in_root_with(
    root: BorrowedFd<'_>,
    path: &[u8],
    flags: OFlags,
) -> io::Result<OwnedFd> {
    let path: &[u8] = if path.is_empty() { b"." } else { path };
    let mut tries = 0;
    loop {
        match rfs::openat2(root, path, flags | OFlags::CLOEXEC, Mode::empty(), RESOLVE) {
            // EAGAIN: a concurrent rename raced the lookup; the kernel asks us to retry.
            Err(Errno::AGAIN) if tries < 16 => tries += 1,
            r => return r.map_err(Into::into),
        }
    }
}

/// Opens parent directories inside the root, creating missing ones, and remembers the
/// last few (tar streams list a directory's entries together, so most lookups hit).
pub(crate) struct Dirs<'r> {
    root: &'r Root,
    cache: Vec<(CleanPath, Arc<OwnedFd>)>,
    /// Owner for implicitly created parents (the mapped root); None when rootless.
    implicit_owner: Option<(u32, u32)>,
}

impl<'r> Dirs<'r> {
    pub(crate) fn new(root: &'r Root, implicit_owner: Option<(u32, u32)>) -> Self {
        Dirs {
            root,
            cache: Vec::with_capacity(CACHE),
            implicit_owner,
        }
    }

    /// The root directory itself (opened for reading, so fchown/fchmod work on it).
    pub(crate) fn root_fd(&self) -> BorrowedFd<'r> {
        self.root.fd()
    }

    /// Forgets cached fds: after anything is removed or replaced a cached fd may point to
    /// a directory no longer reachable from the root.
    pub(crate) fn invalidate(&mut self) {
        self.cache.clear();
    }

    fn cached(&mut self, dir: &CleanPath) -> Option<Arc<OwnedFd>> {
        let i = self.cache.iter().position(|(p, _)| p == dir)?;
        let hit = self.cache.remove(i);
        let fd = hit.1.clone();
        self.cache.push(hit);
        Some(fd)
    }

    fn remember(&mut self, dir: &CleanPath, fd: OwnedFd) -> Arc<OwnedFd> {
        if self.cache.len() >= CACHE {
            self.cache.remove(0);
        }
        let fd = Arc::new(fd);
        self.cache.push((dir.clone(), fd.clone()));
        fd
    }

    /// Opens an existing directory; `Ok(None)` when it (or a component) does not exist or
    /// is not a directory. Returns whether the fd came fresh from the kernel (a miss).
    pub(crate) fn open_existing(
        &mut self,
        dir: &CleanPath,
    ) -> io::Result<Option<(Arc<OwnedFd>, bool)>> {
        if let Some(fd) = self.cached(dir) {
            return Ok(Some((fd, false)));
        }
        match open_in_root(self.root.fd(), dir.as_bytes()) {
            Ok(fd) => Ok(Some((self.remember(dir, fd), true))),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Opens a directory, creating missing components (0755, owned by the mapped root).
    /// Returns the fd and whether it was a cache miss.
    pub(crate) fn open_or_create(&mut self, dir: &CleanPath) -> io::Result<(Arc<OwnedFd>, bool)> {
        if let Some(fd) = self.cached(dir) {
            return Ok((fd, false));
        }
        let fd = match open_in_root(self.root.fd(), dir.as_bytes()) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => self.create_walk(dir.clone(), 0)?,
            Err(e) => return Err(e),
        };
        Ok((self.remember(dir, fd), true))
    }

    /// Component-wise creation. A component that exists but does not resolve is a
    /// dangling symlink; like umoci (SecureJoin + MkdirAll) we create its target, still
    /// inside the root.
    fn create_walk(&mut self, dir: CleanPath, hops: u32) -> io::Result<OwnedFd> {
        let root = self.root.fd();
        let comps: Vec<Vec<u8>> = dir.components().map(<[u8]>::to_vec).collect();
        let mut cur = rfs::openat(root, ".", DIR_PATH, Mode::empty())?;
        let mut prefix = CleanPath::default();
        for (i, comp) in comps.iter().enumerate() {
            let next = prefix.join(comp);
            match open_in_root(root, next.as_bytes()) {
                Ok(fd) => cur = fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    match rfs::mkdirat(&cur, comp.as_slice(), Mode::from_raw_mode(0o755)) {
                        Ok(()) => {
                            if let Some((u, g)) = self.implicit_owner {
                                chown_at(cur.as_fd(), comp, u, g)?;
                            }
                            rfs::chmodat(
                                &cur,
                                comp.as_slice(),
                                Mode::from_raw_mode(0o755),
                                AtFlags::empty(),
                            )?;
                            cur = rfs::openat(
                                &cur,
                                comp.as_slice(),
                                DIR_PATH | OFlags::NOFOLLOW,
                                Mode::empty(),
                            )?;
                        }
                        Err(Errno::EXIST) => {
                            if hops >= MAX_HOPS {
                                return Err(Errno::LOOP.into());
                            }
                            let target = rfs::readlinkat(&cur, comp.as_slice(), Vec::new())?;
                            let target = target.as_bytes();
                            let mut raw = Vec::new();
                            if !target.starts_with(b"/") {
                                raw.extend_from_slice(prefix.as_bytes());
                                raw.push(b'/');
                            }
                            raw.extend_from_slice(target);
                            for rest in &comps[i + 1..] {
                                raw.push(b'/');
                                raw.extend_from_slice(rest);
                            }
                            // `..` in a symlink target is clamped at the root, as the
                            // kernel does under RESOLVE_IN_ROOT.
                            let next = clean_clamped(&raw);
                            return self.create_walk(next, hops + 1);
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(e) => return Err(e),
            }
            prefix = next;
        }
        Ok(cur)
    }
}

/// Lexical cleaning where `..` at the root stays at the root.
fn clean_clamped(raw: &[u8]) -> CleanPath {
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    // Cannot climb out: every `..` was clamped.
    CleanPath::new(&parts.join(&b'/')).unwrap_or_default()
}

pub(crate) fn chown_at(dir: BorrowedFd<'_>, name: &[u8], uid: u32, gid: u32) -> io::Result<()> {
    rfs::chownat(
        dir,
        name,
        Some(rfs::Uid::from_raw(uid)),
        Some(rfs::Gid::from_raw(gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(Into::into)
}

/// The type of `name` in `dir`, without following it; None if absent.
pub(crate) fn lstat_type(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<Option<FileType>> {
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(FileType::from_raw_mode(st.st_mode))),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Creates the regular file `dir/name` for writing (mode 0600 until its metadata is
/// set); whatever is already there (a lower layer's file, link or directory) is removed
/// first, never followed. Returns the file and whether something was replaced.
pub(crate) fn create_file(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<(OwnedFd, bool)> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let open = || rfs::openat(dir, name, flags, Mode::from_raw_mode(0o600));
    match open() {
        Ok(fd) => Ok((fd, false)),
        Err(Errno::EXIST) => {
            remove_any(dir, name)?;
            Ok((open()?, true))
        }
        Err(e) => Err(e.into()),
    }
}

/// Removes `name` from `dir` whatever it is, recursively, never following symlinks.
pub(crate) fn remove_any(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    match rfs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(Errno::ISDIR) | Err(Errno::PERM) => remove_tree(dir, name),
        Err(e) => Err(e.into()),
    }
}

/// Removes a directory and its contents.
pub(crate) fn remove_tree(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    empty_dir(dir, name, &mut |_| true)?;
    match rfs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Opens `name` in `dir` for reading its entries, refusing to follow a symlink.
pub(crate) fn open_dir_nofollow(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<OwnedFd> {
    let name: &[u8] = if name.is_empty() { b"." } else { name };
    rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(Into::into)
}

/// The names in a directory (without `.` and `..`) with their types.
pub(crate) fn list_dir(fd: BorrowedFd<'_>) -> io::Result<Vec<(Vec<u8>, FileType)>> {
    let mut out = Vec::new();
    let mut d = rfs::Dir::read_from(fd)?;
    while let Some(ent) = d.read() {
        let ent = ent?;
        let n = ent.file_name().to_bytes();
        if n == b"." || n == b".." {
            continue;
        }
        out.push((n.to_vec(), ent.file_type()));
    }
    Ok(out)
}

/// Removes every child of `dir/name` for which `remove(child)` says so (children it
/// keeps are left alone, with their contents).
pub(crate) fn empty_dir(
    dir: BorrowedFd<'_>,
    name: &[u8],
    remove: &mut dyn FnMut(&[u8]) -> bool,
) -> io::Result<()> {
    let fd = match open_dir_nofollow(dir, name) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    for (child, ty) in list_dir(fd.as_fd())? {
        if !remove(&child) {
            continue;
        }
        if ty == FileType::Directory {
            remove_tree(fd.as_fd(), &child)?;
        } else {
            remove_any(fd.as_fd(), &child)?;
        }
    }
    Ok(())
}

/// `/proc/self/fd/N/name`: the final component is then resolved by the caller's
/// l*-syscall (lsetxattr, …) without following it, and N is a directory fd we resolved
/// ourselves inside the root. Needed because Linux has no fd-relative xattr call for
/// files we cannot open (FIFOs, devices, symlinks) before 6.13.
pub(crate) fn proc_path(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<CString> {
    let mut p = format!("/proc/self/fd/{}", dir.as_raw_fd()).into_bytes();
    if !name.is_empty() {
        p.push(b'/');
        p.extend_from_slice(name);
    }
    CString::new(p).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

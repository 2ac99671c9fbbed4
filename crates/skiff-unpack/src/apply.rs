//! Applying parsed entries to the root, one layer at a time, on the calling thread.
//!
//! Entries are taken in archive order, and every namespace change (create, remove,
//! link) is made here — except the creation of small regular files, which the writer
//! pool does along with their content and metadata: for an image of many small files,
//! creating inodes is most of the kernel's work, and it would otherwise all fall on
//! this one thread. Ordering stays right because such a file is handed over only when
//! nothing earlier in the layer touched its path, and any later entry that depends on a
//! queued file (at its path or under it, a hard link to it, a whiteout, a replacement)
//! first waits for the writers. Large files are created here and their content handed
//! over in pieces: a later entry that replaces the path unlinks the name, and a worker
//! still writing the old inode writes into an orphan, which is harmless; a hard link
//! made before the worker finishes shares the inode, so it sees the final content and
//! metadata.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use bytes::Bytes;
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, Timespec, Timestamps, XattrFlags};
use rustix::io::Errno;

use crate::entry::{EntryMeta, Kind};
use crate::path::CleanPath;
use crate::pipeline::Warnings;
use crate::root::{self, Dirs, Root};
use crate::writers::{FileJob, FileTarget, NewFile, Pool};
use crate::xattr::{self, ShiftError};
use crate::{UnpackError, UnpackOptions};

/// Extended attributes as (name, value) pairs.
pub(crate) type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// Metadata to put on a regular file after its content (order matters: chown clears
/// setuid/setgid and file capabilities, writing can clear them too).
pub(crate) struct FileMeta {
    pub(crate) owner: Option<(u32, u32)>,
    pub(crate) mode: u32,
    pub(crate) xattrs: Xattrs,
    pub(crate) mtime: (i64, u32),
}

fn ts((sec, nsec): (i64, u32)) -> Timestamps {
    let t = Timespec {
        tv_sec: sec,
        tv_nsec: nsec as _,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// Sets a written file's owner, mode, xattrs and mtime through its fd (owner before mode:
/// chown clears setuid/setgid). Runs on the worker that wrote the file's last piece.
pub(crate) fn finish_file(
    file: &File,
    meta: &FileMeta,
    warnings: &Warnings,
) -> Result<(), (&'static str, io::Error)> {
    if let Some((u, g)) = meta.owner {
        rfs::fchown(
            file,
            Some(rfs::Uid::from_raw(u)),
            Some(rfs::Gid::from_raw(g)),
        )
        .map_err(|e| ("chown", e.into()))?;
    }
    rfs::fchmod(file, Mode::from_raw_mode(meta.mode)).map_err(|e| ("chmod", e.into()))?;
    for (k, v) in &meta.xattrs {
        if let Err(e) = rfs::fsetxattr(file, k.as_slice(), v, XattrFlags::empty()) {
            xattr_failed(k, e, warnings).map_err(|e| ("setxattr", e))?;
        }
    }
    rfs::futimens(file, &ts(meta.mtime)).map_err(|e| ("set mtime", e.into()))
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

/// Counters for one layer.
#[derive(Debug, Default, Clone)]
pub struct LayerCounts {
    pub entries: u64,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    pub devices: u64,
    pub fifos: u64,
    pub whiteouts: u64,
    pub file_bytes: u64,
}

struct DirMeta {
    mode: u32,
    mtime: (i64, u32),
}

/// State of one layer being applied.
pub(crate) struct LayerApply<'a> {
    layer: &'a str,
    opts: &'a UnpackOptions,
    dirs: Dirs<'a>,
    /// Paths this layer created, and their ancestors: whiteouts never remove them
    /// (layer.md: a whiteout only hides lower layers' content).
    upper: HashSet<Vec<u8>>,
    /// Paths of small files handed to the writers to create, since they last finished.
    pending: HashSet<Vec<u8>>,
    /// Directory entries: mode and mtime applied at layer end, after their contents.
    dir_meta: HashMap<Vec<u8>, DirMeta>,
    /// Lower-layer directories whose contents changed: their mtime is restored at the
    /// end (as umoci does), since the layer did not ask for a new one.
    touched: HashMap<Vec<u8>, (i64, u32)>,
    pool: &'a Pool<'a>,
    warnings: &'a Warnings,
    pub(crate) counts: LayerCounts,
}

impl<'a> LayerApply<'a> {
    pub(crate) fn new(
        root: &'a Root,
        layer: &'a str,
        opts: &'a UnpackOptions,
        pool: &'a Pool<'a>,
        warnings: &'a Warnings,
    ) -> Result<Self, UnpackError> {
        let implicit_owner = if opts.rootless {
            None
        } else {
            let u = opts.id_map.uid(0);
            let g = opts.id_map.gid(0);
            match (u, g) {
                (Some(u), Some(g)) => Some((u, g)),
                _ => {
                    warnings.once("implicit-owner", "the id map has no container root; implicit parent directories keep the unpacking user as owner".into());
                    None
                }
            }
        };
        Ok(LayerApply {
            layer,
            opts,
            dirs: Dirs::new(root, implicit_owner),
            upper: HashSet::new(),
            pending: HashSet::new(),
            dir_meta: HashMap::new(),
            touched: HashMap::new(),
            pool,
            warnings,
            counts: LayerCounts::default(),
        })
    }

    fn io(&self, e: &EntryMeta, op: &'static str) -> impl Fn(io::Error) -> UnpackError + '_ {
        let entry = e.raw.clone();
        move |source| UnpackError::Io {
            layer: self.layer.to_string(),
            entry: entry.clone(),
            op,
            source,
        }
    }

    fn owner(&self, e: &EntryMeta) -> Result<Option<(u32, u32)>, UnpackError> {
        let unmapped = |kind, id| UnpackError::IdNotMapped {
            layer: self.layer.into(),
            entry: e.raw.clone(),
            kind,
            id,
        };
        let u = self
            .opts
            .id_map
            .uid(e.uid)
            .ok_or_else(|| unmapped("uid", e.uid))?;
        let g = self
            .opts
            .id_map
            .gid(e.gid)
            .ok_or_else(|| unmapped("gid", e.gid))?;
        if self.opts.rootless {
            self.warnings.once(
                "chown",
                "running without root: file owners from the image are not applied".into(),
            );
            return Ok(None);
        }
        Ok(Some((u, g)))
    }

    fn xattrs(&self, e: &EntryMeta) -> Result<Xattrs, UnpackError> {
        e.xattrs
            .iter()
            .map(|(k, v)| match xattr::shift(k, v, &self.opts.id_map) {
                Ok(v) => Ok((k.clone(), v)),
                Err(ShiftError::Unmapped { kind, id }) => Err(UnpackError::IdNotMapped {
                    layer: self.layer.into(),
                    entry: e.raw.clone(),
                    kind,
                    id,
                }),
                Err(ShiftError::Malformed(what)) => Err(UnpackError::Invalid {
                    layer: self.layer.into(),
                    entry: e.raw.clone(),
                    what: format!("xattr {}: {what}", String::from_utf8_lossy(k)),
                }),
            })
            .collect()
    }

    /// Opens the parent of `path`, creating it if needed, and records the original
    /// mtime of a lower-layer parent the first time it is touched.
    fn parent(&mut self, e: &EntryMeta, path: &CleanPath) -> Result<Arc<OwnedFd>, UnpackError> {
        let dir = path.parent().unwrap_or_default();
        let (fd, miss) = self
            .dirs
            .open_or_create(&dir)
            .map_err(|err| self.resolve_err(e, err))?;
        if miss {
            self.note_touched(&dir, fd.as_fd());
        }
        Ok(fd)
    }

    fn note_touched(&mut self, dir: &CleanPath, fd: BorrowedFd<'_>) {
        if self.upper.contains(dir.as_bytes()) || self.touched.contains_key(dir.as_bytes()) {
            return;
        }
        if let Ok(st) = rfs::fstat(fd) {
            self.touched.insert(
                dir.as_bytes().to_vec(),
                (st.st_mtime, st.st_mtime_nsec as u32),
            );
        }
    }

    fn resolve_err(&self, e: &EntryMeta, err: io::Error) -> UnpackError {
        match err.raw_os_error() {
            Some(libc::ELOOP) | Some(libc::EXDEV) => UnpackError::SymlinkEscape {
                layer: self.layer.into(),
                entry: e.raw.clone(),
                reason: err.to_string(),
            },
            _ => UnpackError::Io {
                layer: self.layer.into(),
                entry: e.raw.clone(),
                op: "open parent directory",
                source: err,
            },
        }
    }

    fn mark_upper(&mut self, path: &CleanPath) {
        let mut p = Some(path.clone());
        while let Some(cur) = p {
            if !self.upper.insert(cur.as_bytes().to_vec()) {
                break;
            }
            p = cur.parent();
        }
    }

    /// Applies one entry. `data` is the whole content of a small regular file; for a
    /// large one it is None and `chunks` yields the content in order.
    pub(crate) fn apply(
        &mut self,
        e: EntryMeta,
        data: Option<Bytes>,
        chunks: &mut dyn FnMut() -> Result<Bytes, UnpackError>,
    ) -> Result<(), UnpackError> {
        self.counts.entries += 1;
        if e.kind == Kind::Skip {
            return Ok(());
        }
        self.wait_if_dependent(&e)?;
        match &e.kind {
            Kind::Whiteout | Kind::Opaque => return self.whiteout(&e),
            _ => {}
        }
        if e.path.is_root() {
            return self.root_dir(&e);
        }
        let parent = self.parent(&e, &e.path)?;
        let pfd = parent.as_fd();
        let name = e.path.split().1.to_vec();
        match &e.kind {
            Kind::File => self.file(&e, &parent, &name, data, chunks)?,
            Kind::Dir => self.dir(&e, pfd, &name)?,
            Kind::Symlink(target) => {
                self.create(&e, pfd, &name, "symlink", |d, n| {
                    rfs::symlinkat(target.as_slice(), d, n)
                })?;
                self.counts.symlinks += 1;
                self.meta_at(&e, pfd, &name, false)?;
            }
            Kind::Hardlink(target) => self.hardlink(&e, pfd, &name, target)?,
            Kind::Char(maj, min) | Kind::Block(maj, min) => {
                if self.opts.rootless {
                    self.warnings.once(
                        "mknod",
                        format!(
                            "running without root: device nodes are skipped (first: {})",
                            e.raw
                        ),
                    );
                    return Ok(());
                }
                let ft = if matches!(e.kind, Kind::Char(..)) {
                    FileType::CharacterDevice
                } else {
                    FileType::BlockDevice
                };
                let dev = rfs::makedev(*maj, *min);
                self.create(&e, pfd, &name, "mknod", |d, n| {
                    rfs::mknodat(d, n, ft, Mode::from_raw_mode(0o600), dev)
                })?;
                self.counts.devices += 1;
                self.meta_at(&e, pfd, &name, true)?;
            }
            Kind::Fifo => {
                self.create(&e, pfd, &name, "mkfifo", |d, n| {
                    rfs::mknodat(d, n, FileType::Fifo, Mode::from_raw_mode(0o600), 0)
                })?;
                self.counts.fifos += 1;
                self.meta_at(&e, pfd, &name, true)?;
            }
            Kind::Whiteout | Kind::Opaque | Kind::Skip => {}
        }
        self.mark_upper(&e.path);
        Ok(())
    }

    /// Runs `make(dir, name)`; if the name is taken, removes whatever is there (never
    /// following it) and tries once more.
    fn create(
        &mut self,
        e: &EntryMeta,
        dir: BorrowedFd<'_>,
        name: &[u8],
        op: &'static str,
        make: impl Fn(BorrowedFd<'_>, &[u8]) -> rustix::io::Result<()>,
    ) -> Result<(), UnpackError> {
        match make(dir, name) {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => {
                self.replace(e, dir, name)?;
                make(dir, name).map_err(|err| self.io(e, op)(err.into()))
            }
            Err(err) => Err(self.io(e, op)(err.into())),
        }
    }

    fn replace(
        &mut self,
        e: &EntryMeta,
        dir: BorrowedFd<'_>,
        name: &[u8],
    ) -> Result<(), UnpackError> {
        // What goes may hold files the writers are still creating.
        self.drain()?;
        root::remove_any(dir, name).map_err(self.io(e, "remove the existing path"))
    }

    /// Waits for the writers when `e` depends on a small file they may not have created
    /// yet: `e` is at its path or below it, links to it (or below it), or is a whiteout.
    /// Everything else may overtake the queued files: they are at paths nothing else in
    /// the layer has touched (see [`file`](Self::file)).
    fn wait_if_dependent(&mut self, e: &EntryMeta) -> Result<(), UnpackError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let queued = |p: &CleanPath| p.with_ancestors().any(|a| self.pending.contains(a));
        let depends = match &e.kind {
            Kind::Whiteout | Kind::Opaque => true,
            Kind::Hardlink(target) => queued(target) || queued(&e.path),
            _ => queued(&e.path),
        };
        if depends {
            self.drain()?;
        }
        Ok(())
    }

    /// Waits until the writers have created and written everything queued. Cached
    /// directory fds are dropped too: a writer may have replaced a lower-layer directory
    /// with a file.
    fn drain(&mut self) -> Result<(), UnpackError> {
        self.pool.wait()?;
        self.pending.clear();
        self.dirs.invalidate();
        Ok(())
    }

    /// A regular file. A small one at a path this layer has not touched yet goes to the
    /// writers whole — they create it, so the inode work happens off this thread; until
    /// they are done, entries that depend on it wait ([`wait_if_dependent`]). A large
    /// one, or one replacing what this layer created, is created here and its content
    /// handed over in pieces.
    ///
    /// [`wait_if_dependent`]: Self::wait_if_dependent
    fn file(
        &mut self,
        e: &EntryMeta,
        dir: &Arc<OwnedFd>,
        name: &[u8],
        data: Option<Bytes>,
        chunks: &mut dyn FnMut() -> Result<Bytes, UnpackError>,
    ) -> Result<(), UnpackError> {
        let meta = FileMeta {
            owner: self.owner(e)?,
            mode: e.mode,
            xattrs: self.xattrs(e)?,
            mtime: e.mtime,
        };
        self.counts.files += 1;
        self.counts.file_bytes += e.size;
        let path = e.path.as_bytes();
        let data = match data {
            Some(data) if !self.upper.contains(path) => {
                self.pending.insert(path.to_vec());
                let file = NewFile {
                    dir: dir.clone(),
                    name: name.to_vec(),
                    data,
                    meta,
                    entry: e.raw.clone(),
                };
                return self.pool.submit(FileJob::Whole(Box::new(file)), self.layer);
            }
            data => data,
        };
        if self.upper.contains(path) {
            self.drain()?; // replacing may remove files still queued
        }
        let (fd, replaced) =
            root::create_file(dir.as_fd(), name).map_err(self.io(e, "create file"))?;
        if replaced {
            self.dirs.invalidate();
        }
        let target = Arc::new(FileTarget::new(File::from(fd), meta, e.raw.clone()));
        let piece = |data, offset| FileJob::Piece {
            target: target.clone(),
            offset,
            data,
        };
        match data {
            Some(data) => self.pool.submit(piece(data, 0), self.layer)?,
            None => {
                let mut offset = 0;
                loop {
                    let chunk = chunks()?;
                    if chunk.is_empty() {
                        return Err(UnpackError::Internal(format!(
                            "layer {}: the content of {} ended early",
                            self.layer, e.raw
                        )));
                    }
                    let end = offset + chunk.len() as u64;
                    if end < e.size {
                        target.more_pieces();
                    }
                    self.pool.submit(piece(chunk, offset), self.layer)?;
                    if end >= e.size {
                        break;
                    }
                    offset = end;
                }
            }
        }
        Ok(())
    }

    fn dir(&mut self, e: &EntryMeta, dir: BorrowedFd<'_>, name: &[u8]) -> Result<(), UnpackError> {
        // 0700 until the end of the layer, so that a read-only directory mode cannot stop
        // its own contents from being written (rootless) — the real mode comes last.
        match rfs::mkdirat(dir, name, Mode::from_raw_mode(0o700)) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                if root::lstat_type(dir, name).map_err(self.io(e, "stat"))?
                    == Some(FileType::Directory)
                {
                    // An existing directory keeps its contents; its metadata is replaced,
                    // xattrs included (umoci clears them too).
                    self.clear_xattrs(e, dir, name)?;
                } else {
                    self.replace(e, dir, name)?;
                    rfs::mkdirat(dir, name, Mode::from_raw_mode(0o700))
                        .map_err(|err| self.io(e, "mkdir")(err.into()))?;
                }
            }
            Err(err) => return Err(self.io(e, "mkdir")(err.into())),
        }
        self.counts.dirs += 1;
        self.meta_at(e, dir, name, false)?;
        self.dir_meta.insert(
            e.path.as_bytes().to_vec(),
            DirMeta {
                mode: e.mode,
                mtime: e.mtime,
            },
        );
        Ok(())
    }

    fn clear_xattrs(
        &self,
        e: &EntryMeta,
        dir: BorrowedFd<'_>,
        name: &[u8],
    ) -> Result<(), UnpackError> {
        let p = root::proc_path(dir, name).map_err(self.io(e, "listxattr"))?;
        let mut buf = vec![0u8; 64 << 10];
        let n = match rfs::llistxattr(p.as_c_str(), &mut buf) {
            Ok(n) => n,
            Err(Errno::OPNOTSUPP) => return Ok(()),
            Err(err) => return Err(self.io(e, "listxattr")(err.into())),
        };
        for key in buf[..n].split(|&b| b == 0).filter(|k| !k.is_empty()) {
            match rfs::lremovexattr(p.as_c_str(), key) {
                Ok(()) | Err(Errno::NODATA) | Err(Errno::OPNOTSUPP) | Err(Errno::PERM) => {}
                Err(err) => return Err(self.io(e, "removexattr")(err.into())),
            }
        }
        Ok(())
    }

    /// Owner, mode (not for symlinks; chmod after chown), xattrs, mtime (not for
    /// directories: deferred) of `dir/name`, which we just created and know not to be a
    /// symlink unless `e` is one.
    fn meta_at(
        &mut self,
        e: &EntryMeta,
        dir: BorrowedFd<'_>,
        name: &[u8],
        chmod: bool,
    ) -> Result<(), UnpackError> {
        if let Some((u, g)) = self.owner(e)? {
            root::chown_at(dir, name, u, g).map_err(self.io(e, "chown"))?;
        }
        if chmod {
            rfs::chmodat(dir, name, Mode::from_raw_mode(e.mode), AtFlags::empty())
                .map_err(|err| self.io(e, "chmod")(err.into()))?;
        }
        let xattrs = self.xattrs(e)?;
        if !xattrs.is_empty() {
            let p = root::proc_path(dir, name).map_err(self.io(e, "setxattr"))?;
            for (k, v) in &xattrs {
                if let Err(err) = rfs::lsetxattr(p.as_c_str(), k.as_slice(), v, XattrFlags::empty())
                {
                    xattr_failed(k, err, self.warnings).map_err(self.io(e, "setxattr"))?;
                }
            }
        }
        if e.kind != Kind::Dir {
            rfs::utimensat(dir, name, &ts(e.mtime), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|err| self.io(e, "set mtime")(err.into()))?;
        }
        Ok(())
    }

    /// The `./` entry: metadata of the root directory itself.
    fn root_dir(&mut self, e: &EntryMeta) -> Result<(), UnpackError> {
        if e.kind != Kind::Dir {
            return Ok(());
        }
        let root = self.dirs.root_fd();
        if let Some((u, g)) = self.owner(e)? {
            rfs::fchown(
                root,
                Some(rfs::Uid::from_raw(u)),
                Some(rfs::Gid::from_raw(g)),
            )
            .map_err(|err| self.io(e, "chown")(err.into()))?;
        }
        for (k, v) in &self.xattrs(e)? {
            if let Err(err) = rfs::fsetxattr(root, k.as_slice(), v, XattrFlags::empty()) {
                xattr_failed(k, err, self.warnings).map_err(self.io(e, "setxattr"))?;
            }
        }
        self.dir_meta.insert(
            Vec::new(),
            DirMeta {
                mode: e.mode,
                mtime: e.mtime,
            },
        );
        Ok(())
    }

    fn hardlink(
        &mut self,
        e: &EntryMeta,
        dir: BorrowedFd<'_>,
        name: &[u8],
        target: &CleanPath,
    ) -> Result<(), UnpackError> {
        let outside = |reason: String| UnpackError::HardlinkOutside {
            layer: self.layer.into(),
            entry: e.raw.clone(),
            target: target.display(),
            reason,
        };
        if target.is_root() {
            return Err(outside("the target is the root directory".into()));
        }
        if *target == e.path {
            return Ok(());
        }
        let tdir = target.parent().unwrap_or_default();
        let (tfd, _) = self
            .dirs
            .open_existing(&tdir)
            .map_err(|err| self.resolve_err(e, err))?
            .ok_or_else(|| outside("its directory does not exist in the root".into()))?;
        let tname = target.split().1;
        // linkat without AT_SYMLINK_FOLLOW links a symlink itself, never what it points to.
        let link =
            |d: BorrowedFd<'_>, n: &[u8]| rfs::linkat(tfd.as_fd(), tname, d, n, AtFlags::empty());
        match link(dir, name) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                self.replace(e, dir, name)?;
                link(dir, name).map_err(|err| self.link_err(e, target, err))?;
            }
            Err(err) => return Err(self.link_err(e, target, err)),
        }
        self.counts.hardlinks += 1;
        Ok(())
    }

    fn link_err(&self, e: &EntryMeta, target: &CleanPath, err: Errno) -> UnpackError {
        match err {
            Errno::NOENT | Errno::PERM | Errno::XDEV => UnpackError::HardlinkOutside {
                layer: self.layer.into(),
                entry: e.raw.clone(),
                target: target.display(),
                reason: format!("cannot link to it: {err}"),
            },
            _ => self.io(e, "link")(err.into()),
        }
    }

    /// `.wh.NAME` removes NAME, `.wh..wh..opq` empties its directory — but only of
    /// lower-layer content: whatever this layer already put there stays, whatever it
    /// puts there later is created afterwards (umoci's "upper paths" rule).
    fn whiteout(&mut self, e: &EntryMeta) -> Result<(), UnpackError> {
        self.counts.whiteouts += 1;
        let opaque = e.kind == Kind::Opaque;
        let (dir_path, name): (CleanPath, Vec<u8>) = if opaque {
            (e.path.clone(), Vec::new())
        } else {
            (
                e.path.parent().unwrap_or_default(),
                e.path.split().1.to_vec(),
            )
        };
        // The directory holding the whited-out name; if it does not exist there is
        // nothing to hide.
        let parent = if opaque {
            dir_path.parent().unwrap_or_default()
        } else {
            dir_path.clone()
        };
        let Some((pfd, miss)) = self
            .dirs
            .open_existing(&parent)
            .map_err(|err| self.resolve_err(e, err))?
        else {
            return Ok(());
        };
        if miss {
            self.note_touched(&parent, pfd.as_fd());
        }
        self.dirs.invalidate();
        let pfd = pfd.as_fd();
        if opaque {
            if e.path.is_root() {
                return self.empty_lower(e, self.dirs.root_fd(), b"", &CleanPath::default());
            }
            let dname = e.path.split().1.to_vec();
            if root::lstat_type(pfd, &dname).map_err(self.io(e, "stat"))?
                != Some(FileType::Directory)
            {
                return Ok(());
            }
            return self.empty_lower(e, pfd, &dname, &e.path);
        }
        let Some(ty) = root::lstat_type(pfd, &name).map_err(self.io(e, "stat"))? else {
            return Ok(());
        };
        if !self.upper.contains(e.path.as_bytes()) {
            return root::remove_any(pfd, &name).map_err(self.io(e, "remove (whiteout)"));
        }
        if ty == FileType::Directory {
            self.empty_lower(e, pfd, &name, &e.path)?;
        }
        Ok(())
    }

    /// Removes the lower-layer children of `dir/name` (whose path is `path`), recursing
    /// into children this layer created.
    fn empty_lower(
        &self,
        e: &EntryMeta,
        dir: BorrowedFd<'_>,
        name: &[u8],
        path: &CleanPath,
    ) -> Result<(), UnpackError> {
        let fd =
            root::open_dir_nofollow(dir, name).map_err(self.io(e, "open directory (whiteout)"))?;
        for (child, ty) in
            root::list_dir(fd.as_fd()).map_err(self.io(e, "read directory (whiteout)"))?
        {
            let cpath = path.join(&child);
            if !self.upper.contains(cpath.as_bytes()) {
                root::remove_any(fd.as_fd(), &child).map_err(self.io(e, "remove (whiteout)"))?;
            } else if ty == FileType::Directory {
                self.empty_lower(e, fd.as_fd(), &child, &cpath)?;
            }
        }
        Ok(())
    }

    /// Ends the layer: waits for the writers, then applies directory modes and mtimes
    /// (after their contents, which would otherwise bump them) and restores the mtimes of
    /// lower directories this layer only passed through.
    pub(crate) fn finish(mut self) -> Result<LayerCounts, UnpackError> {
        self.pool.wait()?;
        self.dirs.invalidate();
        let fail = |path: &[u8], op, source| UnpackError::Io {
            layer: self.layer.into(),
            entry: String::from_utf8_lossy(path).into_owned(),
            op,
            source,
        };
        type Todo = (Vec<u8>, Option<u32>, (i64, u32));
        let mut todo: Vec<Todo> = self
            .dir_meta
            .drain()
            .map(|(p, m)| (p, Some(m.mode), m.mtime))
            .collect();
        let dm: HashSet<&[u8]> = todo.iter().map(|(p, _, _)| p.as_slice()).collect();
        let restores: Vec<_> = self
            .touched
            .iter()
            .filter(|(p, _)| !dm.contains(p.as_slice()))
            .map(|(p, t)| (p.clone(), None, *t))
            .collect();
        todo.extend(restores);
        for (path, mode, mtime) in todo {
            let path = CleanPath::new(&path).unwrap_or_default();
            let (pfd, name) = if path.is_root() {
                (None, Vec::new())
            } else {
                let parent = path.parent().unwrap_or_default();
                match self
                    .dirs
                    .open_existing(&parent)
                    .map_err(|err| fail(path.as_bytes(), "open directory", err))?
                {
                    Some((fd, _)) => (Some(fd), path.split().1.to_vec()),
                    None => continue,
                }
            };
            match &pfd {
                None => {
                    let root = self.dirs.root_fd();
                    if let Some(mode) = mode {
                        rfs::fchmod(root, Mode::from_raw_mode(mode))
                            .map_err(|err| fail(b"/", "chmod", err.into()))?;
                    }
                    rfs::futimens(root, &ts(mtime))
                        .map_err(|err| fail(b"/", "set mtime", err.into()))?;
                }
                Some(fd) => {
                    let fd = fd.as_fd();
                    // The path may have been replaced by a non-directory later in the layer.
                    if root::lstat_type(fd, &name)
                        .map_err(|err| fail(path.as_bytes(), "stat", err))?
                        != Some(FileType::Directory)
                    {
                        continue;
                    }
                    if let Some(mode) = mode {
                        rfs::chmodat(
                            fd,
                            name.as_slice(),
                            Mode::from_raw_mode(mode),
                            AtFlags::empty(),
                        )
                        .map_err(|err| fail(path.as_bytes(), "chmod", err.into()))?;
                    }
                    rfs::utimensat(fd, name.as_slice(), &ts(mtime), AtFlags::SYMLINK_NOFOLLOW)
                        .map_err(|err| fail(path.as_bytes(), "set mtime", err.into()))?;
                }
            }
        }
        Ok(self.counts)
    }
}

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

use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use bytes::Bytes;
use rustix::fs::{self as rfs, AtFlags, FileType, Mode};
use rustix::io::Errno;

use crate::dir_times::DirTimes;
use crate::entry::{EntryMeta, Kind};
use crate::metadata::{self, FileMeta, OpError, Xattrs};
use crate::path::CleanPath;
use crate::root::{self, Dirs, Root};
use crate::upper::Upper;
use crate::warnings::Warnings;
use crate::whiteout::{self, WhiteoutError};
use crate::writers::{FileJob, FileTarget, NewFile, Pool};
use crate::xattr::{self, ShiftError};
use crate::{UnpackError, UnpackOptions};

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

/// State of one layer being applied.
pub(crate) struct LayerApply<'a> {
    layer: &'a str,
    opts: &'a UnpackOptions,
    dirs: Dirs<'a>,
    /// Paths this layer created, and their ancestors.
    upper: Upper,
    /// Paths of small files handed to the writers to create, since they last finished.
    pending: HashSet<Vec<u8>>,
    /// Directory modes and mtimes applied at the layer end.
    times: DirTimes,
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
            upper: Upper::default(),
            pending: HashSet::new(),
            times: DirTimes::default(),
            pool,
            warnings,
            counts: LayerCounts::default(),
        })
    }

    /// Wraps a failed filesystem call of entry `e` into an error naming layer and entry
    /// (the names are copied only when there is an error: this runs for every entry).
    fn op<'s>(&'s self, e: &'s EntryMeta) -> impl Fn(OpError) -> UnpackError + 's {
        move |(op, source)| UnpackError::Io {
            layer: self.layer.to_string(),
            entry: e.raw.clone(),
            op,
            source,
        }
    }

    /// Like [`op`](Self::op), for a call whose operation the caller names.
    fn io<'s>(
        &'s self,
        e: &'s EntryMeta,
        op: &'static str,
    ) -> impl Fn(io::Error) -> UnpackError + 's {
        let wrap = self.op(e);
        move |source| wrap((op, source))
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

    /// Notes a lower-layer directory whose contents are about to change.
    fn note_touched(&mut self, dir: &CleanPath, fd: BorrowedFd<'_>) {
        if !self.upper.contains(dir.as_bytes()) {
            self.times.note_lower(dir, fd);
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
        self.upper.mark(&e.path);
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
                    metadata::clear_xattrs_at(dir, name).map_err(self.op(e))?;
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
        self.times.entry(e.path.as_bytes(), e.mode, e.mtime);
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
            metadata::chmod_at(dir, name, e.mode).map_err(self.op(e))?;
        }
        metadata::set_xattrs_at(dir, name, &self.xattrs(e)?, self.warnings).map_err(self.op(e))?;
        if e.kind != Kind::Dir {
            metadata::set_mtime_at(dir, name, e.mtime).map_err(self.op(e))?;
        }
        Ok(())
    }

    /// The `./` entry: metadata of the root directory itself.
    fn root_dir(&mut self, e: &EntryMeta) -> Result<(), UnpackError> {
        if e.kind != Kind::Dir {
            return Ok(());
        }
        let root = self.dirs.root_fd();
        if let Some(owner) = self.owner(e)? {
            metadata::fchown(root, owner).map_err(self.op(e))?;
        }
        metadata::set_xattrs_fd(root, &self.xattrs(e)?, self.warnings).map_err(self.op(e))?;
        self.times.entry(b"", e.mode, e.mtime);
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

    /// `.wh.NAME` and `.wh..wh..opq` (see [`whiteout`]).
    fn whiteout(&mut self, e: &EntryMeta) -> Result<(), UnpackError> {
        self.counts.whiteouts += 1;
        let opaque = e.kind == Kind::Opaque;
        whiteout::apply(
            &mut self.dirs,
            &self.upper,
            &mut self.times,
            &e.path,
            opaque,
        )
        .map_err(|err| match err {
            WhiteoutError::Resolve(err) => self.resolve_err(e, err),
            WhiteoutError::Io(op, err) => self.io(e, op)(err),
        })
    }

    /// Ends the layer: waits for the writers, then applies directory modes and mtimes.
    pub(crate) fn finish(mut self) -> Result<LayerCounts, UnpackError> {
        self.pool.wait()?;
        let layer = self.layer;
        self.times
            .apply(&mut self.dirs)
            .map_err(|(entry, op, source)| UnpackError::Io {
                layer: layer.into(),
                entry,
                op,
                source,
            })?;
        Ok(self.counts)
    }
}

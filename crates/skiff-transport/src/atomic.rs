//! Temporary siblings and atomic replacement.
//!
//! Every destination writes beside its target (same directory, so `rename` is atomic) under
//! a name that says what it is, and removes it again if it is dropped before commit.

use std::path::{Path, PathBuf};

use crate::error::TransportError;

/// A temporary path beside `target`: `.NAME.skiff-tmp-PID-N`.
pub fn sibling(target: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".to_string());
    parent_dir(target).join(format!(".{name}.skiff-tmp-{}-{n}", std::process::id()))
}

/// The directory `target` is in (`.` for a bare name).
pub(crate) fn parent_dir(target: &Path) -> PathBuf {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The failure to create `target`'s temporary sibling, told about `target`: the sibling's
/// name (`.NAME.skiff-tmp-PID-N`) is ours, not the user's, and the usual cause is a
/// directory that does not exist.
pub fn create_error(target: &Path, e: std::io::Error) -> TransportError {
    let parent = parent_dir(target);
    if e.kind() == std::io::ErrorKind::NotFound && !parent.is_dir() {
        TransportError::io(
            format!(
                "cannot write {}: the directory {} does not exist",
                target.display(),
                parent.display()
            ),
            e,
        )
    } else {
        TransportError::io(format!("writing {}", target.display()), e)
    }
}

/// Removes a file or directory tree when dropped, unless disarmed.
pub struct Cleanup {
    path: Option<PathBuf>,
}

impl Cleanup {
    /// Guards `path`.
    pub fn new(path: PathBuf) -> Self {
        Cleanup { path: Some(path) }
    }

    /// The guarded path.
    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    /// Keeps the path: it has been renamed into place or is meant to stay.
    pub fn disarm(&mut self) {
        self.path = None;
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => {
                    let _ = std::fs::remove_dir_all(&p);
                }
                Ok(_) => {
                    let _ = std::fs::remove_file(&p);
                }
                Err(_) => {}
            }
        }
    }
}

/// Replaces directory `target` by `staged` atomically: with `RENAME_EXCHANGE` when the
/// target exists (the old tree is then removed), with a plain rename otherwise.
pub fn replace_dir(staged: &Path, target: &Path) -> std::io::Result<()> {
    if std::fs::symlink_metadata(target).is_ok() {
        rustix_exchange(staged, target)?;
        // `staged` now holds the old tree.
        std::fs::remove_dir_all(staged)
    } else {
        std::fs::rename(staged, target)
    }
}

fn rustix_exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let ca = CString::new(a.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    let cb = CString::new(b.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: both are valid NUL-terminated paths; AT_FDCWD resolves them like rename(2).
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// A blob written to a temporary file beside its final name and renamed into place on
/// commit; dropped uncommitted, the temporary file is removed.
pub struct FileSink {
    file: std::io::BufWriter<std::fs::File>,
    temp: Cleanup,
    target: PathBuf,
    committed: Option<std::sync::Arc<std::sync::Mutex<Vec<PathBuf>>>>,
}

impl FileSink {
    /// Creates the temporary file for `target`; on commit the final path is recorded in
    /// `committed` (so an uncommitted destination can remove it again).
    pub fn create(
        target: PathBuf,
        committed: Option<std::sync::Arc<std::sync::Mutex<Vec<PathBuf>>>>,
    ) -> std::io::Result<FileSink> {
        let temp = Cleanup::new(sibling(&target));
        let file = std::fs::File::options()
            .write(true)
            .create_new(true)
            .open(temp.path())?;
        Ok(FileSink {
            // The pipeline already hands over 256 KiB writes; a larger buffer only added
            // 1 MiB per blob in flight (24 MiB of a sync to dir:'s peak).
            file: std::io::BufWriter::with_capacity(256 << 10, file),
            temp,
            target,
            committed,
        })
    }

    /// Writes `bytes` as the whole content and commits.
    pub fn write_whole(
        target: PathBuf,
        bytes: &[u8],
        committed: Option<std::sync::Arc<std::sync::Mutex<Vec<PathBuf>>>>,
    ) -> std::io::Result<()> {
        use crate::destination::BlobSink;
        let mut sink = Box::new(FileSink::create(target, committed)?);
        sink.write_all(bytes)?;
        sink.commit()
    }
}

impl crate::destination::BlobSink for FileSink {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        std::io::Write::write_all(&mut self.file, bytes)
    }

    fn commit(mut self: Box<Self>) -> std::io::Result<()> {
        std::io::Write::flush(&mut self.file)?;
        std::fs::rename(self.temp.path(), &self.target)?;
        self.temp.disarm();
        if let Some(c) = &self.committed {
            if let Ok(mut list) = c.lock() {
                list.push(self.target.clone());
            }
        }
        Ok(())
    }
}

//! Advisory locks between processes writing the same destination.
//!
//! Updating an existing `oci:` layout is a read-modify-write of index.json, and creating a
//! new one renames a staged tree into place: two skiff processes doing either at once would
//! lose one image's index entry, or remove a blob the other has just found present. A
//! writer therefore holds an exclusive advisory lock (`flock(2)`) on a lock file for its
//! whole run, as the containers libraries guard shared stores (containers/storage's
//! `lockfile` package); containers/image itself does not lock OCI layouts, and loses
//! index entries to concurrent writers.
//!
//! The lock file sits *beside* the target (`.NAME.skiff-lock`), not in it: a new layout
//! does not exist yet when its writer starts, and both the writer creating it and one
//! adding a tag to it must contend for the same lock. The holder removes the file when it
//! lets go, so nothing stays behind; a waiter that then finds its open file no longer
//! linked at the path simply retries, which keeps the protocol correct under unlinking.
//! A lock left by a killed process is released by the kernel with its descriptor.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::fs::{flock, FlockOperation};

/// How often a waiting writer retries: polling keeps the wait cancellable (Ctrl-C,
/// `--command-timeout` drop the future), which a blocking `flock` in a thread is not.
const POLL: Duration = Duration::from_millis(25);

/// An exclusive lock on one destination path, released (and its file removed) on drop.
#[derive(Debug)]
pub struct PathLock {
    /// Held, never read: closing it is what releases the lock.
    _file: File,
    path: PathBuf,
}

impl PathLock {
    /// The lock file guarding `target`: `.NAME.skiff-lock` in the same directory.
    pub fn lock_path(target: &Path) -> PathBuf {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "image".to_string());
        crate::atomic::parent_dir(target).join(format!(".{name}.skiff-lock"))
    }

    /// Takes the lock for `target`, waiting while another process holds it.
    pub async fn acquire(target: &Path) -> io::Result<PathLock> {
        let path = Self::lock_path(target);
        loop {
            if let Some(lock) = Self::try_once(&path)? {
                return Ok(lock);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Takes the lock for `target` if no other process holds it (`None` if one does), so
    /// that a caller can say it is waiting before it calls [`PathLock::acquire`].
    pub fn try_acquire(target: &Path) -> io::Result<Option<PathLock>> {
        Self::try_once(&Self::lock_path(target))
    }

    /// One attempt: `None` while another process holds the lock (or has just removed the
    /// file this attempt opened).
    fn try_once(path: &Path) -> io::Result<Option<PathLock>> {
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        // Locked — but the previous holder may have unlinked this file between our open
        // and our flock; then a newcomer could lock a fresh file at the same path.
        let ours = file.metadata()?;
        match std::fs::symlink_metadata(path) {
            Ok(now) if now.dev() == ours.dev() && now.ino() == ours.ino() => Ok(Some(PathLock {
                _file: file,
                path: path.to_path_buf(),
            })),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Drop for PathLock {
    fn drop(&mut self) {
        // Unlink while still holding the lock, so no newcomer can lock this inode and
        // believe it owns the path; the descriptor (and the lock) goes with `_file`.
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn second_holder_waits_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("layout");
        let first = PathLock::acquire(&target).await.unwrap();
        assert!(PathLock::lock_path(&target).exists());
        let waiting = tokio::time::timeout(Duration::from_millis(200), PathLock::acquire(&target));
        assert!(waiting.await.is_err(), "lock taken twice");
        drop(first);
        assert!(!PathLock::lock_path(&target).exists(), "lock file left");
        let second = tokio::time::timeout(Duration::from_secs(5), PathLock::acquire(&target))
            .await
            .expect("lock not released")
            .unwrap();
        drop(second);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}

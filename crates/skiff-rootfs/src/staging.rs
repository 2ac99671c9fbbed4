//! The staging directory beside the target, and what happens to it when an unpack ends
//! early.
//!
//! Every unpack writes into `.NAME.skiff-tmp-PID-N` beside the target and renames it into
//! place at the end (principle 4). When the unpack is abandoned — an error, or the future
//! dropped on Ctrl-C or `--command-timeout` — [`Staging`]'s drop stops the fetches and the
//! unpacking threads, *joins* the thread, and only then removes the tree: removing a tree
//! that writers are still filling fails or leaves files behind. A removal that fails is
//! reported ([`Event::StagingLeft`]), never ignored.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use skiff_transport::atomic::sibling;

use crate::fetch::Stop;
use crate::progress::{Event, Reporter};
use crate::RootfsError;

/// Refuses a non-empty target (never mix an image into an existing tree) and returns the
/// path of a staging directory beside it, not yet created.
pub(crate) fn check_target(rootfs: &Path) -> Result<PathBuf, RootfsError> {
    if let Ok(mut entries) = std::fs::read_dir(rootfs) {
        if entries.next().is_some() {
            return Err(RootfsError::TargetNotEmpty(rootfs.to_path_buf()));
        }
    } else if rootfs.exists() {
        return Err(RootfsError::TargetNotDirectory(rootfs.to_path_buf()));
    }
    let parent = rootfs
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    if !parent.is_dir() {
        return Err(RootfsError::NoParent(parent));
    }
    Ok(sibling(rootfs))
}

/// A staging tree being filled by an unpacking thread.
pub(crate) struct Staging {
    path: PathBuf,
    stop: Stop,
    thread: Option<JoinHandle<()>>,
    reporter: Arc<dyn Reporter>,
    armed: bool,
}

impl Staging {
    /// Creates the staging directory at `path`.
    pub(crate) fn create(
        path: PathBuf,
        stop: Stop,
        reporter: Arc<dyn Reporter>,
    ) -> Result<Self, RootfsError> {
        std::fs::create_dir(&path).map_err(RootfsError::io("creating", &path))?;
        Ok(Staging {
            path,
            stop,
            thread: None,
            reporter,
            armed: true,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The thread writing into the tree, joined before the tree is removed.
    pub(crate) fn set_writer(&mut self, thread: JoinHandle<()>) {
        self.thread = Some(thread);
    }

    /// Renames the finished tree to `target` (replacing an empty directory there). A
    /// target that another writer filled since [`check_target`] is refused as not empty:
    /// of two unpacks into one place, the first to finish wins and the other removes its
    /// staging tree.
    pub(crate) fn commit(mut self, target: &Path) -> Result<(), RootfsError> {
        self.join();
        match std::fs::remove_dir(target) {
            // Gone already: nothing there, or another unpack's empty target it replaced.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            r => r.map_err(placing_error("replacing empty", target))?,
        }
        std::fs::rename(&self.path, target).map_err(placing_error("renaming into", target))?;
        self.armed = false;
        Ok(())
    }

    fn join(&mut self) {
        if let Some(t) = self.thread.take() {
            // The thread reports its own result; a panic there already printed itself.
            let _ = t.join();
        }
    }
}

/// `what` failing on `target`, told as "not empty" when another writer filled the target
/// meanwhile.
fn placing_error<'a>(
    what: &'static str,
    target: &'a Path,
) -> impl FnOnce(std::io::Error) -> RootfsError + 'a {
    move |e| match e.kind() {
        std::io::ErrorKind::DirectoryNotEmpty | std::io::ErrorKind::AlreadyExists => {
            RootfsError::TargetNotEmpty(target.to_path_buf())
        }
        _ => RootfsError::io(what, target)(e),
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        self.stop.stop();
        self.join();
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                self.reporter.report(Event::StagingLeft {
                    path: self.path.clone(),
                    error: e.to_string(),
                });
            }
        }
    }
}

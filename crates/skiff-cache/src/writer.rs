//! Writing one blob into the cache while it streams past.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{flock, FlockOperation};
use skiff_oci::{Digest, Verifier};

use crate::error::CacheError;
use crate::store::Cache;

/// Distinguishes the temporary files of one process's writers.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// A blob being written into the cache: fed with [`write`](Self::write) as it streams,
/// checked and made an entry by [`finish`](Self::finish). Dropped unfinished, it removes
/// its temporary file and leaves the cache as it was.
pub struct CacheWriter {
    cache: Cache,
    /// The temporary file, locked exclusively while this writer lives.
    file: File,
    tmp: PathBuf,
    entry: PathBuf,
    verifier: Option<Verifier>,
    done: bool,
}

impl CacheWriter {
    pub(crate) fn create(cache: Cache, digest: &Digest, size: u64) -> Result<Self, CacheError> {
        let entry = cache.entry_path(digest);
        if let Some(dir) = entry.parent() {
            std::fs::create_dir_all(dir).map_err(CacheError::io("creating", dir))?;
        }
        let tmp = cache.tmp_dir().join(format!(
            "{}.{}.{}",
            digest.hex(),
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(CacheError::io("creating", &tmp))?;
        let writer = CacheWriter {
            cache,
            file,
            tmp,
            entry,
            verifier: Some(Verifier::for_blob(digest, size)),
            done: false,
        };
        // Tells a concurrent prune that this temporary file is in use.
        flock(&writer.file, FlockOperation::NonBlockingLockExclusive)
            .map_err(|e| CacheError::io("locking", &writer.tmp)(e.into()))?;
        Ok(writer)
    }

    /// Appends the next bytes of the blob; refuses bytes beyond its size.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), CacheError> {
        if let Some(v) = self.verifier.as_mut() {
            v.update(bytes)?;
        }
        self.file
            .write_all(bytes)
            .map_err(CacheError::io("writing", &self.tmp))
    }

    /// Checks size and digest and makes the blob an entry, then prunes the cache to its
    /// limit. A blob that is not what its digest says is refused and removed.
    pub fn finish(mut self) -> Result<(), CacheError> {
        if let Some(v) = self.verifier.take() {
            v.finish()?;
        }
        std::fs::rename(&self.tmp, &self.entry).map_err(CacheError::io("renaming", &self.entry))?;
        self.done = true;
        self.cache.prune_to_limit()?;
        Ok(())
    }
}

impl Drop for CacheWriter {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

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
    check: Check,
    done: bool,
}

/// What a writer checks before the blob becomes an entry.
enum Check {
    /// Size and digest, hashing every byte written.
    Hash(Box<Verifier>),
    /// The size only: the caller hashes the same bytes itself and finishes the writer
    /// only once they proved to be the blob ([`Cache::writer_for_verified_bytes`]).
    Size { size: u64, written: u64 },
}

impl CacheWriter {
    /// A writer for `digest` of `size` bytes that hashes what it is given, or (`hash`
    /// false) only counts it.
    pub(crate) fn create(
        cache: Cache,
        digest: &Digest,
        size: u64,
        hash: bool,
    ) -> Result<Self, CacheError> {
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
            check: if hash {
                Check::Hash(Box::new(Verifier::for_blob(digest, size)))
            } else {
                Check::Size { size, written: 0 }
            },
            done: false,
        };
        // Tells a concurrent prune that this temporary file is in use.
        flock(&writer.file, FlockOperation::NonBlockingLockExclusive)
            .map_err(|e| CacheError::io("locking", &writer.tmp)(e.into()))?;
        Ok(writer)
    }

    /// Appends the next bytes of the blob; refuses bytes beyond its size.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), CacheError> {
        match &mut self.check {
            Check::Hash(verifier) => verifier.update(bytes)?,
            Check::Size { size, written } => {
                *written = written.saturating_add(bytes.len() as u64);
                if *written > *size {
                    return Err(wrong_size(&self.entry, *size, *written));
                }
            }
        }
        self.file
            .write_all(bytes)
            .map_err(CacheError::io("writing", &self.tmp))
    }

    /// Checks size and digest (or the size alone, for a writer whose caller verified the
    /// bytes) and makes the blob an entry, then prunes the cache to its limit. A blob
    /// that is not what its digest says is refused and removed.
    pub fn finish(mut self) -> Result<(), CacheError> {
        match &self.check {
            Check::Hash(verifier) => {
                verifier.clone().finish()?;
            }
            Check::Size { size, written } if written != size => {
                return Err(wrong_size(&self.entry, *size, *written));
            }
            Check::Size { .. } => {}
        }
        std::fs::rename(&self.tmp, &self.entry).map_err(CacheError::io("renaming", &self.entry))?;
        self.done = true;
        self.cache.prune_to_limit()?;
        Ok(())
    }
}

/// The error of a counting writer given more bytes than the blob has, or fewer at the end.
fn wrong_size(entry: &std::path::Path, size: u64, written: u64) -> CacheError {
    CacheError::Verify(skiff_oci::VerifyError::Size {
        what: entry.display().to_string(),
        expected: size,
        actual: written,
    })
}

impl Drop for CacheWriter {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

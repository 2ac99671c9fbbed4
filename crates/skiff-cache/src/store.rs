//! The cache directory: looking entries up (verified), listing and pruning them.
//!
//! Layout under the root: `blobs/ALG/HEX` holds complete, verified entries; `tmp/` holds
//! blobs being written (see [`crate::CacheWriter`]). An entry's modification time is the
//! time it was last used, which is what pruning orders by.

use std::collections::BTreeSet;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use rustix::fs::{flock, FlockOperation, Timespec, Timestamps};
use skiff_oci::{Digest, Verifier};

use crate::config::CacheConfig;
use crate::error::CacheError;
use crate::writer::CacheWriter;

/// How much of an entry is read at a time while it is verified.
const READ_CHUNK: usize = 1 << 20;
/// A temporary file younger than this is never swept, even if its lock is free: its
/// writer may have created it and not yet locked it.
const TMP_GRACE: Duration = Duration::from_secs(60);

/// An open cache directory. Cheap to clone; clones name the same directory.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
    max_size: u64,
    /// Entries are read but no new ones written (see [`Cache::read_only`]).
    read_only: bool,
}

/// A verified entry, open: reading `file` gives exactly the blob's bytes, whatever other
/// processes do to the cache meanwhile (entries are replaced by rename, never rewritten).
#[derive(Debug)]
pub struct Hit {
    /// The entry, open for reading.
    pub file: File,
    /// Its size in bytes.
    pub size: u64,
}

/// One cached blob, as `skiff cache ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The blob's digest (its name).
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written or read.
    pub last_used: SystemTime,
}

/// What a prune did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Entries removed.
    pub removed: usize,
    /// Bytes they held.
    pub freed: u64,
    /// Entries left.
    pub kept: usize,
    /// Bytes left.
    pub size: u64,
    /// Temporary files of writers that are gone, removed.
    pub stale_temporaries: usize,
}

impl Cache {
    /// Opens (creating if needed) the cache `config` names.
    pub fn open(config: &CacheConfig) -> Result<Cache, CacheError> {
        let cache = Cache {
            root: config.dir.clone(),
            max_size: config.max_size,
            read_only: false,
        };
        for dir in [cache.blobs_dir(), cache.tmp_dir()] {
            std::fs::create_dir_all(&dir).map_err(CacheError::io("creating", &dir))?;
        }
        Ok(cache)
    }

    /// The cache's root directory.
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// This cache for reading only: hits are served (and verified) as ever, blobs
    /// fetched elsewhere are not added. For a run that moves many blobs the host will
    /// not pull again (a sync into a registry): written through, they would cost a
    /// second hash and a disk write each, and push the entries that are used out.
    pub fn read_only(self) -> Cache {
        Cache {
            read_only: true,
            ..self
        }
    }

    /// Whether blobs fetched elsewhere are added.
    pub fn writes(&self) -> bool {
        !self.read_only
    }

    /// The size limit the cache is pruned to.
    pub fn max_size(&self) -> u64 {
        self.max_size
    }

    fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs")
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub(crate) fn entry_path(&self, digest: &Digest) -> PathBuf {
        self.blobs_dir()
            .join(digest.algorithm().name())
            .join(digest.hex())
    }

    /// The entry for `digest`, verified against it (and against `size` when known):
    /// `None` when absent, or when it was corrupt — it is then removed, so the caller
    /// fetches the blob again and writes a good entry. A hit counts as a use for pruning.
    pub fn get(&self, digest: &Digest, size: Option<u64>) -> Result<Option<Hit>, CacheError> {
        let path = self.entry_path(digest);
        let file = match skiff_oci::local_file::open_regular(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(CacheError::io("opening", &path)(e)),
        };
        let meta = file.metadata().map_err(CacheError::io("reading", &path))?;
        let len = meta.len();
        if size.is_some_and(|s| s != len) {
            remove_if_same(&path, &file);
            return Ok(None);
        }
        let identity = (meta.dev(), meta.ino(), len, digest.clone());
        if !verified_here(&identity) {
            if !self.verify(&file, digest, len, &path)? {
                remove_if_same(&path, &file);
                return Ok(None);
            }
            if let Ok(mut seen) = VERIFIED.lock() {
                seen.insert(identity);
            }
        }
        // The use is recorded on the entry itself; a cache this process may read but not
        // write (another user's) still serves hits, it only cannot order them.
        let _ = rustix::fs::futimens(&file, &now_timestamps());
        Ok(Some(Hit { file, size: len }))
    }

    /// Whether `file` holds exactly the blob `digest` names.
    fn verify(
        &self,
        file: &File,
        digest: &Digest,
        len: u64,
        path: &Path,
    ) -> Result<bool, CacheError> {
        let mut verifier = Verifier::new(digest.to_string(), digest, Some(len));
        let mut buf = vec![0u8; READ_CHUNK];
        let mut pos = 0u64;
        while pos < len {
            let want = (len - pos).min(READ_CHUNK as u64) as usize;
            let n = file
                .read_at(&mut buf[..want], pos)
                .map_err(CacheError::io("reading", path))?;
            if n == 0 {
                return Ok(false);
            }
            if verifier.update(&buf[..n]).is_err() {
                return Ok(false);
            }
            pos += n as u64;
        }
        Ok(verifier.finish().is_ok())
    }

    /// Starts writing the blob `digest` of `size` bytes into the cache, hashing it on
    /// the way: [`CacheWriter::finish`] keeps it only if it is that blob.
    pub fn writer(&self, digest: &Digest, size: u64) -> Result<CacheWriter, CacheError> {
        CacheWriter::create(self.clone(), digest, size, true)
    }

    /// A writer for a caller that hashes the same bytes itself and calls
    /// [`CacheWriter::finish`] only once they proved to be the blob: it checks their size
    /// but does not hash them a second time. A pull through the cache hashed every
    /// layer twice before (a fifth of a cold pull's CPU, bench/pull.sh). Entries are
    /// verified on read all the same.
    pub fn writer_for_verified_bytes(
        &self,
        digest: &Digest,
        size: u64,
    ) -> Result<CacheWriter, CacheError> {
        CacheWriter::create(self.clone(), digest, size, false)
    }

    /// Every entry, least recently used first. Files whose names are not digests are not
    /// entries (and are left alone).
    pub fn entries(&self) -> Result<Vec<Entry>, CacheError> {
        let blobs = self.blobs_dir();
        let mut entries = Vec::new();
        for alg in read_dir(&blobs)? {
            let alg_name = alg.file_name().to_string_lossy().into_owned();
            for e in read_dir(&alg.path())? {
                let name = format!("{alg_name}:{}", e.file_name().to_string_lossy());
                let Ok(digest) = name.parse::<Digest>() else {
                    continue;
                };
                let Ok(meta) = e.metadata() else { continue };
                if !meta.is_file() {
                    continue;
                }
                entries.push(Entry {
                    digest,
                    size: meta.len(),
                    last_used: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                });
            }
        }
        entries.sort_by(|a, b| a.last_used.cmp(&b.last_used).then(a.digest.cmp(&b.digest)));
        Ok(entries)
    }

    /// Removes the least recently used entries until the cache holds at most `max_size`
    /// bytes, and the temporary files of writers that died.
    pub fn prune(&self, max_size: u64) -> Result<PruneReport, CacheError> {
        let mut report = PruneReport {
            stale_temporaries: self.sweep_temporaries()?,
            ..PruneReport::default()
        };
        let entries = self.entries()?;
        let mut total: u64 = entries.iter().map(|e| e.size).sum();
        for e in entries {
            if total <= max_size {
                report.kept += 1;
                report.size += e.size;
                continue;
            }
            let path = self.entry_path(&e.digest);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                // Another process pruned it first.
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(CacheError::io("removing", &path)(err)),
            }
            report.removed += 1;
            report.freed += e.size;
            total -= e.size;
        }
        Ok(report)
    }

    /// Prunes to the configured size limit.
    pub fn prune_to_limit(&self) -> Result<PruneReport, CacheError> {
        self.prune(self.max_size)
    }

    /// Removes temporary files whose writer is gone: their exclusive lock can be taken
    /// (a live writer holds it), and they are older than [`TMP_GRACE`].
    fn sweep_temporaries(&self) -> Result<usize, CacheError> {
        let mut removed = 0;
        let now = SystemTime::now();
        for e in read_dir(&self.tmp_dir())? {
            let path = e.path();
            let Ok(file) = File::open(&path) else {
                continue;
            };
            let young = file
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).unwrap_or_default() < TMP_GRACE);
            if young || flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
                continue;
            }
            if std::fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Entries this process has verified, by file identity (device, inode, size) and
/// digest. Entries are made by rename and never rewritten, so a file once verified still
/// holds its blob; a run that reads a shared base layer for twenty images hashes it once,
/// not twenty times. A replaced entry is another inode and is verified again. (Bytes
/// read from a hit are checked once more downstream, by the copy pipeline or the
/// registry, so even an entry changed in place by hand mid-run is never written out.)
type FileIdentity = (u64, u64, u64, Digest);
static VERIFIED: Mutex<BTreeSet<FileIdentity>> = Mutex::new(BTreeSet::new());

fn verified_here(identity: &FileIdentity) -> bool {
    VERIFIED.lock().is_ok_and(|seen| seen.contains(identity))
}

/// Removes `path` if it is still the file `file` has open: a corrupt entry goes, but a
/// good one another process has renamed into its place meanwhile stays.
fn remove_if_same(path: &Path, file: &File) {
    let (Ok(open), Ok(named)) = (file.metadata(), std::fs::symlink_metadata(path)) else {
        return;
    };
    if open.dev() == named.dev() && open.ino() == named.ino() {
        let _ = std::fs::remove_file(path);
    }
}

/// The entries of a directory; a missing directory has none.
fn read_dir(dir: &Path) -> Result<Vec<std::fs::DirEntry>, CacheError> {
    match std::fs::read_dir(dir) {
        Ok(d) => Ok(d.filter_map(Result::ok).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(CacheError::io("reading", dir)(e)),
    }
}

/// Access and modification time "now", for recording a use.
fn now_timestamps() -> Timestamps {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let t = Timespec {
        tv_sec: now.as_secs() as i64,
        tv_nsec: now.subsec_nanos() as _,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

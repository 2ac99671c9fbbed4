//! Read access to the files of an OCI layout, wherever they are stored.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use skiff_codec::ChunkPool;
use skiff_oci::local_file::open_regular;

use crate::blob::BlobStream;
use crate::error::{Result, TransportError};

/// Largest index.json / manifest we read into memory.
pub const MAX_DOCUMENT: u64 = 16 << 20;

/// Where the files of a layout live.
pub enum LayoutFiles {
    /// A directory.
    Dir(PathBuf),
    /// An uncompressed tar file, indexed: entry name → (data offset, size).
    Tar {
        /// The archive's path, for messages.
        path: PathBuf,
        /// The open archive.
        file: Arc<File>,
        /// Regular-file entries by normalised name.
        entries: HashMap<String, (u64, u64)>,
        /// Symbolic links (name → target as written); `docker save` archives use them.
        links: HashMap<String, String>,
    },
}

impl LayoutFiles {
    /// Indexes a tar archive without reading its data: only headers are visited. A
    /// compressed archive is decoded into a temporary file under `tmpdir` first
    /// ([`super::decompress`]).
    pub fn open_tar(path: &Path, tmpdir: Option<&Path>) -> Result<LayoutFiles> {
        let file = super::decompress::open_uncompressed(path, tmpdir)?;
        let mut archive = tar::Archive::new(&file);
        let mut entries = HashMap::new();
        let mut links = HashMap::new();
        let corrupt = |e: std::io::Error| {
            TransportError::Corrupt(format!(
                "{} is not a readable tar archive: {e}",
                path.display()
            ))
        };
        for entry in archive.entries_with_seek().map_err(corrupt)? {
            let entry = entry.map_err(corrupt)?;
            let name = entry
                .path()
                .map_err(corrupt)?
                .to_string_lossy()
                .into_owned();
            let name = name.trim_start_matches("./").to_string();
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    entries.insert(name, (entry.raw_file_position(), entry.size()));
                }
                tar::EntryType::Symlink => {
                    if let Ok(Some(target)) = entry.link_name() {
                        links.insert(name, target.to_string_lossy().into_owned());
                    }
                }
                _ => {}
            }
        }
        Ok(LayoutFiles::Tar {
            path: path.to_path_buf(),
            file: Arc::new(file),
            entries,
            links,
        })
    }

    /// Like [`LayoutFiles::tar_entry`], with "has no NAME" when the archive lacks it.
    fn tar_entry_or_missing(
        entries: &HashMap<String, (u64, u64)>,
        links: &HashMap<String, String>,
        path: &Path,
        name: &str,
    ) -> Result<(u64, u64)> {
        Self::tar_entry(entries, links, name).ok_or_else(|| {
            TransportError::local_not_found(format!("{} has no {name}", path.display()))
        })
    }

    /// The (offset, size) of a regular file in the tar, following in-archive symlinks
    /// (relative to the link's directory; at most 8 hops, never leaving the archive).
    fn tar_entry(
        entries: &HashMap<String, (u64, u64)>,
        links: &HashMap<String, String>,
        name: &str,
    ) -> Option<(u64, u64)> {
        let mut name = name.to_string();
        for _ in 0..8 {
            if let Some(e) = entries.get(&name) {
                return Some(*e);
            }
            let target = links.get(&name)?;
            let base = match name.rfind('/') {
                Some(i) => &name[..i],
                None => "",
            };
            let mut parts: Vec<&str> = if target.starts_with('/') {
                Vec::new()
            } else {
                base.split('/').filter(|p| !p.is_empty()).collect()
            };
            for p in target.split('/') {
                match p {
                    "" | "." => {}
                    ".." => {
                        parts.pop();
                    }
                    p => parts.push(p),
                }
            }
            name = parts.join("/");
        }
        None
    }

    /// The size of a file.
    pub fn size(&self, name: &str) -> Result<u64> {
        match self {
            LayoutFiles::Dir(p) => std::fs::metadata(p.join(name))
                .map(|m| m.len())
                .map_err(|e| open_error(&p.join(name), e)),
            LayoutFiles::Tar {
                entries,
                links,
                path,
                ..
            } => Self::tar_entry_or_missing(entries, links, path, name).map(|(_, size)| size),
        }
    }

    /// Reads the first bytes of a file into `buf`, returning how many were read.
    pub fn read_head(&self, name: &str, buf: &mut [u8]) -> Result<usize> {
        use std::io::Read;
        let mut reader = self.reader(name)?;
        let mut n = 0;
        while n < buf.len() {
            let r = reader
                .read(&mut buf[n..])
                .map_err(|e| TransportError::io(format!("reading {name}"), e))?;
            if r == 0 {
                break;
            }
            n += r;
        }
        Ok(n)
    }

    /// A blocking reader over a file.
    pub fn reader(&self, name: &str) -> Result<Box<dyn std::io::Read + Send>> {
        match self {
            LayoutFiles::Dir(p) => {
                let f = open_regular(&p.join(name)).map_err(|e| open_error(&p.join(name), e))?;
                Ok(Box::new(f))
            }
            LayoutFiles::Tar {
                file,
                entries,
                links,
                path,
            } => {
                let (offset, size) = Self::tar_entry_or_missing(entries, links, path, name)?;
                Ok(Box::new(RangeReader {
                    file: file.clone(),
                    pos: offset,
                    end: offset + size,
                }))
            }
        }
    }

    /// Where this layout is, for messages.
    pub fn describe(&self) -> String {
        match self {
            LayoutFiles::Dir(p) => p.display().to_string(),
            LayoutFiles::Tar { path, .. } => path.display().to_string(),
        }
    }

    /// Whether `name` exists.
    pub fn exists(&self, name: &str) -> bool {
        match self {
            LayoutFiles::Dir(p) => p.join(name).is_file(),
            LayoutFiles::Tar { entries, links, .. } => {
                Self::tar_entry(entries, links, name).is_some()
            }
        }
    }

    /// Reads a small file whole (index.json, manifests, configs).
    pub fn read_small(&self, name: &str) -> Result<Vec<u8>> {
        let missing =
            || TransportError::local_not_found(format!("{} has no {name}", self.describe()));
        match self {
            LayoutFiles::Dir(p) => {
                let path = p.join(name);
                let file = open_regular(&path).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        missing()
                    } else {
                        open_error(&path, e)
                    }
                })?;
                let len = file.metadata().map_err(|e| open_error(&path, e))?.len();
                if len > MAX_DOCUMENT {
                    return Err(TransportError::Corrupt(format!(
                        "{} is {len} bytes, too large",
                        path.display()
                    )));
                }
                let mut buf = vec![0; len as usize];
                file.read_exact_at(&mut buf, 0)
                    .map_err(|e| open_error(&path, e))?;
                Ok(buf)
            }
            LayoutFiles::Tar {
                file,
                entries,
                links,
                path,
            } => {
                let (offset, size) = Self::tar_entry_or_missing(entries, links, path, name)?;
                if size > MAX_DOCUMENT {
                    return Err(TransportError::Corrupt(format!(
                        "{name} in {} is {size} bytes, too large",
                        path.display()
                    )));
                }
                let mut buf = vec![0; size as usize];
                file.read_exact_at(&mut buf, offset)
                    .map_err(|e| open_error(path, e))?;
                Ok(buf)
            }
        }
    }

    /// Streams a file (a blob) in chunks, from a blocking thread.
    pub fn stream(&self, name: &str) -> Result<BlobStream> {
        match self {
            LayoutFiles::Dir(p) => {
                let path = p.join(name);
                let file = open_regular(&path).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        TransportError::local_not_found(format!("{} has no {name}", p.display()))
                    } else {
                        open_error(&path, e)
                    }
                })?;
                let len = file.metadata().map_err(|e| open_error(&path, e))?.len();
                Ok(file_range_stream(Arc::new(file), 0, len))
            }
            LayoutFiles::Tar {
                file,
                entries,
                links,
                path,
            } => {
                let (offset, size) = Self::tar_entry_or_missing(entries, links, path, name)?;
                Ok(file_range_stream(file.clone(), offset, size))
            }
        }
    }
}

fn open_error(path: &Path, e: std::io::Error) -> TransportError {
    TransportError::io(format!("reading {}", path.display()), e)
}

/// Chunk size for streaming local files.
const READ_CHUNK: usize = 256 << 10;
/// Free read buffers kept (8 MiB): more than the chunks in flight when six layers stream
/// at once, each with a few chunks queued in its connection.
const READ_BUFFERS_KEPT: usize = 32;

/// The process's read buffers, shared by every file stream (see [`ChunkPool`]).
fn read_buffers() -> &'static ChunkPool {
    static POOL: OnceLock<ChunkPool> = OnceLock::new();
    POOL.get_or_init(|| ChunkPool::new(READ_CHUNK, READ_BUFFERS_KEPT))
}

/// A stream over `len` bytes of `file` starting at `offset`, read with pread in chunks of
/// [`READ_CHUNK`] on the blocking pool, into buffers used again.
pub fn file_range_stream(file: Arc<File>, offset: u64, len: u64) -> BlobStream {
    let state = (file, offset, len);
    Box::pin(futures_util::stream::try_unfold(
        state,
        |(file, pos, remaining)| async move {
            if remaining == 0 {
                return Ok(None);
            }
            let want = remaining.min(READ_CHUNK as u64) as usize;
            let (file, chunk) = tokio::task::spawn_blocking(move || {
                let pool = read_buffers();
                let mut buffer = pool.take();
                let read = file.read_exact_at(&mut buffer[..want], pos);
                read.map(|()| (file, pool.freeze(buffer, want)))
            })
            .await
            .map_err(std::io::Error::other)??;
            let n = want as u64;
            Ok(Some((chunk, (file, pos + n, remaining - n))))
        },
    ))
}

/// A blocking reader over a byte range of a file.
struct RangeReader {
    file: Arc<File>,
    pos: u64,
    end: u64,
}

impl std::io::Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = (self.end - self.pos).min(buf.len() as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

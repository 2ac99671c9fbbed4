//! Layers whose tar stream stops right after the last file's data.
//!
//! Some image builders end a layer's tar without the padding of its last entry and
//! without the two zero blocks that mark the end of an archive — `umoci insert` 0.4.7
//! writes such layers, and their digests and diff_ids are computed over exactly those
//! bytes. Go's `archive/tar` (docker, containerd, umoci) reads them as complete; GNU tar
//! and the tar crate call them truncated. We accept them as Go does, and only them: the
//! padding of the current entry is supplied when, and only when, the stream ends exactly
//! where that entry's data ends. A stream that ends anywhere else — inside a header or
//! inside a file's data — still fails as truncated.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const BLOCK: u64 = 512;

/// Where the data of the entry being read ends, in bytes from the start of the stream.
/// The parsing loop sets it for each entry; [`TarEnd`] reads it at end of stream.
#[derive(Clone, Default)]
pub(crate) struct DataEnd(Arc<AtomicU64>);

impl DataEnd {
    pub(crate) fn set(&self, offset: u64) {
        self.0.store(offset, Ordering::Relaxed);
    }
}

/// A reader under the tar parser that supplies the missing padding of a final entry.
pub(crate) struct TarEnd<R> {
    inner: R,
    position: u64,
    data_end: DataEnd,
    padding: u64,
}

impl<R: Read> TarEnd<R> {
    pub(crate) fn new(inner: R, data_end: DataEnd) -> Self {
        TarEnd {
            inner,
            position: 0,
            data_end,
            padding: 0,
        }
    }

    pub(crate) fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for TarEnd<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.padding == 0 {
            let n = self.inner.read(buf)?;
            self.position += n as u64;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            let unaligned = self.position % BLOCK;
            if unaligned == 0 || self.position != self.data_end.0.load(Ordering::Relaxed) {
                return Ok(0);
            }
            self.padding = BLOCK - unaligned;
        }
        let n = buf.len().min(self.padding as usize);
        buf[..n].fill(0);
        self.padding -= n as u64;
        self.position += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One header block and one padded data block per file, then two zero blocks.
    fn archive(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    /// Reads every entry's name and content the way the pipeline does.
    fn read_all(bytes: &[u8]) -> io::Result<Vec<(String, Vec<u8>)>> {
        let data_end = DataEnd::default();
        let mut archive = tar::Archive::new(TarEnd::new(bytes, data_end.clone()));
        let mut out = Vec::new();
        for entry in archive.entries()? {
            let mut entry = entry?;
            data_end.set(entry.raw_file_position() + entry.header().entry_size()?);
            let name = entry.path()?.to_string_lossy().into_owned();
            let mut content = Vec::new();
            entry.read_to_end(&mut content)?;
            out.push((name, content));
        }
        Ok(out)
    }

    #[test]
    fn a_stream_ending_after_the_last_data_is_complete() {
        let full = archive(&[("a", b"first"), ("b", b"second file")]);
        // Cut right after the data of "b", as umoci 0.4.7's insert does.
        let cut = 1024 + 512 + "second file".len();
        let entries = read_all(&full[..cut]).unwrap();
        assert_eq!(
            entries,
            vec![
                ("a".to_string(), b"first".to_vec()),
                ("b".to_string(), b"second file".to_vec())
            ]
        );
    }

    #[test]
    fn a_stream_ending_inside_data_or_a_header_is_truncated() {
        let full = archive(&[("a", b"some content")]);
        for cut in [512 + 4, 100] {
            assert!(read_all(&full[..cut]).is_err(), "cut at {cut}");
        }
    }
}

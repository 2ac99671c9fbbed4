//! The layer byte stream: compressed bytes → decoder → counting, limit-checking reader
//! → tar parser, with the hashing of the uncompressed bytes beside it on its own thread.
//!
//! Compressed input is counted at the point where the decoder *consumes* it (a `BufRead`
//! wrapper counting `consume`), not where it is read ahead, so the ratio check is exact
//! enough to catch a deflate bomb whose ratio sits near deflate's ~1032:1 ceiling.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use bytes::{Buf, Bytes};

use skiff_oci::media_type::Compression;
use skiff_oci::{Algorithm, Digest, DigestHasher};

use crate::Limits;

/// Counts bytes consumed by the decoder.
struct CountingBufRead<R> {
    inner: BufReader<R>,
    consumed: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingBufRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl<R: Read> BufRead for CountingBufRead<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.consumed.fetch_add(amt as u64, Ordering::Relaxed);
        self.inner.consume(amt)
    }
}

/// Why the stream stopped early on a limit (carried through `io::Error` so the tar parser
/// can propagate it, then recovered by the caller to build a precise `UnpackError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitHit {
    Ratio { decompressed: u64 },
    Size,
}

impl std::fmt::Display for LimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "layer limit hit: {self:?}")
    }
}
impl std::error::Error for LimitHit {}

/// Uncompressed bytes are produced in chunks of this size, shared with the hashing thread.
const CHUNK_BYTES: usize = 128 << 10;
/// Chunks queued for the hashing thread.
const HASH_QUEUE: usize = 4;

/// The uncompressed layer stream: enforces limits, and hashes everything it yields on a
/// thread of its own — sha256 was a fifth of the decompression thread's time, and that
/// thread is the critical path of a large layer (a gzip stream inflates on one core).
/// The decoder writes into reusable chunks that the reader and the hasher share, so
/// nothing is copied for the hasher.
pub(crate) struct LayerStream {
    decoder: Box<dyn Read + Send>,
    compressed: Arc<AtomicU64>,
    hashing: Option<(SyncSender<Bytes>, JoinHandle<DigestHasher>)>,
    chunks: Arc<ChunkPool>,
    /// What the current chunk has left to read.
    current: Bytes,
    bytes: u64,
    check_ratio: bool,
    limits: Limits,
}

impl LayerStream {
    pub(crate) fn new(
        reader: Box<dyn Read + Send>,
        compression: Compression,
        algorithm: Algorithm,
        limits: &Limits,
    ) -> io::Result<Self> {
        let compressed = Arc::new(AtomicU64::new(0));
        let counting = CountingBufRead {
            inner: BufReader::with_capacity(64 << 10, reader),
            consumed: compressed.clone(),
        };
        let (decoder, check_ratio): (Box<dyn Read + Send>, bool) = match compression {
            Compression::None => (Box::new(counting), false),
            Compression::Gzip => (
                Box::new(flate2::bufread::MultiGzDecoder::new(counting)),
                true,
            ),
            Compression::Zstd => (
                Box::new(zstd::stream::read::Decoder::with_buffer(counting)?),
                true,
            ),
        };
        let (tx, rx) = sync_channel::<Bytes>(HASH_QUEUE);
        let hasher = std::thread::Builder::new()
            .name("skiff-hash".into())
            .spawn(move || {
                let mut hasher = DigestHasher::new(algorithm);
                for chunk in rx {
                    hasher.update(&chunk);
                }
                hasher
            })?;
        Ok(LayerStream {
            decoder,
            compressed,
            hashing: Some((tx, hasher)),
            chunks: Arc::default(),
            current: Bytes::new(),
            bytes: 0,
            check_ratio: check_ratio && limits.max_ratio > 0,
            limits: limits.clone(),
        })
    }

    /// Reads to the end (tar padding after the end-of-archive marker is part of the
    /// diff_id) and returns the digest and uncompressed size.
    pub(crate) fn finish(mut self) -> io::Result<(Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        let (tx, hasher) = self.hashing.take().expect("finish is called once");
        drop(tx);
        let hasher = hasher
            .join()
            .map_err(|_| io::Error::other("the hashing thread panicked"))?;
        Ok((hasher.finish(), self.bytes))
    }

    /// Decodes the next chunk (as full as the decoder will fill it before it runs dry)
    /// and queues it for hashing; an empty chunk at the end of the stream.
    fn refill(&mut self) -> io::Result<()> {
        let mut buf = self.chunks.take();
        let mut filled = 0;
        while filled < buf.len() / 2 {
            match self.decoder.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.bytes += filled as u64;
        if self.bytes > self.limits.max_layer_bytes {
            return Err(io::Error::other(LimitHit::Size));
        }
        if self.check_ratio && self.bytes > self.limits.ratio_grace_bytes {
            let c = self.compressed.load(Ordering::Relaxed).max(1);
            if self.bytes / c > self.limits.max_ratio {
                return Err(io::Error::other(LimitHit::Ratio {
                    decompressed: self.bytes,
                }));
            }
        }
        self.current = Bytes::from_owner(Chunk {
            buf,
            filled,
            pool: self.chunks.clone(),
        });
        if filled > 0 {
            let (tx, _) = self.hashing.as_ref().expect("not finished");
            tx.send(self.current.clone())
                .map_err(|_| io::Error::other("the hashing thread stopped"))?;
        }
        Ok(())
    }
}

impl Read for LayerStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.current.is_empty() {
            self.refill()?;
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

/// Decoded-chunk buffers not in use. They keep their length (initialised memory), so a
/// reused one need not be zeroed again.
#[derive(Default)]
struct ChunkPool(Mutex<Vec<Vec<u8>>>);

impl ChunkPool {
    fn take(&self) -> Vec<u8> {
        let free = self.0.lock().unwrap_or_else(PoisonError::into_inner).pop();
        free.unwrap_or_else(|| vec![0; CHUNK_BYTES])
    }
}

/// A decoded chunk: `buf[..filled]`, back to the pool when the reader and the hasher
/// are both done with it.
struct Chunk {
    buf: Vec<u8>,
    filled: usize,
    pool: Arc<ChunkPool>,
}

impl AsRef<[u8]> for Chunk {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.filled]
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        let mut pool = self.pool.0.lock().unwrap_or_else(PoisonError::into_inner);
        pool.push(buf);
    }
}

/// Recovers a limit hit from an I/O error raised by [`LayerStream`].
pub(crate) fn limit_hit(e: &io::Error) -> Option<LimitHit> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|e| e as _);
    while let Some(err) = cur {
        if let Some(h) = err.downcast_ref::<LimitHit>() {
            return Some(*h);
        }
        if let Some(io) = err.downcast_ref::<io::Error>() {
            if let Some(inner) = io.get_ref() {
                cur = Some(inner as _);
                continue;
            }
        }
        cur = err.source();
    }
    None
}

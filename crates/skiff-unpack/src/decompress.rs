//! The layer byte stream: compressed bytes → decoder → hashing, counting, limit-checking
//! reader → tar parser.
//!
//! Compressed input is counted at the point where the decoder *consumes* it (a `BufRead`
//! wrapper counting `consume`), not where it is read ahead, so the ratio check is exact
//! enough to catch a deflate bomb whose ratio sits near deflate's ~1032:1 ceiling.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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

/// The uncompressed layer stream: hashes everything it yields and enforces limits.
pub(crate) struct LayerStream {
    decoder: Box<dyn Read + Send>,
    compressed: Arc<AtomicU64>,
    hasher: DigestHasher,
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
        Ok(LayerStream {
            decoder,
            compressed,
            hasher: DigestHasher::new(algorithm),
            bytes: 0,
            check_ratio: check_ratio && limits.max_ratio > 0,
            limits: limits.clone(),
        })
    }

    /// Reads to the end (tar padding after the end-of-archive marker is part of the
    /// diff_id) and returns the digest and uncompressed size.
    pub(crate) fn finish(mut self) -> io::Result<(Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((self.hasher.finish(), self.bytes))
    }
}

impl Read for LayerStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.decoder.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
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
        Ok(n)
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

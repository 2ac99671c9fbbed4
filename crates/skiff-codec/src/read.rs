//! Decoding by pulling: a `Read` of decompressed bytes over a `BufRead` of compressed
//! ones.

use std::io::{self, BufRead, Read};

use skiff_oci::media_type::Compression;

use crate::archive::ArchiveCompression;
use crate::limits::Limits;

/// Counts the compressed bytes the decoder consumes (not those it reads ahead).
struct Consumed<R> {
    inner: R,
    count: u64,
}

impl<R: BufRead> Read for Consumed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Consumed<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.count += amt as u64;
        self.inner.consume(amt)
    }
}

/// The decoders, named rather than boxed: the counter of the input stays reachable.
// One per blob, never moved on a hot path: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
enum Inner<R: BufRead> {
    Plain(Consumed<R>),
    Gzip(flate2::bufread::MultiGzDecoder<Consumed<R>>),
    Zstd(zstd::stream::read::Decoder<'static, Consumed<R>>),
    Xz(liblzma::bufread::XzDecoder<Consumed<R>>),
    Bzip2(bzip2::bufread::MultiBzDecoder<Consumed<R>>),
}

/// Decompressed bytes of a blob, read from its compressed bytes; every read is checked
/// against the [`Limits`] and fails with a [`crate::LimitExceeded`] inside the
/// `io::Error` once one is exceeded. Concatenated gzip members are all decoded (as
/// `gunzip` and containers/image do).
pub struct Decoder<R: BufRead> {
    inner: Inner<R>,
    decompressed: u64,
    limits: Limits,
    compressed_input: bool,
}

impl<R: BufRead> Decoder<R> {
    /// Decodes `input`, compressed as `compression` says. The caller chooses the
    /// buffering of `input` (its `BufReader` capacity is the decoder's read size).
    pub fn new(input: R, compression: Compression, limits: &Limits) -> io::Result<Self> {
        let kind = match compression {
            Compression::None => ArchiveCompression::None,
            layer => ArchiveCompression::Layer(layer),
        };
        Self::for_archive(input, kind, limits)
    }

    /// Decodes a whole archive file, compressed as [`crate::detect_archive`] found:
    /// besides the layer compressions, xz and bzip2 (concatenated streams included, as
    /// `xz -d` and `bunzip2` read them).
    pub fn for_archive(input: R, kind: ArchiveCompression, limits: &Limits) -> io::Result<Self> {
        let input = Consumed {
            inner: input,
            count: 0,
        };
        let inner = match kind {
            ArchiveCompression::None | ArchiveCompression::Layer(Compression::None) => {
                Inner::Plain(input)
            }
            ArchiveCompression::Layer(Compression::Gzip) => {
                Inner::Gzip(flate2::bufread::MultiGzDecoder::new(input))
            }
            ArchiveCompression::Layer(Compression::Zstd) => {
                Inner::Zstd(zstd::stream::read::Decoder::with_buffer(input)?)
            }
            ArchiveCompression::Xz => {
                Inner::Xz(liblzma::bufread::XzDecoder::new_multi_decoder(input))
            }
            ArchiveCompression::Bzip2 => Inner::Bzip2(bzip2::bufread::MultiBzDecoder::new(input)),
        };
        Ok(Decoder {
            inner,
            decompressed: 0,
            limits: *limits,
            compressed_input: !matches!(
                kind,
                ArchiveCompression::None | ArchiveCompression::Layer(Compression::None)
            ),
        })
    }

    /// Compressed bytes consumed so far.
    pub fn compressed(&self) -> u64 {
        match &self.inner {
            Inner::Plain(c) => c.count,
            Inner::Gzip(d) => d.get_ref().count,
            Inner::Zstd(d) => d.get_ref().count,
            Inner::Xz(d) => d.get_ref().count,
            Inner::Bzip2(d) => d.get_ref().count,
        }
    }

    /// Decompressed bytes produced so far.
    pub fn decompressed(&self) -> u64 {
        self.decompressed
    }
}

impl<R: BufRead> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match &mut self.inner {
            Inner::Plain(r) => r.read(buf)?,
            Inner::Gzip(d) => d.read(buf)?,
            Inner::Zstd(d) => d.read(buf)?,
            Inner::Xz(d) => d.read(buf)?,
            Inner::Bzip2(d) => d.read(buf)?,
        };
        self.decompressed += n as u64;
        self.limits
            .check(self.compressed(), self.decompressed, self.compressed_input)?;
        Ok(n)
    }
}

//! Decoding by pushing: a `Write` of compressed bytes that writes the decompressed ones
//! on, for destinations that receive a blob chunk by chunk.

use std::io::{self, Write};

use skiff_oci::media_type::Compression;

use crate::limits::Limits;

/// Counts the decompressed bytes the decoder writes out.
struct Produced<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Produced<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The decoders, named rather than boxed: the counter of the output stays reachable.
// One per blob, never moved on a hot path: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
enum Inner<W: Write> {
    Plain(Produced<W>),
    Gzip(flate2::write::MultiGzDecoder<Produced<W>>),
    Zstd(zstd::stream::write::Decoder<'static, Produced<W>>),
}

/// Writes the decompressed form of what is written to it into `W`, checked against the
/// [`Limits`] after every write. Each write into a decoder produces at most one internal
/// buffer (tens of KiB) of output, so a bomb is stopped within that much of the limit.
pub struct DecodingWriter<W: Write> {
    inner: Inner<W>,
    compressed: u64,
    limits: Limits,
    compressed_input: bool,
}

impl<W: Write> DecodingWriter<W> {
    /// Decodes what is written, compressed as `compression` says, into `output`.
    pub fn new(output: W, compression: Compression, limits: &Limits) -> io::Result<Self> {
        let output = Produced {
            inner: output,
            count: 0,
        };
        let inner = match compression {
            Compression::None => Inner::Plain(output),
            Compression::Gzip => Inner::Gzip(flate2::write::MultiGzDecoder::new(output)),
            Compression::Zstd => Inner::Zstd(zstd::stream::write::Decoder::new(output)?),
        };
        Ok(DecodingWriter {
            inner,
            compressed: 0,
            limits: *limits,
            compressed_input: compression != Compression::None,
        })
    }

    fn check(&self) -> io::Result<()> {
        let produced = match &self.inner {
            Inner::Plain(w) => w.count,
            Inner::Gzip(d) => d.get_ref().count,
            Inner::Zstd(d) => d.get_ref().count,
        };
        self.limits
            .check(self.compressed, produced, self.compressed_input)
    }
}

impl<W: Write> Write for DecodingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match &mut self.inner {
            Inner::Plain(w) => w.write(buf)?,
            Inner::Gzip(d) => d.write(buf)?,
            Inner::Zstd(d) => d.write(buf)?,
        };
        self.compressed += n as u64;
        self.check()?;
        Ok(n)
    }

    /// Decodes and writes out everything buffered (the end of the blob, when it is
    /// complete), then checks the limits once more.
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Inner::Plain(w) => w.flush()?,
            Inner::Gzip(d) => d.flush()?,
            Inner::Zstd(d) => d.flush()?,
        }
        self.check()
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{limit_exceeded, LimitExceeded};

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn decode(input: &[u8], c: Compression, limits: &Limits) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut w = DecodingWriter::new(&mut out, c, limits)?;
        for chunk in input.chunks(4096) {
            w.write_all(chunk)?;
        }
        w.flush()?;
        drop(w);
        Ok(out)
    }

    #[test]
    fn round_trips_each_format() {
        let data = b"hello layer".repeat(1000);
        let limits = Limits::default();
        assert_eq!(decode(&data, Compression::None, &limits).unwrap(), data);
        assert_eq!(
            decode(&gzip(&data), Compression::Gzip, &limits).unwrap(),
            data
        );
        let z = zstd::encode_all(&data[..], 3).unwrap();
        assert_eq!(decode(&z, Compression::Zstd, &limits).unwrap(), data);
        let mut two = gzip(b"ab");
        two.extend(gzip(b"cd"));
        assert_eq!(decode(&two, Compression::Gzip, &limits).unwrap(), b"abcd");
    }

    #[test]
    fn stops_a_bomb_near_the_limit() {
        let zeros = vec![0u8; 64 << 20];
        let limits = Limits {
            max_ratio: 100,
            ratio_grace_bytes: 1 << 20,
            max_bytes: u64::MAX,
        };
        let mut sink = Produced {
            inner: io::sink(),
            count: 0,
        };
        let mut w = DecodingWriter::new(&mut sink, Compression::Gzip, &limits).unwrap();
        let e = w.write_all(&gzip(&zeros)).unwrap_err();
        assert!(matches!(
            limit_exceeded(&e),
            Some(LimitExceeded::Ratio { limit: 100, .. })
        ));
        drop(w);
        assert!(sink.count < 2 << 20, "wrote {} bytes", sink.count);
        let z = zstd::encode_all(&zeros[..], 3).unwrap();
        let e = decode(
            &z,
            Compression::Zstd,
            &Limits {
                max_bytes: 4 << 20,
                ..Limits::unlimited()
            },
        )
        .unwrap_err();
        assert_eq!(
            limit_exceeded(&e),
            Some(LimitExceeded::Size { limit: 4 << 20 })
        );
    }
}

//! The encoders a re-encoded layer is written with, and the levels each accepts.

use std::io::{self, Write};
use std::ops::RangeInclusive;

use skiff_oci::media_type::Compression;

/// A `Write` that must be told where the stream ends (gzip trailer, zstd epilogue).
pub trait Encoder: Write {
    /// Writes the end of the stream and flushes.
    fn finish(self: Box<Self>) -> io::Result<()>;
}

/// Plain output: nothing to end.
struct Plain<W>(W);

impl<W: Write> Write for Plain<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<W: Write> Encoder for Plain<W> {
    fn finish(mut self: Box<Self>) -> io::Result<()> {
        self.0.flush()
    }
}

impl<W: Write> Encoder for flate2::write::GzEncoder<W> {
    fn finish(self: Box<Self>) -> io::Result<()> {
        flate2::write::GzEncoder::finish(*self)?.flush()
    }
}

impl<W: Write> Encoder for zstd::stream::write::Encoder<'_, W> {
    fn finish(self: Box<Self>) -> io::Result<()> {
        zstd::stream::write::Encoder::finish(*self)?.flush()
    }
}

/// The levels `compression` accepts (gzip 0–9, zstd 1–22); `None` for plain output.
pub fn level_range(compression: Compression) -> Option<RangeInclusive<i32>> {
    match compression {
        Compression::Gzip => Some(0..=9),
        Compression::Zstd => Some(1..=22),
        Compression::None => None,
    }
}

/// An encoder writing `compression` at `level` (the algorithm's default when absent:
/// gzip 6, zstd 3) into `output`. Levels are expected to lie in [`level_range`].
pub fn encoder<'a, W: Write + 'a>(
    output: W,
    compression: Compression,
    level: Option<i32>,
) -> io::Result<Box<dyn Encoder + 'a>> {
    Ok(match compression {
        Compression::None => Box::new(Plain(output)),
        Compression::Gzip => {
            let level = u32::try_from(level.unwrap_or(6))
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "negative gzip level"))?;
            Box::new(flate2::write::GzEncoder::new(
                output,
                flate2::Compression::new(level),
            ))
        }
        Compression::Zstd => Box::new(zstd::stream::write::Encoder::new(
            output,
            level.unwrap_or(3),
        )?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Decoder, Limits};
    use std::io::Read;

    #[test]
    fn encoded_streams_decode_again() {
        let data = b"layer bytes ".repeat(500);
        for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let mut out = Vec::new();
            let mut e = encoder(&mut out, c, None).unwrap();
            e.write_all(&data).unwrap();
            e.finish().unwrap();
            let mut back = Vec::new();
            Decoder::new(&out[..], c, &Limits::default())
                .unwrap()
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data, "{c:?}");
        }
    }
}

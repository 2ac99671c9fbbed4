//! The decoders, pulled and pushed: both decode every format and stop at both limits.

use std::io::{self, Read, Write};

use crate::{limit_exceeded, Compression, Decoder, DecodingWriter, LimitExceeded, Limits};

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn pull(input: &[u8], c: Compression, limits: &Limits) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    Decoder::new(input, c, limits)?.read_to_end(&mut out)?;
    Ok(out)
}

fn push(input: &[u8], c: Compression, limits: &Limits) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut w = DecodingWriter::new(&mut out, c, limits)?;
    for chunk in input.chunks(4096) {
        w.write_all(chunk)?;
    }
    w.flush()?;
    drop(w);
    Ok(out)
}

type Decode = fn(&[u8], Compression, &Limits) -> io::Result<Vec<u8>>;
const BOTH: [(&str, Decode); 2] = [("pull", pull), ("push", push)];

#[test]
fn both_decode_every_format() {
    let data = b"hello layer".repeat(1000);
    let z = zstd::encode_all(&data[..], 3).unwrap();
    let mut two = gzip(b"ab");
    two.extend(gzip(b"cd"));
    let limits = Limits::default();
    for (how, decode) in BOTH {
        assert_eq!(
            decode(&data, Compression::None, &limits).unwrap(),
            data,
            "{how}"
        );
        assert_eq!(
            decode(&gzip(&data), Compression::Gzip, &limits).unwrap(),
            data,
            "{how}"
        );
        assert_eq!(
            decode(&z, Compression::Zstd, &limits).unwrap(),
            data,
            "{how}"
        );
        // Concatenated gzip members are one blob.
        assert_eq!(
            decode(&two, Compression::Gzip, &limits).unwrap(),
            b"abcd",
            "{how}"
        );
    }
}

#[test]
fn both_stop_a_bomb_and_an_oversized_blob() {
    let zeros = vec![0u8; 16 << 20];
    let gz = gzip(&zeros);
    let z = zstd::encode_all(&zeros[..], 3).unwrap();
    let ratio = Limits {
        max_ratio: 100,
        ratio_grace_bytes: 1 << 20,
        max_bytes: u64::MAX,
    };
    let size = Limits {
        max_bytes: 4 << 20,
        ..Limits::unlimited()
    };
    for (how, decode) in BOTH {
        for (input, c) in [(&gz, Compression::Gzip), (&z, Compression::Zstd)] {
            let e = decode(input, c, &ratio).unwrap_err();
            assert!(
                matches!(
                    limit_exceeded(&e),
                    Some(LimitExceeded::Ratio { limit: 100, .. })
                ),
                "{how} {c:?}: {e}"
            );
            let e = decode(input, c, &size).unwrap_err();
            assert_eq!(
                limit_exceeded(&e),
                Some(LimitExceeded::Size { limit: 4 << 20 }),
                "{how} {c:?}"
            );
        }
        // Plain input is never a bomb, but it may be too large.
        let one = Limits {
            max_ratio: 1,
            ratio_grace_bytes: 0,
            max_bytes: u64::MAX,
        };
        decode(&zeros, Compression::None, &one).unwrap();
        let e = decode(&zeros, Compression::None, &size).unwrap_err();
        assert_eq!(
            limit_exceeded(&e),
            Some(LimitExceeded::Size { limit: 4 << 20 }),
            "{how}"
        );
    }
}

#[test]
fn a_pushed_bomb_is_stopped_near_the_limit() {
    /// Counts what reaches the file.
    struct Count(u64);
    impl Write for Count {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let limits = Limits {
        max_ratio: 100,
        ratio_grace_bytes: 1 << 20,
        max_bytes: u64::MAX,
    };
    let mut written = Count(0);
    let mut w = DecodingWriter::new(&mut written, Compression::Gzip, &limits).unwrap();
    w.write_all(&gzip(&vec![0u8; 64 << 20])).unwrap_err();
    drop(w);
    assert!(written.0 < 2 << 20, "wrote {} bytes", written.0);
}

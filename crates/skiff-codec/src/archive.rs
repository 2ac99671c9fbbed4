//! Whole archives compressed as files: `docker save | gzip` (or xz, zstd, bzip2) and a
//! gzip-compressed `oci-archive`, which skopeo reads as they are. Unlike layers, nothing
//! names their compression, so it is told by magic bytes; the decoders are the same
//! bounded [`crate::Decoder`] as for layers, so the bomb limits hold here too.

use skiff_oci::media_type::Compression;

/// How many leading bytes [`detect_archive`] needs to be sure.
pub const ARCHIVE_MAGIC_LEN: usize = 10;

const XZ_MAGIC: [u8; 6] = [0xfd, b'7', b'z', b'X', b'Z', 0x00];
/// bzip2: `BZh`, the block size digit, then the magic of the first block (or of the end
/// of an empty stream) — ten bytes, so that a tar whose first file is named `BZh…` is not
/// taken for one.
const BZIP2_BLOCK: [u8; 6] = [0x31, 0x41, 0x59, 0x26, 0x53, 0x59];
const BZIP2_END: [u8; 6] = [0x17, 0x72, 0x45, 0x38, 0x50, 0x90];

/// The compression of a whole archive file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveCompression {
    /// A plain tar.
    None,
    /// A compression layers use too (gzip, zstd).
    Layer(Compression),
    /// xz (LZMA2).
    Xz,
    /// bzip2.
    Bzip2,
}

/// The compression `head` (the first [`ARCHIVE_MAGIC_LEN`] bytes of a file, or all of a
/// shorter one) starts with.
pub fn detect_archive(head: &[u8]) -> ArchiveCompression {
    match crate::detect(head) {
        Compression::None => {}
        layer => return ArchiveCompression::Layer(layer),
    }
    if head.starts_with(&XZ_MAGIC) {
        return ArchiveCompression::Xz;
    }
    let bzip2 = head.len() >= ARCHIVE_MAGIC_LEN
        && head.starts_with(b"BZh")
        && (b'1'..=b'9').contains(&head[3])
        && (head[4..10] == BZIP2_BLOCK || head[4..10] == BZIP2_END);
    if bzip2 {
        ArchiveCompression::Bzip2
    } else {
        ArchiveCompression::None
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;
    use crate::{Decoder, Limits};

    fn roundtrip(kind: ArchiveCompression, compressed: Vec<u8>, plain: &[u8]) {
        assert_eq!(detect_archive(&compressed[..ARCHIVE_MAGIC_LEN]), kind);
        let mut out = Vec::new();
        Decoder::for_archive(&compressed[..], kind, &Limits::default())
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, plain);
    }

    #[test]
    fn xz_and_bzip2_archives_are_recognised_and_decoded() {
        let plain: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
        xz.write_all(&plain).unwrap();
        roundtrip(ArchiveCompression::Xz, xz.finish().unwrap(), &plain);
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(&plain).unwrap();
        roundtrip(ArchiveCompression::Bzip2, bz.finish().unwrap(), &plain);
    }

    #[test]
    fn a_tar_named_like_a_magic_number_is_plain() {
        let mut head = *b"BZh1-a-file-name";
        assert_eq!(detect_archive(&head), ArchiveCompression::None);
        head[..6].copy_from_slice(b"usta\0\0");
        assert_eq!(detect_archive(&head), ArchiveCompression::None);
        assert_eq!(
            detect_archive(&[0x1f, 0x8b, 8, 0]),
            ArchiveCompression::Layer(Compression::Gzip)
        );
    }

    #[test]
    fn an_xz_bomb_is_refused() {
        let zeros = vec![0u8; 64 << 20];
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
        xz.write_all(&zeros).unwrap();
        let bomb = xz.finish().unwrap();
        let mut out = Vec::new();
        let err = Decoder::for_archive(&bomb[..], ArchiveCompression::Xz, &Limits::default())
            .unwrap()
            .read_to_end(&mut out)
            .unwrap_err();
        assert!(crate::limit_exceeded(&err).is_some(), "{err}");
    }
}

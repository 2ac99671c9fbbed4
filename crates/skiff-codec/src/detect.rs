//! Compression by magic bytes, for blobs no media type describes (the layer files of a
//! `docker save` archive).

use skiff_oci::media_type::Compression;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The compression `head` (the first bytes of a blob; four are enough) starts with.
pub fn detect(head: &[u8]) -> Compression {
    if head.starts_with(&GZIP_MAGIC) {
        Compression::Gzip
    } else if head.starts_with(&ZSTD_MAGIC) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_the_magic_numbers() {
        assert_eq!(detect(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
        assert_eq!(detect(&ZSTD_MAGIC), Compression::Zstd);
        assert_eq!(detect(b"usta"), Compression::None);
        assert_eq!(detect(&[0x1f]), Compression::None);
        assert_eq!(detect(&[]), Compression::None);
    }
}

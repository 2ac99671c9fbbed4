//! Bounds on what a layer may cost, so that a hostile layer is refused instead of filling
//! the disk or the inode table. The decompression bounds and their defaults are
//! `skiff-codec`'s (every decoder of skiff shares them); the tar bounds are unpack's own.

/// Limits applied to every layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Maximum decompressed/compressed ratio, checked once `ratio_grace_bytes` have been
    /// decompressed (see [`skiff_codec::Limits::max_ratio`]). 0 disables the check.
    pub max_ratio: u64,
    /// Decompressed bytes before the ratio is checked.
    pub ratio_grace_bytes: u64,
    /// Maximum uncompressed size of one layer.
    pub max_layer_bytes: u64,
    /// Maximum number of tar entries in one layer.
    pub max_entries: u64,
    /// Maximum length in bytes of an entry path or link target (Linux PATH_MAX).
    pub max_path_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        let decode = skiff_codec::Limits::default();
        Limits {
            max_ratio: decode.max_ratio,
            ratio_grace_bytes: decode.ratio_grace_bytes,
            max_layer_bytes: decode.max_bytes,
            max_entries: 10_000_000,
            max_path_len: 4096,
        }
    }
}

impl Limits {
    /// No limits at all (for trusted input and tests).
    pub fn unlimited() -> Self {
        Limits {
            max_ratio: 0,
            ratio_grace_bytes: 0,
            max_layer_bytes: u64::MAX,
            max_entries: u64::MAX,
            max_path_len: usize::MAX,
        }
    }

    /// The bounds the layer's decoder enforces.
    pub(crate) fn decode(&self) -> skiff_codec::Limits {
        skiff_codec::Limits {
            max_ratio: self.max_ratio,
            ratio_grace_bytes: self.ratio_grace_bytes,
            max_bytes: self.max_layer_bytes,
        }
    }
}

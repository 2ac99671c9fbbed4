//! Bounds on what a layer may cost, so that a hostile layer is refused instead of filling
//! the disk or the inode table.

/// Limits applied to every layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Maximum decompressed/compressed ratio, checked once `ratio_grace_bytes` have been
    /// decompressed (small, very regular layers legitimately compress very well). Deflate
    /// cannot exceed ~1032:1, so a gzip bomb of zeros sits right at the default; zstd
    /// bombs are far above it. 0 disables the check.
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
        Limits {
            max_ratio: 1000,
            ratio_grace_bytes: 16 << 20,
            max_layer_bytes: 64 << 30,
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
}

//! Bounds on what decoding one blob may produce, so that a hostile layer is refused
//! instead of filling the disk.

use std::io;

/// Limits applied while decoding one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum decompressed/compressed ratio, checked once `ratio_grace_bytes` have been
    /// decompressed (small, very regular layers legitimately compress very well). Deflate
    /// cannot exceed ~1032:1, so a gzip bomb of zeros sits right at the default; zstd
    /// bombs are far above it. 0 disables the check. Plain (uncompressed) input is never
    /// checked: its ratio is 1.
    pub max_ratio: u64,
    /// Decompressed bytes before the ratio is checked.
    pub ratio_grace_bytes: u64,
    /// Maximum decompressed size of one blob.
    pub max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_ratio: 1000,
            ratio_grace_bytes: 16 << 20,
            max_bytes: 64 << 30,
        }
    }
}

impl Limits {
    /// No limits at all (for trusted input and tests).
    pub fn unlimited() -> Self {
        Limits {
            max_ratio: 0,
            ratio_grace_bytes: 0,
            max_bytes: u64::MAX,
        }
    }

    /// Checks the totals so far; `ratio` says whether the input is compressed at all.
    pub(crate) fn check(&self, compressed: u64, decompressed: u64, ratio: bool) -> io::Result<()> {
        if decompressed > self.max_bytes {
            return Err(io::Error::other(LimitExceeded::Size {
                limit: self.max_bytes,
            }));
        }
        if ratio
            && self.max_ratio > 0
            && decompressed > self.ratio_grace_bytes
            && decompressed / compressed.max(1) > self.max_ratio
        {
            return Err(io::Error::other(LimitExceeded::Ratio {
                limit: self.max_ratio,
                decompressed,
            }));
        }
        Ok(())
    }
}

/// Which limit stopped decoding. It travels inside an `io::Error` (so that readers in
/// between, such as a tar parser, pass it on) and is recovered by [`limit_exceeded`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    /// The blob decompresses to far more than it weighs: a decompression bomb.
    #[error("decompressed/compressed ratio exceeded the limit of {limit} after {decompressed} bytes (a decompression bomb?)")]
    Ratio {
        /// The limit ([`Limits::max_ratio`]).
        limit: u64,
        /// Bytes decompressed when it was exceeded.
        decompressed: u64,
    },
    /// The blob decompresses to more than [`Limits::max_bytes`].
    #[error("uncompressed size exceeds the limit of {limit} bytes")]
    Size {
        /// The limit.
        limit: u64,
    },
}

/// Finds the [`LimitExceeded`] an I/O error carries, however deeply wrapped.
pub fn limit_exceeded(e: &io::Error) -> Option<LimitExceeded> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|e| e as _);
    while let Some(err) = cur {
        if let Some(hit) = err.downcast_ref::<LimitExceeded>() {
            return Some(*hit);
        }
        cur = match err.downcast_ref::<io::Error>() {
            Some(io) => io.get_ref().map(|e| e as _),
            None => err.source(),
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_waits_for_the_grace_bytes() {
        let l = Limits {
            max_ratio: 10,
            ratio_grace_bytes: 100,
            max_bytes: 1000,
        };
        l.check(1, 100, true).unwrap();
        let e = l.check(1, 101, true).unwrap_err();
        assert_eq!(
            limit_exceeded(&e),
            Some(LimitExceeded::Ratio {
                limit: 10,
                decompressed: 101
            })
        );
        l.check(1, 101, false).unwrap();
        let e = l.check(1000, 1001, false).unwrap_err();
        assert_eq!(
            limit_exceeded(&e),
            Some(LimitExceeded::Size { limit: 1000 })
        );
    }

    #[test]
    fn found_through_wrapping_errors() {
        let inner = io::Error::other(LimitExceeded::Size { limit: 1 });
        let outer = io::Error::new(io::ErrorKind::InvalidData, inner);
        assert_eq!(
            limit_exceeded(&outer),
            Some(LimitExceeded::Size { limit: 1 })
        );
        assert_eq!(limit_exceeded(&io::Error::other("other")), None);
    }
}

//! Where the cache lives and how large it may grow, from the environment.

use std::path::PathBuf;

use crate::error::CacheError;

/// The size limit when none is set: room for a few dozen typical images.
pub const DEFAULT_MAX_SIZE: u64 = 10 << 30;

/// The cache's directory and size limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// The cache's root directory.
    pub dir: PathBuf,
    /// Bytes the cache may hold before the least recently used entries are removed.
    pub max_size: u64,
}

impl CacheConfig {
    /// The configuration the environment gives: `SKIFF_CACHE_DIR`, else `/var/cache/skiff`
    /// for root (the system's cache, shared by every root process such as Proxmox's pull),
    /// else `$XDG_CACHE_HOME/skiff`, else `$HOME/.cache/skiff`; `SKIFF_CACHE_MAX_SIZE`,
    /// else [`DEFAULT_MAX_SIZE`].
    pub fn from_env() -> Result<CacheConfig, CacheError> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let dir = if let Some(d) = var("SKIFF_CACHE_DIR") {
            PathBuf::from(d)
        } else if rustix::process::geteuid().is_root() {
            PathBuf::from("/var/cache/skiff")
        } else if let Some(x) = var("XDG_CACHE_HOME") {
            PathBuf::from(x).join("skiff")
        } else if let Some(h) = var("HOME") {
            PathBuf::from(h).join(".cache").join("skiff")
        } else {
            return Err(CacheError::NoDirectory);
        };
        let max_size = match std::env::var("SKIFF_CACHE_MAX_SIZE") {
            Ok(v) if !v.is_empty() => parse_size(&v)?,
            _ => DEFAULT_MAX_SIZE,
        };
        Ok(CacheConfig { dir, max_size })
    }
}

/// Parses a size: bytes, or a number with a binary unit `K`, `M`, `G`, `T` (an optional
/// `B` or `iB` after it, any case): `10G`, `512MiB`, `1048576`.
pub fn parse_size(value: &str) -> Result<u64, CacheError> {
    let invalid = |reason| CacheError::InvalidSize {
        value: value.to_string(),
        reason,
    };
    let v = value.trim();
    let digits = v.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(invalid("it does not start with a number"));
    }
    let number: u64 = v[..digits]
        .parse()
        .map_err(|_| invalid("the number is too large"))?;
    let unit = v[digits..].trim().to_ascii_lowercase();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(&unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return Err(invalid("the unit is not one of K, M, G, T")),
    };
    number
        .checked_mul(1u64 << shift)
        .ok_or_else(|| invalid("the size is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576").unwrap(), 1 << 20);
        assert_eq!(parse_size("10G").unwrap(), 10 << 30);
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("2k").unwrap(), 2048);
        assert_eq!(parse_size(" 3 MB ").unwrap(), 3 << 20);
        assert_eq!(parse_size("0").unwrap(), 0);
        for bad in [
            "",
            "G",
            "-1",
            "1.5G",
            "10X",
            "99999999999T",
            "18446744073709551616",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }
}

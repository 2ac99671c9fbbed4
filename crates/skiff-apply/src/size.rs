//! Sizes as people write them in the file: a bare number in the key's unit (MiB for
//! memory and swap, GiB for disk, as Proxmox counts them) or a number with a unit
//! (`512M`, `2G`, `1.5G` is refused: sizes are whole units so that a plan shows exactly
//! what the backend will be told).

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

const KIB: u64 = 1024;

/// A size in MiB (memory, swap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Mib(pub u64);

/// A size in GiB (disk, quota).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Gib(pub u64);

/// Bytes of `text` (`512M`, `2G`, `2GiB`, `1T`, `100K`), or why not.
fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("bad size {text:?}: use a whole number with an optional unit K, M, G or T (e.g. 512M, 2G)"))?;
    let factor = match unit.trim().to_ascii_uppercase().as_str() {
        "K" | "KB" | "KIB" => KIB,
        "M" | "MB" | "MIB" => KIB * KIB,
        "G" | "GB" | "GIB" => KIB * KIB * KIB,
        "T" | "TB" | "TIB" => KIB * KIB * KIB * KIB,
        other => {
            return Err(format!(
                "bad size {text:?}: unknown unit {other:?} (use K, M, G or T)"
            ))
        }
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("bad size {text:?}: too large"))
}

/// `bytes` in whole units of `unit` bytes, or why not.
fn whole(text: &str, bytes: u64, unit: u64, name: &str) -> Result<u64, String> {
    if !bytes.is_multiple_of(unit) {
        return Err(format!("bad size {text:?}: not a whole number of {name}"));
    }
    Ok(bytes / unit)
}

/// Reads a number (in `unit`) or a string with a unit, so that a wrong value is an
/// error at its place in the file.
struct SizeVisitor {
    unit: u64,
    name: &'static str,
}

impl Visitor<'_> for SizeVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "a size: a number of {} or a string like \"512M\" or \"2G\"",
            self.name
        )
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom(format!("bad size {v}: must not be negative")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        parse_bytes(v)
            .and_then(|b| whole(v, b, self.unit, self.name))
            .map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Mib {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SizeVisitor {
            unit: KIB * KIB,
            name: "MiB",
        })
        .map(Mib)
    }
}

impl<'de> Deserialize<'de> for Gib {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SizeVisitor {
            unit: KIB * KIB * KIB,
            name: "GiB",
        })
        .map(Gib)
    }
}

impl fmt::Display for Mib {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}M", self.0)
    }
}

impl fmt::Display for Gib {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}G", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_units_and_numbers() {
        let m: Mib = serde_yaml::from_str("2G").unwrap();
        assert_eq!(m, Mib(2048));
        let m: Mib = serde_yaml::from_str("512").unwrap();
        assert_eq!(m, Mib(512));
        let g: Gib = serde_yaml::from_str("\"8G\"").unwrap();
        assert_eq!(g, Gib(8));
        assert!(serde_yaml::from_str::<Gib>("512M").is_err());
        assert!(serde_yaml::from_str::<Mib>("2X").is_err());
        assert!(serde_yaml::from_str::<Mib>("-1").is_err());
        assert!(serde_yaml::from_str::<Mib>("1.5G").is_err());
    }
}
